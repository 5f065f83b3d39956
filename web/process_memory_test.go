package web_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/netguard"
)

// TestProcessMediaMemory: with a 1 MiB media memory budget, ten concurrent
// voice notes of 600 KB are never held in memory two at a time (the others
// wait to be fetched), and every byte is given back when the turns end,
// images included (they are held until the answer is in).
func TestProcessMediaMemory(t *testing.T) {
	voice := append(append([]byte{}, procOgg...), bytes.Repeat([]byte{0}, 600<<10)...)
	gate := make(chan struct{})
	var inside, most atomic.Int64
	p := &procProvider{transcribe: func(ctx context.Context, a ai.Audio) (string, error) {
		n := inside.Add(1)
		defer inside.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-gate
		return "ok", nil
	}}
	media := newProcMedia(t, map[string]procFile{
		"/voice.oga": {contentType: "audio/ogg", body: voice},
		"/pic.png":   {contentType: "image/png", body: procPNG(t, 300, 200)},
	})
	budget := netguard.NewBudget(1 << 20)
	e := newEnvWith(t, envOpts{Provider: p, MediaMemory: budget})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lead := "lead-mem-" + string(rune('a'+i))
			r := e.do(http.MethodPost, "/ai/process", procMsg(e, lead, "", obj{"message_type": "audio", "url": media.URL + "/voice.oga"}))
			if r.Status != http.StatusOK {
				t.Errorf("voice note %d: status %d", i, r.Status)
			}
		}()
	}
	// The first note is transcribed while its bytes are held; give the
	// others time to be fetched too, if the budget let them.
	for inside.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(gate)
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d voice notes of 600 KB were held at once under a 1 MiB budget, want 1", most.Load())
	}
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes still reserved after the voice notes were answered", n)
	}
	procProcess(t, e, procMsg(e, "lead-mem-img", "", obj{"message_type": "image", "url": media.URL + "/pic.png"}))
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes still reserved after the image was answered", n)
	}
}
