package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Defaults applied by [NewClient] to zero [Options] fields.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 5
)

// Options configures [NewClient].
type Options struct {
	// AllowPrivate turns the guard off: every destination is allowed. Only
	// for local integration tests (PARLEY_ALLOW_PRIVATE_NETWORKS=true).
	AllowPrivate bool
	// Timeout bounds a whole exchange, redirects and body included.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxRedirects is the number of redirects followed. Zero means
	// DefaultMaxRedirects; a negative value follows none.
	MaxRedirects int
	// MaxIdleConnsPerHost is how many idle connections to one host are kept
	// for reuse. Zero means 4. A client that sends N requests to one host at
	// once wants N: with fewer, every request beyond them dials anew.
	MaxIdleConnsPerHost int
}

// NewClient returns an HTTP client whose every connection goes through the
// guard: the transport's dialer refuses, in its Control hook, any address
// that is not public (see [IsPublicIP]), so DNS answers and every redirect
// hop are checked on the IP actually dialed. Redirects are also re-checked
// with [CheckURL] (scheme and literal addresses) before they are followed.
// The client never uses a proxy from the environment, since a proxy would
// dial on its behalf and bypass the check. Refusals surface as errors
// matching [ErrBlocked].
func NewClient(opts Options) *http.Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	maxRedirects := opts.MaxRedirects
	if maxRedirects == 0 {
		maxRedirects = DefaultMaxRedirects
	}
	idlePerHost := opts.MaxIdleConnsPerHost
	if idlePerHost <= 0 {
		idlePerHost = 4
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			return checkDialAddr(address)
		}
	}
	base := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(100, idlePerHost),
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: &guardedTransport{allowPrivate: opts.AllowPrivate, base: base},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects || maxRedirects < 0 {
				return fmt.Errorf("%w: stopped after %d redirects", ErrUpstream, len(via))
			}
			return checkParsedURL(req.URL, opts.AllowPrivate)
		},
	}
}

// CheckURL is the intake check matching these options: [CheckURL] when the
// guard is on; with AllowPrivate, only the URL's shape (http or https, a
// host, a valid port). Use it to validate postback and webhook URLs at
// intake with the server's PARLEY_ALLOW_PRIVATE_NETWORKS setting.
func (o Options) CheckURL(raw string) error { return checkURL(raw, o.AllowPrivate) }

// guardedTransport marks a transport made by NewClient, so that Fetch knows
// whether the client was built with AllowPrivate.
type guardedTransport struct {
	allowPrivate bool
	base         *http.Transport
}

