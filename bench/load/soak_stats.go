package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A soak records millions of latencies; keeping them all would make the load
// tool's own memory grow with the duration (and disturb the RSS it measures
// next door), so they go into log-scale buckets 2 % wide: percentiles are
// then within 2 %, and any set of samples can be merged into a window.
const (
	histGrowth  = 1.02
	histBuckets = 960 // 1 µs · 1.02^960 ≈ 180 s
)

var histLogGrowth = math.Log(histGrowth)

type hist struct {
	n     [histBuckets]uint32
	count uint64
	max   time.Duration
}

func (h *hist) add(d time.Duration) {
	i := 0
	if us := float64(d) / float64(time.Microsecond); us > 1 {
		i = min(int(math.Log(us)/histLogGrowth), histBuckets-1)
	}
	h.n[i]++
	h.count++
	h.max = max(h.max, d)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.n {
		h.n[i] += c
	}
	h.count += o.count
	h.max = max(h.max, o.max)
}

// quantile answers with the bucket's upper bound (never flatters), capped by
// the largest value seen.
func (h *hist) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	var seen uint64
	for i, c := range h.n {
		seen += uint64(c)
		if seen >= rank && c > 0 {
			return min(time.Duration(math.Pow(histGrowth, float64(i+1))*float64(time.Microsecond)), h.max)
		}
	}
	return h.max
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// The request kinds of the mix, in the order they are printed.
const (
	kindSend = iota
	kindSync
	kindDebounce
	kindList
	nKinds
)

var kindNames = [nKinds]string{"send", "sync", "debounce", "list"}

// recorder collects one kind's latencies and errors for the current sample.
type recorder struct {
	mu       sync.Mutex
	cur      *hist
	errs     int
	firstErr string
}

func (r *recorder) record(d time.Duration, err error) {
	r.mu.Lock()
	if err != nil {
		r.errs++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
	} else {
		if r.cur == nil {
			r.cur = new(hist)
		}
		r.cur.add(d)
	}
	r.mu.Unlock()
}

// take hands over the interval's histogram and errors and starts a new one.
func (r *recorder) take() (*hist, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, e := r.cur, r.errs
	r.cur, r.errs = nil, 0
	if h == nil {
		h = new(hist)
	}
	return h, e
}

// fileSize is 0 for a missing file: the WAL does not exist between a
// truncating checkpoint and the next write.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (t *target) openFDs() int {
	if t.cmd == nil {
		return 0
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", t.cmd.Process.Pid))
	return len(fds)
}

// scrapeSoak reads the goroutine count and every parley_sqlite_* series
// from /metrics. The SQLite series are new with the store work, so
// whatever is there is taken as it comes, labels and all.
func scrapeSoak(ctx context.Context, t *target) (goroutines float64, sqlite map[string]float64) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, b, err := t.do(ctx, "GET", "/metrics", nil)
	if err != nil {
		return -1, nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "parley_go_goroutines "); ok {
			goroutines, _ = strconv.ParseFloat(v, 64)
			continue
		}
		if !strings.HasPrefix(line, "parley_sqlite_") {
			continue
		}
		// name{labels} value [timestamp]; a label value may hold spaces.
		end := strings.IndexByte(line, '}') + 1
		if end == 0 {
			end = strings.IndexByte(line, ' ')
		}
		if end <= 0 {
			continue
		}
		v := strings.Fields(line[end:])
		if len(v) == 0 {
			continue
		}
		if f, err := strconv.ParseFloat(v[0], 64); err == nil {
			if sqlite == nil {
				sqlite = map[string]float64{}
			}
			sqlite[strings.TrimPrefix(line[:end], "parley_sqlite_")] = f
		}
	}
	return goroutines, sqlite
}

// cpuTicks reads a process's user+system time (pid 0: the whole machine's
// busy time) in clock ticks. The machine is shared, so a soak reports what
// the server, the load tool and everything else used: a sink in throughput
// that coincides with "other" is not the server's doing.
func cpuTicks(pid int) int64 {
	if pid == 0 {
		b, _ := os.ReadFile("/proc/stat")
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		var busy int64
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

// clockTicks is USER_HZ, 100 on every Linux this runs on (no cgo for sysconf).
const clockTicks = 100
