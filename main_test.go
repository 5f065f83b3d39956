package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a server's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setEnv points the process at a fresh database in a temporary directory
// (or db when given) and clears every other PARLEY_ variable; it returns the
// database path.
func setEnv(t *testing.T, db string) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PARLEY_") {
			t.Setenv(k, v) // restored after the test
			os.Unsetenv(k)
		}
	}
	if db == "" {
		db = filepath.Join(t.TempDir(), "parley.db")
	}
	t.Setenv("PARLEY_DB", db)
	t.Setenv("PARLEY_ADDR", "127.0.0.1:0")
	return db
}

// server is `parley serve` running in-process.
type server struct {
	url            string
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan int
	once           sync.Once
	code           int
	ok             bool
	tenant         string // the default tenant's id, once send looked it up
}

// startServer runs run() with args (nil = serve) until the test ends or stop.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	addr := make(chan net.Addr, 1)
	go func() { s.done <- run(ctx, args, s.stdout, s.stderr, func(a net.Addr) { addr <- a }) }()
	select {
	case a := <-addr:
		s.url = "http://" + a.String()
	case code := <-s.done:
		cancel()
		t.Fatalf("serve exited with %d before listening: %s", code, s.stderr)
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatalf("serve did not listen within 15 s: %s", s.stderr)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels the context (SIGTERM) and returns run's exit code.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	code, ok := s.shutdown()
	if !ok {
		t.Fatalf("serve did not return within 15 s of cancel")
	}
	return code
}

// shutdown is stop for any goroutine: ok is false when run did not return.
func (s *server) shutdown() (code int, ok bool) {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.code = <-s.done:
			s.ok = true
		case <-time.After(15 * time.Second):
		}
	})
	return s.code, s.ok
}

// get sends GET path with a Bearer key and returns the status and body.
func (s *server) get(t *testing.T, key, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// cli runs one command line to completion.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb, nil)
	return code, out.String(), errb.String()
}
