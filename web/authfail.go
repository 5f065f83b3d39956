package web

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// authFailures throttles requests with a missing or unknown key per client
// IP (API.md §9): a token bucket of perMinute tokens, taken only by failed
// attempts, checked before the key lookup so that a key-guessing client
// costs no database reads once throttled. Successful requests never count.
type authFailures struct {
	perMinute int
	now       func() time.Time
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
}

// maxAuthBuckets bounds the IPs remembered: past it, full buckets (IPs that
// failed nothing lately) are forgotten, and past twice it, all of them.
const maxAuthBuckets = 10_000

func (a *authFailures) bucket(ip string, create bool) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.buckets[ip]
	if ok || !create {
		return b
	}
	if len(a.buckets) >= maxAuthBuckets {
		now := a.now()
		for k, v := range a.buckets {
			if v.TokensAt(now) >= float64(a.perMinute) {
				delete(a.buckets, k)
			}
		}
		if len(a.buckets) >= 2*maxAuthBuckets {
			clear(a.buckets)
		}
	}
	b = rate.NewLimiter(rate.Limit(float64(a.perMinute)/60), a.perMinute)
	a.buckets[ip] = b
	return b
}

// blocked reports whether ip used up its failed attempts, and if so how
// many seconds until it has one again.
func (a *authFailures) blocked(ip string) (retryAfter int, blocked bool) {
	if a.perMinute <= 0 {
		return 0, false
	}
	b := a.bucket(ip, false)
	if b == nil {
		return 0, false
	}
	tokens := b.TokensAt(a.now())
	if tokens >= 1 {
		return 0, false
	}
	return max(1, int(math.Ceil((1-tokens)/(float64(a.perMinute)/60)))), true
}

// failed counts one failed attempt from ip.
func (a *authFailures) failed(ip string) {
	if a.perMinute <= 0 {
		return
	}
	a.bucket(ip, true).AllowN(a.now(), 1)
}

// throttled is the answer to an IP past its failed attempts.
func (a *authFailures) throttled(retryAfter int) *Problem {
	p := problem(http.StatusTooManyRequests, CodeRateLimited,
		"too many requests with a missing or invalid API key from this address; retry in %d s", retryAfter)
	p.RetryAfter = retryAfter
	return p
}

// ipExtractor finds the client's address: the socket's, or with trusted
// proxies the nearest X-Forwarded-For entry that is not one of them.
// Without trusted proxies the header is ignored: anyone can write it.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
