package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/netguard"
)

// mediaProblem turns a media failure into a problem whose detail names the
// class of failure in the client's terms, never the Go error chain: a DNS
// error carries the resolver's address, a dial error the IP and port
// dialed, a library error its internals. The classes, in order:
//
//	refused by the SSRF guard  → 400: is not allowed: … (with the setting)
//	could not resolve host X   → 502
//	connection refused         → 502
//	timed out                  → 502
//	the server answered status N → 502
//	too large (limit N bytes)  → 400
//	unreadable (not a readable PDF, image…) → 400
//	anything else remote: could not be fetched → 502
func mediaProblem(me *ai.MediaError) *Problem {
	err := me.Err
	var blocked *netguard.BlockedError
	var status *netguard.StatusError
	var dns *net.DNSError
	var large *netguard.TooLargeError
	upstream := func(what string) *Problem {
		return problem(http.StatusBadGateway, CodeUpstream, "could not fetch the media url (%s); the message was stored", what)
	}
	bad := func(what string) *Problem {
		return invalid(FieldError{me.Field, what + " (the message was stored)"})
	}
	switch {
	case errors.As(err, &blocked):
		return bad(blockedMessage(blocked))
	case errors.As(err, &dns):
		return upstream("could not resolve host " + dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return upstream("connection refused")
	case isTimeout(err):
		return upstream("timed out")
	case errors.As(err, &status):
		return upstream(fmt.Sprintf("the server answered status %d", status.StatusCode))
	case errors.As(err, &large):
		return bad(fmt.Sprintf("is too large (the limit is %d bytes)", large.Limit))
	case errors.Is(err, netguard.ErrTooLarge):
		return bad("is too large")
	case errors.Is(err, ai.ErrPDFTooLarge):
		return bad("is unreadable: the PDF's content is too large to read (over 32 MiB once decompressed)")
	case errors.Is(err, ai.ErrPDFTimeout):
		return bad("is unreadable: the PDF took too long to read")
	case errors.Is(err, ai.ErrBadPDF):
		return bad("is unreadable: not a readable PDF")
	case errors.Is(err, ai.ErrImageTooLarge):
		return bad("is unreadable: the image is larger than 50 megapixels")
	case errors.Is(err, ai.ErrUnsupportedMedia):
		return bad("is unreadable: not a readable image")
	case me.Upstream:
		return upstream("the media server could not be reached")
	}
	return bad("could not be read")
}

// blockedMessage is the guard's refusal with the setting that lifts it. The
// refused address is the client's own URL's (or what its host resolved
// to), which the client may know; the resolver's is never in it.
func blockedMessage(b *netguard.BlockedError) string {
	return "is not allowed: " + b.Error() + privateHint
}

// isTimeout reports a deadline: the fetch's or the provider's timeout, or
// a dial or read that timed out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}
