package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley/netguard"
	"github.com/parley-dev/parley/store"
)

// Request headers of every delivery (API.md §3.6).
const (
	HeaderDelivery  = "X-Parley-Delivery"  // the delivery id, stable across retries: receivers dedupe on it
	HeaderTimestamp = "X-Parley-Timestamp" // unix seconds of this attempt, covered by HeaderSignature
	HeaderSignature = "X-Parley-Signature" // Sign(secret, timestamp, body)
	HeaderLeavo     = "X-Leavo-Signature"  // SignLeavo(secret, body), for Leavo clients
	UserAgent       = "Parley-Webhooks/1"  // the User-Agent of every delivery
)

const (
	// maxDrain is how much of a response body is read (and thrown away) so
	// that its connection can be reused; a receiver that answers with more
	// gets its connection closed instead of costing us the download.
	maxDrain = 64 << 10
	// maxErrText bounds last_error: enough to tell what went wrong, not a
	// place to store a receiver's error page.
	maxErrText = 200
	// maxRetryAfter caps a receiver's Retry-After, so that a misbehaving
	// receiver cannot park its deliveries for years (it only ever delays its
	// own conversation, but an operator should see an outcome within a day).
	maxRetryAfter = 24 * time.Hour
)

// Sign returns the X-Parley-Signature value: "sha256=" and the hex
// HMAC-SHA256 of timestamp + "." + body, keyed with the secret string's
// UTF-8 bytes as they are (a "whsec_…" secret is never base64-decoded).
func Sign(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SignLeavo returns the X-Leavo-Signature value: the hex HMAC-SHA256 of the
// body alone, keyed with the secret string's UTF-8 bytes.
func SignLeavo(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// result is what one attempt came to, before it is recorded.
type result struct {
	code       int           // HTTP status, 0 when no response arrived
	err        string        // "" when delivered
	retryable  bool          // may be retried if attempts remain
	retryAfter time.Duration // the receiver's Retry-After (429 and 503)
}

// attempt sends d once and records the outcome. It reports false when
// nothing was recorded (shutdown or a store error): the delivery stays
// pending and its key waits storeBackoff.
func (w *Worker) attempt(ctx context.Context, d store.Delivery) bool {
	secret, err := w.st.DeliverySecret(ctx, d)
	var res result
	var took time.Duration
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Its webhook was deleted: nothing can sign it, and sending it
		// unsigned would teach receivers to accept unsigned calls.
		res = result{err: "no signing secret: the webhook no longer exists"}
	case err != nil:
		if ctx.Err() == nil {
			w.log.Error("delivery: read secret", "delivery", d.ID, "err", err)
		}
		return false
	default:
		if w.onQueued != nil && d.Attempts == 0 && d.LastStatusCode == nil && d.LastError == nil {
			w.onQueued(d.Kind, w.now().Sub(d.CreatedAt.Std())) // a first attempt, not a manual retry
		}
		start := time.Now()
		res = w.send(ctx, d, secret)
		took = time.Since(start)
	}
	if ctx.Err() != nil && res.code == 0 {
		return false // cancelled by shutdown: not an attempt, send it again next start
	}
	now := w.now()
	a := store.Attempt{StatusCode: res.code, Err: res.err, Status: store.DeliveryDelivered, Next: now}
	outcome := OutcomeDelivered
	switch {
	case res.err == "":
	case res.retryable && d.Attempts < len(w.schedule):
		a.Status, outcome = store.DeliveryPending, OutcomeRetry
		a.Next = ceilMilli(now.Add(max(w.schedule[d.Attempts], res.retryAfter)))
	default:
		a.Status, outcome = store.DeliveryFailed, OutcomeFailed
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := w.st.RecordAttempt(rctx, d.TenantID, d.ID, a); err != nil {
		w.log.Error("delivery: record attempt", "delivery", d.ID, "err", err)
		return false
	}
	level := w.log.Debug // one line per delivered POST would drown the log at volume
	if outcome != OutcomeDelivered {
		level = w.log.Warn
	}
	level("delivery: attempt", "delivery", d.ID, "kind", d.Kind, "event", d.Event, "destination", d.Destination,
		"attempt", d.Attempts+1, "outcome", outcome, "status", res.code, "err", res.err, "took", took)
	if w.onAttempt != nil {
		w.onAttempt(d.Kind, outcome, took)
	}
	return true
}

// send makes one signed POST of d and classifies the answer (API.md §3.6).
func (w *Worker) send(ctx context.Context, d store.Delivery, secret string) result {
	u, err := url.Parse(d.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return result{err: "invalid URL: only absolute http and https URLs can be delivered to"}
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return result{err: "invalid URL"}
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, d.Payload))
	req.Header.Set(HeaderLeavo, SignLeavo(secret, d.Payload))
	resp, err := w.client.Do(req)
	if err != nil {
		return w.failure(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code <= 299:
		return result{code: code}
	case code >= 300 && code <= 399:
		return result{code: code, err: fmt.Sprintf("redirect not followed (status %d)", code)}
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return result{code: code, err: statusText(code), retryable: true,
			retryAfter: retryAfter(resp.Header.Get("Retry-After"), w.now())}
	case code == http.StatusRequestTimeout || code >= 500:
		return result{code: code, err: statusText(code), retryable: true}
	default:
		return result{code: code, err: statusText(code)}
	}
}

// failure classifies an exchange that got no response. The text never
// includes the URL, whose query may carry a receiver's token.
func (w *Worker) failure(err error) result {
	var blocked *netguard.BlockedError
	switch {
	case errors.As(err, &blocked):
		shown := netguard.BlockedError{Addr: blocked.Addr, Reason: blocked.Reason}
		return result{err: shown.Error()}
	case errors.Is(err, netguard.ErrBlocked):
		return result{err: netguard.ErrBlocked.Error()}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return result{err: "timeout after " + w.timeout.String(), retryable: true}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return result{err: clip("connection failed: " + err.Error()), retryable: true}
}

// statusText is the last_error of a non-2xx answer, e.g. "status 503 Service Unavailable".
func statusText(code int) string {
	return strings.TrimSpace(fmt.Sprintf("status %d %s", code, http.StatusText(code)))
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date;
// anything else (or a time already past) is zero.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// ceilMilli rounds t up to the millisecond the store keeps, so that the
// stored next attempt never comes before the wait the schedule or the
// receiver's Retry-After asked for.
func ceilMilli(t time.Time) time.Time {
	if r := t.Truncate(time.Millisecond); !r.Equal(t) {
		return r.Add(time.Millisecond)
	}
	return t
}

// clip shortens s to maxErrText bytes, dropping a UTF-8 sequence cut in half.
func clip(s string) string {
	if len(s) <= maxErrText {
		return s
	}
	return strings.ToValidUTF8(s[:maxErrText], "")
}
