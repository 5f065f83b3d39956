package ai

import (
	"errors"
	"testing"
	"time"
)

// TestRetryWaitSpreadsAndHonoursRetryAfter: a failed batch waits at least
// the base or the provider's Retry-After (capped), spread over half as much
// again, so that batches failing together do not return together.
func TestRetryWaitSpreadsAndHonoursRetryAfter(t *testing.T) {
	base := 30 * time.Second
	for _, tc := range []struct {
		name string
		err  error
		lo   time.Duration
	}{
		{"no Retry-After", errors.New("boom"), base},
		{"shorter Retry-After", &UpstreamError{Op: "chat", StatusCode: 429, RetryAfter: 5 * time.Second}, base},
		{"longer Retry-After", &UpstreamError{Op: "chat", StatusCode: 503, RetryAfter: 2 * time.Minute}, 2 * time.Minute},
		{"Retry-After past the cap", &UpstreamError{Op: "chat", StatusCode: 429, RetryAfter: 48 * time.Hour}, maxRetryAfter},
	} {
		seen := map[time.Duration]bool{}
		lowest, highest := time.Duration(1<<62), time.Duration(0)
		for range 200 {
			d := retryWait(base, tc.err)
			seen[d] = true
			lowest, highest = min(lowest, d), max(highest, d)
		}
		if lowest < tc.lo || highest > tc.lo+tc.lo/2 {
			t.Errorf("%s: waits %v–%v, want within %v–%v", tc.name, lowest, highest, tc.lo, tc.lo+tc.lo/2)
		}
		if len(seen) < 150 || highest-lowest < tc.lo/4 {
			t.Errorf("%s: 200 waits took %d values over %v: not spread", tc.name, len(seen), highest-lowest)
		}
	}
}
