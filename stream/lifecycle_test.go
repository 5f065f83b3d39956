package stream

import (
	"bytes"
	"context"
	"errors"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/storetest"
)

func TestShutdown(t *testing.T) {
	// A big buffer, so that the stalled stream is blocked in a write, not evicted.
	e := newEnv(t, Options{Buffer: 4096}, true)
	var clients []*client
	for range 3 {
		clients = append(clients, e.open(t, e.streamURL(e.ten.ID()), ""))
	}
	stall(t, e)
	eventually(t, 5*time.Second, "all subscribed", func() bool { return e.b.Subscribers() == 4 })
	content := strings.Repeat("x", 8<<10)
	for i := range 100 {
		say(t, e.ten, "l1", content+strconv.Itoa(i))
	}
	// Once the healthy clients have the last event, the stalled stream has
	// been handed all of them too and is stuck in a write (small buffers).
	for _, c := range clients {
		for {
			f, ok := c.next(t, 5*time.Second)
			if !ok {
				t.Fatal("a healthy client did not get every event")
			}
			if strings.Contains(f.Data, "x99") {
				break
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	took := time.Since(start)
	if took > 2*time.Second {
		t.Fatalf("Shutdown took %v", took)
	}
	if took < shutdownGrace {
		t.Errorf("Shutdown took %v: the stalled stream was not blocked, the test did not cover cutting it", took)
	}
	if n := e.b.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after Shutdown", n)
	}
	for _, c := range clients {
		for {
			if _, ok := c.next(t, 2*time.Second); !ok {
				break
			}
		}
	}
	if err := e.b.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	var se *statusError
	if _, err := tryDial(e.streamURL(e.ten.ID()), ""); !errors.As(err, &se) || se.code != http.StatusServiceUnavailable {
		t.Fatalf("stream after Shutdown: %v, want 503", err)
	}
}

func TestMaxStreams(t *testing.T) {
	e := newEnv(t, Options{MaxStreams: 2}, false)
	u := e.streamURL(e.ten.ID())
	first := e.open(t, u, "")
	e.open(t, u, "")
	var se *statusError
	if _, err := tryDial(u, ""); !errors.As(err, &se) || se.code != http.StatusServiceUnavailable {
		t.Fatalf("third stream: %v, want 503", err)
	}
	first.close()
	eventually(t, 5*time.Second, "the closed stream to go", func() bool { return e.b.Subscribers() == 1 })
	e.open(t, u, "")
}

func TestRunPruner(t *testing.T) {
	e := newEnv(t, Options{Retention: 100 * time.Millisecond}, false)
	say(t, e.ten, "l1", "a")
	say(t, e.ten, "l1", "b") // ids 1..4
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.b.RunPruner(ctx); close(done) }()
	eventually(t, 5*time.Second, "events to be pruned", func() bool {
		b, err := e.ten.EventBounds(context.Background())
		return err == nil && b.PrunedThrough == 4 && b.Oldest == 0
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunPruner did not return after its context ended")
	}
}

// wrapWriter wraps the ResponseWriter the way echo's Response does: Flush
// without error, Unwrap, and Write sending the status itself unless
// WriteHeader was called through it.
type wrapWriter struct {
	http.ResponseWriter
	committed bool
}

func (w *wrapWriter) WriteHeader(code int) {
	w.committed = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *wrapWriter) Write(p []byte) (int, error) {
	if !w.committed {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *wrapWriter) Flush()                      { http.NewResponseController(w.ResponseWriter).Flush() }
func (w *wrapWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// syncBuffer is a bytes.Buffer safe for the server's error log.
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

func TestWrappedResponseWriter(t *testing.T) {
	st := storetest.New(t)
	b := New(st, Options{Logger: quiet})
	st.OnEvents(b.Publish)
	done := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		testHandler(b)(&wrapWriter{ResponseWriter: w}, r)
		done <- struct{}{}
	}))
	var serverLog syncBuffer
	srv.Config.ErrorLog = log.New(&serverLog, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	ten, _ := storetest.Tenant(t, st, "acme")
	e := &env{st: st, b: b, srv: srv, ten: ten}

	c := e.open(t, e.streamURL(ten.ID()), "")
	if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	s := say(t, ten, "l1", "hi")
	if p := c.nextEvent(t, 5*time.Second).payload(t); p.Data["conversation_id"] != s.Conversation.ID {
		t.Fatalf("got %+v", p)
	}
	c.close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not return after the client left")
	}
	if l := serverLog.String(); l != "" {
		t.Fatalf("server logged %q", l)
	}
}
