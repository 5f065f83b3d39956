package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The verdict compares p99s within 10 %, so the buckets must be well inside
// that: check against the exact percentile of a wide spread of latencies.
func TestHistQuantileWithinTwoPercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h hist
	var all []time.Duration
	for range 100000 {
		d := time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
		h.add(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.99} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.quantile(q)
		if got < exact || float64(got) > float64(exact)*1.021 {
			t.Errorf("p%.0f = %v, exact %v", q*100, got, exact)
		}
	}
	if h.quantile(1) != all[len(all)-1] {
		t.Errorf("max = %v, want %v", h.quantile(1), all[len(all)-1])
	}
	var a, b hist
	a.add(time.Millisecond)
	b.add(time.Second)
	a.merge(&b)
	if a.count != 2 || a.quantile(1) != time.Second {
		t.Errorf("merge: count %d, max %v", a.count, a.quantile(1))
	}
}

func TestParseMix(t *testing.T) {
	got, err := parseMix("send=3, list=1,debounce=0")
	if err != nil || got != [nKinds]int{kindSend: 3, kindList: 1} {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"send", "send=x", "post=1", "sync=-1"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestSQLiteLine(t *testing.T) {
	got := sqliteLine(map[string]float64{"wal_bytes": 3 << 20, `checkpoints_total{outcome="busy"}`: 2,
		"write_pause_max_seconds": 0.0125, "freelist_pages": 0, `pause_seconds_bucket{le="0.1"}`: 9})
	want := "checkpoints.busy=2 freelist_pages=0 wal=3.0MB write_pause_max=12.5ms"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
