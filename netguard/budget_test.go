package netguard

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestFetchHeldBudget: a body held by one fetch keeps another from being
// read until it is released; a body larger than the whole budget still
// gets through alone; a failed fetch holds nothing.
func TestFetchHeldBudget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/600":
			w.Write(bytes.Repeat([]byte("a"), 600))
		case "/600-chunked":
			w.(http.Flusher).Flush() // no Content-Length: the cap is reserved
			w.Write(bytes.Repeat([]byte("a"), 600))
		case "/big":
			w.Write(bytes.Repeat([]byte("b"), 5000))
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	b := NewBudget(1000)
	fetch := func(ctx context.Context, path string, maxBytes int64) ([]byte, func(), error) {
		data, _, release, err := FetchHeld(ctx, local(), srv.URL+path, maxBytes, b)
		return data, release, err
	}
	// waits reports whether a fetch of path is still waiting for room when
	// its context ends: it must be, while the budget is taken.
	waits := func(path string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, release, err := fetch(ctx, path, 700)
		if err == nil {
			release()
		}
		return errors.Is(err, context.DeadlineExceeded)
	}

	a, releaseA, err := fetch(context.Background(), "/600", 700)
	if err != nil || len(a) != 600 {
		t.Fatalf("first fetch: %d bytes, %v", len(a), err)
	}
	if !waits("/600") || !waits("/600-chunked") {
		t.Fatal("a second 600-byte body was read while 600 of 1000 bytes were held")
	}
	releaseA()
	releaseA() // idempotent: must not free more than was held
	_, releaseB, err := fetch(context.Background(), "/600", 700)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if !waits("/600") {
		t.Fatal("a double release freed more than was held")
	}
	releaseB()
	big, releaseBig, err := fetch(context.Background(), "/big", 0)
	if err != nil || len(big) != 5000 {
		t.Fatalf("a body larger than the budget: %d bytes, %v", len(big), err)
	}
	releaseBig()
	if _, _, err := fetch(context.Background(), "/fail", 700); !errors.Is(err, ErrUpstream) {
		t.Fatalf("failing fetch: %v", err)
	}
	if _, release, err := fetch(context.Background(), "/600-chunked", 700); err != nil {
		t.Fatalf("the budget is not whole again after a failure: %v", err)
	} else {
		release()
	}
}
