package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
)

// follower is a client that reads a stream and, every `every` events,
// disconnects and reconnects with Last-Event-ID, up to maxReconnects times.
type follower struct {
	last atomic.Int64 // the last id received, for waiting

	// Read only after stop.
	ids        []int64
	reconnects int
	err        error

	cancel context.CancelFunc
	done   chan struct{}
}

func follow(u string, every, maxReconnects int, ready chan<- struct{}) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	fl := &follower{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fl.done)
		last := ""
		for first := true; ; first = false {
			c, err := tryDial(u, last)
			if err != nil {
				if ctx.Err() == nil {
					fl.err = err
				}
				return
			}
			if f, ok := <-c.frames; !ok || f.Retry != "5000" {
				fl.err = fmt.Errorf("first frame %+v", f)
				c.close()
				return
			}
			if first {
				ready <- struct{}{}
			}
			if !fl.read(ctx, c, every, maxReconnects, &last) {
				return
			}
		}
	}()
	return fl
}

// stop ends the follower and waits for it.
func (fl *follower) stop() {
	fl.cancel()
	<-fl.done
}

// read consumes one connection; it reports whether to reconnect.
func (fl *follower) read(ctx context.Context, c *client, every, maxReconnects int, last *string) bool {
	defer c.close()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return false
		case f, ok := <-c.frames:
			if !ok {
				return ctx.Err() == nil // cut by the server (eviction): reconnect
			}
			if !f.HasID {
				if !strings.Contains(f.Data, `"heartbeat"`) {
					fl.err = fmt.Errorf("unexpected live-only frame %q", f.Data)
					return false
				}
				continue
			}
			id, err := strconv.ParseInt(f.ID, 10, 64)
			if err != nil {
				fl.err = err
				return false
			}
			fl.ids = append(fl.ids, id)
			fl.last.Store(id)
			*last = f.ID
			if n++; every > 0 && n >= every && fl.reconnects < maxReconnects {
				fl.reconnects++
				return true
			}
		}
	}
}

func TestNoLossNoDuplicate(t *testing.T) {
	e := newEnv(t, Options{}, false)
	ctx := context.Background()
	ready := make(chan struct{}, 3)
	all := store.EventFilter{}
	oneLead := store.EventFilter{LeadID: "g0-l0"}
	steady := follow(e.streamURL(e.ten.ID()), 0, 0, ready)
	jumpy := follow(e.streamURL(e.ten.ID()), 150, 10, ready)
	jumpyLead := follow(e.streamURL(e.ten.ID(), "lead_id", "g0-l0"), 12, 10, ready)
	for _, fl := range []*follower{steady, jumpy, jumpyLead} {
		t.Cleanup(fl.stop)
	}
	for range 3 {
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
			t.Fatal("clients did not connect")
		}
	}

	// 4 writers, 250 messages each, 12 leads: 2,000 events.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				lead := fmt.Sprintf("g%d-l%d", g, i%3)
				if _, err := e.ten.AddMessage(ctx, store.MessageInput{LeadID: lead, CreateLead: true,
					Role: store.RoleUser, Content: strconv.Itoa(i), Status: store.MsgDelivered}); err != nil {
					t.Errorf("writer %d: %v", g, err)
					return
				}
			}
		})
	}
	wg.Wait()

	if n := len(stored(t, e.ten, all)); n != 2000 {
		t.Fatalf("%d events stored, want 2000", n)
	}
	for _, fc := range []struct {
		name       string
		fl         *follower
		filter     store.EventFilter
		reconnects int
	}{
		{"steady client", steady, all, 0},
		{"reconnecting client", jumpy, all, 10},
		{"reconnecting lead client", jumpyLead, oneLead, 10},
	} {
		want := stored(t, e.ten, fc.filter)
		eventually(t, 20*time.Second, fc.name+" to catch up", func() bool {
			select {
			case <-fc.fl.done: // failed: reported below
				return true
			default:
				return fc.fl.last.Load() == want[len(want)-1]
			}
		})
		fc.fl.stop()
		if fc.fl.err != nil {
			t.Fatalf("%s: %v", fc.name, fc.fl.err)
		}
		if !slices.Equal(fc.fl.ids, want) {
			t.Fatalf("%s: got %d ids, want %d; first difference at index %d", fc.name, len(fc.fl.ids), len(want),
				firstDiff(fc.fl.ids, want))
		}
		if fc.fl.reconnects != fc.reconnects {
			t.Fatalf("%s reconnected %d times, want %d", fc.name, fc.fl.reconnects, fc.reconnects)
		}
	}
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// stall opens a raw stream connection that never reads. With the server's
// send buffers made small (newEnv's smallBufs) and the client's receive
// window at its initial size, the server's writes block after about 80 KB.
// (Shrinking the receive buffer after connect would make the kernel drop
// segments already in the advertised window, and retransmission backoff
// would then delay the connection's end by seconds.)
func stall(t *testing.T, e *env) net.Conn {
	t.Helper()
	// A small receive buffer, set before connecting (so the TCP window is
	// small too): the server's writes block after a few KB, not megabytes.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req, _ := http.NewRequest(http.MethodGet, e.streamURL(e.ten.ID()), nil)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestStalledSubscriberDoesNotDelayOthers(t *testing.T) {
	e := newEnv(t, Options{}, true)
	healthy := e.open(t, e.streamURL(e.ten.ID()), "")
	stalled := stall(t, e)
	eventually(t, 5*time.Second, "both subscribed", func() bool { return e.b.Subscribers() == 2 })

	content := strings.Repeat("x", 4<<10)
	start := time.Now()
	for i := range 500 {
		say(t, e.ten, "l"+strconv.Itoa(i%5), content)
	}
	written := time.Now()
	// Each message must reach the healthy client within 2 s of its write,
	// and all of them within 2 s of the last write (writes are slow under
	// -race, hence not 2 s from the first one).
	var worst time.Duration
	for got := 0; got < 500; {
		f := healthy.nextEvent(t, time.Until(written.Add(2*time.Second)))
		p := f.payload(t)
		if p.Type != store.EventNewMessage {
			continue
		}
		got++
		msg, _ := p.Data["message"].(map[string]any)
		ts, _ := msg["timestamp"].(string)
		created, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatalf("message timestamp %q: %v", ts, err)
		}
		worst = max(worst, f.at.Sub(created))
	}
	t.Logf("500 messages written in %v, delivered %v after the first write; worst delay %v",
		written.Sub(start), time.Since(start), worst)
	if worst > 2*time.Second {
		t.Fatalf("a message took %v to reach the healthy client", worst)
	}

	eventually(t, 5*time.Second, "the stalled subscriber to be cut", func() bool {
		return e.b.Subscribers() == 1 && e.b.Evictions() == 1
	})
	t.Logf("cut after %v", time.Since(start))
	// Its connection ends: reading it through reaches EOF or a reset.
	stalled.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		if _, err := stalled.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the stalled connection is still open")
			}
			break
		}
	}
	t.Logf("EOF after %v", time.Since(start))
	// The healthy client was never cut: it still gets every event, in order.
	s := say(t, e.ten, "l1", "after")
	for {
		f := healthy.nextEvent(t, 5*time.Second)
		if p := f.payload(t); p.Type == store.EventNewMessage {
			if msg, _ := p.Data["message"].(map[string]any); msg["id"] != s.Message.ID {
				t.Fatalf("healthy client got %s", f.Data)
			}
			break
		}
	}
}
