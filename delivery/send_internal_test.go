package delivery

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"-5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999999", maxRetryAfter},
	}
	for _, c := range cases {
		if got := retryAfter(c.in, now); got != c.want {
			t.Errorf("retryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestCeilMilli(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_123)
	if got := ceilMilli(base); !got.Equal(base) {
		t.Errorf("ceilMilli of a whole millisecond moved it: %v", got)
	}
	if got := ceilMilli(base.Add(time.Microsecond)); !got.Equal(base.Add(time.Millisecond)) {
		t.Errorf("ceilMilli(+1µs) = %v, want the next millisecond", got)
	}
}
