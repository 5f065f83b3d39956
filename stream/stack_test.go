package stream

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/storetest"
)

// TestStreamStack guards the stream goroutine's stack at 8 KB. That
// goroutine lives as long as the stream and parks as deep as the web layer
// puts it, so one deep call run on it (net/http's first header write, the
// replay's SQLite reads) would double its stack for good: offStack runs them
// elsewhere. The server here is as deep as the web layer and every stream
// replays. The figure counts both goroutines net/http keeps per stream (the
// handler, 8 KB, and the connection's background reader, 2 to 4 KB); with a
// deep call on the handler it is 18 KB or more.
func TestStreamStack(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes frames and stack guards larger")
	}
	st := storetest.New(t)
	b := New(st, Options{Logger: quiet})
	st.OnEvents(b.Publish)
	srv := httptest.NewServer(asDeepAsEcho(testHandler(b)))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	ten, _ := storetest.Tenant(t, st, "acme")
	say(t, ten, "l1", "hello")
	bounds, err := ten.EventBounds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lastID := strconv.FormatInt(bounds.Last, 10)

	// open starts a stream that replays everything and returns once the
	// replay arrived, the stream's goroutine then parked in the live loop.
	open := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET /?tenant=%s HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 0\r\n\r\n", ten.ID())
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line == "id: "+lastID+"\n" {
				return c
			}
		}
	}
	for range 10 { // warm up: pools, prepared statements, the runtime's starting stack size
		open().Close()
	}
	eventually(t, 5*time.Second, "the warm-up streams to end", func() bool { return b.Subscribers() == 0 })

	const n = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		open()
	}
	runtime.GC()
	runtime.GC() // a stack shrinks by half at most per cycle
	runtime.ReadMemStats(&after)
	perStream := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	t.Logf("%d streams: %.1f KB of goroutine stack each", n, float64(perStream)/1024)
	if perStream > 14<<10 {
		t.Fatalf("%.1f KB of goroutine stack per stream, want at most 14", float64(perStream)/1024)
	}
}

// asDeepAsEcho puts about as many bytes of frames under h as the web layer's
// echo router and middleware chain do (~2.5 KB).
func asDeepAsEcho(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var frames [2560]byte
		touch(&frames)
		h.ServeHTTP(w, r)
		touch(&frames)
	})
}

//go:noinline
func touch(b *[2560]byte) { b[0]++ }
