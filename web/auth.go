package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/parley-dev/parley/store"
)

// keyCacheTTL bounds how long a revoked key keeps working on a running server.
// API.md §7 promises 2 s from the CLI's revoke (through the database) to the
// first refusal; the TTL stays under it so that the lookup and the request in
// flight fit in the promise too.
const keyCacheTTL = 1500 * time.Millisecond

// keyCache remembers recent key lookups so that authentication does not hit
// SQLite on every request.
type keyCache struct {
	st  *store.Store
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cachedKey
}

type cachedKey struct {
	key     store.APIKey
	expires time.Time
}

// cached returns the key with this secret when a recent lookup found it.
func (kc *keyCache) cached(secret string) (store.APIKey, bool) {
	hash := store.HashKey(secret)
	kc.mu.Lock()
	ck, hit := kc.m[string(hash)]
	kc.mu.Unlock()
	if hit && kc.now().Before(ck.expires) {
		return ck.key, true
	}
	return store.APIKey{}, false
}

// fetch looks the key up in the store and caches it: the active key with
// this secret, or store.ErrNotFound.
func (kc *keyCache) fetch(ctx context.Context, secret string) (store.APIKey, error) {
	hash := store.HashKey(secret)
	now := kc.now()
	k, err := kc.st.KeyByHash(ctx, hash)
	if err != nil {
		return store.APIKey{}, err
	}
	kc.mu.Lock()
	if len(kc.m) > 100_000 { // a flood of distinct keys must not grow memory without bound
		clear(kc.m)
	}
	kc.m[string(hash)] = cachedKey{key: k, expires: now.Add(keyCacheTTL)}
	kc.mu.Unlock()
	return k, nil
}

const (
	ctxKey    = "parley.key"
	ctxTenant = "parley.tenant"
)

// tenantOf returns the store handle of the authenticated tenant.
func tenantOf(c echo.Context) *store.Tenant { return c.Get(ctxTenant).(*store.Tenant) }

// authenticate checks the Bearer key (or ?token= when queryToken, for SSE
// routes), then applies the key's rate limit. A client IP past its failed
// attempts is refused before any lookup, unless its key is one the cache
// already knows to be good.
func (s *Server) authenticate(queryToken bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			secret, found := bearer(c.Request())
			if !found && queryToken {
				secret = c.QueryParam("token")
			}
			k, known := store.APIKey{}, false
			if secret != "" {
				k, known = s.keys.cached(secret)
			}
			if !known {
				ip := c.RealIP()
				if wait, blocked := s.authFail.blocked(ip); blocked {
					return s.authFail.throttled(wait)
				}
				if secret == "" {
					s.authFail.failed(ip)
					return problem(http.StatusUnauthorized, CodeUnauthorized, "missing API key: send Authorization: Bearer <key>")
				}
				var err error
				k, err = s.keys.fetch(c.Request().Context(), secret)
				if errors.Is(err, store.ErrNotFound) {
					s.authFail.failed(ip)
					return problem(http.StatusUnauthorized, CodeUnauthorized, "invalid or revoked API key")
				} else if err != nil {
					return err
				}
			}
			c.Set(ctxKey, k)
			c.Set(ctxTenant, s.store.Tenant(k.TenantID))
			if err := s.limits.allow(c, k.ID); err != nil {
				return err
			}
			return next(c)
		}
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true // a header that is not a Bearer key is a failed attempt, not an absent one
	}
	return strings.TrimSpace(token), true
}

// limiter is the per-key token bucket of API.md §1.
type limiter struct {
	perMinute int
	now       func() time.Time
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
}

// allow takes one token for key and sets the RateLimit-* headers; when the
// bucket is empty it answers 429 with Retry-After.
func (l *limiter) allow(c echo.Context, keyID string) error {
	if l.perMinute <= 0 {
		return nil
	}
	l.mu.Lock()
	b, ok := l.buckets[keyID]
	if !ok {
		b = rate.NewLimiter(rate.Limit(float64(l.perMinute)/60), l.perMinute)
		l.buckets[keyID] = b
	}
	l.mu.Unlock()
	now := l.now()
	allowed := b.AllowN(now, 1)
	tokens := b.TokensAt(now)
	perSecond := float64(l.perMinute) / 60
	h := c.Response().Header()
	h.Set("RateLimit-Limit", strconv.Itoa(l.perMinute))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(0, int(math.Floor(tokens)))))
	h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil((float64(l.perMinute)-tokens)/perSecond))))
	if allowed {
		return nil
	}
	wait := int(math.Ceil((1 - tokens) / perSecond))
	h.Set("Retry-After", strconv.Itoa(max(1, wait)))
	return problem(http.StatusTooManyRequests, CodeRateLimited, "rate limit of %d requests per minute exceeded; retry in %d s",
		l.perMinute, max(1, wait))
}