// RoundTrip implements [http.RoundTripper].
func (t *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of the underlying transport.
func (t *guardedTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// genericTypes are Content-Type values that say nothing about the body, so
// Fetch sniffs it instead.
var genericTypes = map[string]bool{
	"":                           true,
	"application/octet-stream":   true,
	"binary/octet-stream":        true,
	"application/binary":         true,
	"application/unknown":        true,
	"application/x-download":     true,
	"application/force-download": true,
}

// Fetch GETs rawURL with client and returns its body and media type.
//
// rawURL first passes the intake check of [Options.CheckURL] for the
// client's options (the full [CheckURL] unless client was made by NewClient
// with AllowPrivate). A nil client means NewClient(Options{}): the guard on,
// default limits. A client not made by NewClient (or whose Transport was
// replaced) gets the intake check but no dial-time check, so production code
// must pass a NewClient client.
//
// The body is read up to maxBytes: a larger body (or a Content-Length above
// it) fails with [ErrTooLarge] after reading at most maxBytes+1 bytes;
// maxBytes <= 0 means no cap. A non-2xx status (a *[StatusError]), a
// connection error or a timeout fails with [ErrUpstream]; context errors stay
// reachable with errors.Is. A refusal by the guard, at intake, at a
// redirect or at dial time, is a *[BlockedError] matching [ErrBlocked].
//
// contentType is the lower-case media type without parameters: the
// response's Content-Type, or, when it is missing or generic
// (application/octet-stream and the like), the type sniffed from the body
// with [DetectContentType].
func Fetch(ctx context.Context, client *http.Client, rawURL string, maxBytes int64) (data []byte, contentType string, err error) {
	data, contentType, _, err = FetchHeld(ctx, client, rawURL, maxBytes, nil)
	return data, contentType, err
}

// FetchHeld is [Fetch] under a memory budget: once the response headers are
// in, it reserves the body's size in b (its Content-Length, or maxBytes when
// unknown; at most b's whole size), waiting while other fetches hold the
// budget, and keeps the body's actual size reserved until release is called.
// release is safe to call more than once; on error nothing stays reserved
// and release is nil. A nil b is Fetch with a release that does nothing.
func FetchHeld(ctx context.Context, client *http.Client, rawURL string, maxBytes int64, b *Budget) (data []byte, contentType string, release func(), err error) {
	if client == nil {
		client = NewClient(Options{})
	}
	gt, _ := client.Transport.(*guardedTransport)
	if err := checkURL(rawURL, gt != nil && gt.allowPrivate); err != nil {
		return nil, "", nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", nil, &BlockedError{URL: rawURL, Reason: "not a valid URL"}
	}
	resp, err := client.Do(req)
	if err != nil {
		var blocked *BlockedError
		if errors.As(err, &blocked) {
			out := *blocked
			if out.URL == "" {
				out.URL = rawURL
			}
			return nil, "", nil, &out
		}
		return nil, "", nil, classify(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, "", nil, &StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
	}
	if maxBytes > 0 && resp.ContentLength > maxBytes {
		return nil, "", nil, &TooLargeError{Limit: maxBytes, Announced: resp.ContentLength}
	}
	held, err := b.reserve(ctx, resp.ContentLength, maxBytes)
	if err != nil {
		return nil, "", nil, classify(err)
	}
	data, err = readBody(resp.Body, resp.ContentLength, maxBytes)
	if err != nil {
		b.release(held)
		return nil, "", nil, err
	}
	release = b.keep(held, int64(len(data)))
	contentType = mediaType(resp.Header.Get("Content-Type"))
	if genericTypes[contentType] {
		contentType = DetectContentType(data)
	}
	return data, contentType, release, nil
}

// readBody reads at most maxBytes (<= 0: no cap) of body. With a known
// length it allocates exactly once, so a body costs its size in memory and
// not the up to twice as much of a growing buffer (bytes.Buffer.ReadFrom
// grows even a buffer presized to the length, to make room for EOF).
func readBody(body io.Reader, length, maxBytes int64) ([]byte, error) {
	if length > 0 {
		data := make([]byte, length)
		if _, err := io.ReadFull(body, data); err != nil {
			return nil, classify(err)
		}
		return data, nil // net/http ends the body at Content-Length
	}
	if maxBytes > 0 {
		body = io.LimitReader(body, maxBytes+1)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, classify(err)
	}
	if maxBytes > 0 && int64(len(data)) > maxBytes {
		return nil, &TooLargeError{Limit: maxBytes, Announced: -1}
	}
	return data, nil
}

// TooLargeError reports a body over the caller's cap. It matches
// [ErrTooLarge].
type TooLargeError struct {
	// Limit is the cap in bytes.
	Limit int64
	// Announced is the Content-Length, or -1 when the body was cut while
	// reading.
	Announced int64
}

// Error returns e.g. "response body too large: 20000000 bytes announced, the limit is 16777216".
func (e *TooLargeError) Error() string {
	if e.Announced >= 0 {
		return fmt.Sprintf("%v: %d bytes announced, the limit is %d", ErrTooLarge, e.Announced, e.Limit)
	}
	return fmt.Sprintf("%v: more than %d bytes", ErrTooLarge, e.Limit)
}

// Is makes a *TooLargeError match [ErrTooLarge].
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// StatusError reports a non-2xx answer. It matches [ErrUpstream].
type StatusError struct {
	// StatusCode is the HTTP status code, e.g. 404.
	StatusCode int
	// Status is the status line text, e.g. "404 Not Found".
	Status string
}

// Error returns e.g. "upstream request failed: status 404 Not Found".
func (e *StatusError) Error() string {
	s := e.Status
	if s == "" {
		s = fmt.Sprint(e.StatusCode)
	}
	return fmt.Sprintf("%v: status %s", ErrUpstream, s)
}

// Is makes a *StatusError match [ErrUpstream].
func (e *StatusError) Is(target error) bool { return target == ErrUpstream }

// classify keeps guard refusals as they are and marks everything else as an
// upstream failure, keeping the cause in the chain.
func classify(err error) error {
	if errors.Is(err, ErrBlocked) || errors.Is(err, ErrUpstream) || errors.Is(err, ErrTooLarge) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUpstream, err)
}

func mediaType(header string) string {
	if header == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		mt, _, _ = strings.Cut(header, ";")
	}
	return strings.ToLower(strings.TrimSpace(mt))
}
