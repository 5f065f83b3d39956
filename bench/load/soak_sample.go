package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// soakSample is one interval of a soak: rates and percentiles over the
// interval, sizes and process figures at its end.
type soakSample struct {
	T               float64            `json:"t_s"` // from the start of the load to the end of the interval
	Seconds         float64            `json:"seconds"`
	Idle            bool               `json:"idle,omitempty"` // taken after the load stopped
	PerSec          map[string]float64 `json:"per_second"`     // per kind and "all"
	P50ms           map[string]float64 `json:"p50_ms"`
	P99ms           map[string]float64 `json:"p99_ms"`
	Errors          int                `json:"errors"`
	WALBytes        int64              `json:"wal_bytes"`
	WALMaxBytes     int64              `json:"wal_max_bytes"` // largest of the 1 s polls in the interval
	DBBytes         int64              `json:"db_bytes"`
	RSSAnonKB       int64              `json:"rss_anon_kb"`
	RSSFileKB       int64              `json:"rss_file_kb"`
	Goroutines      float64            `json:"goroutines"` // -1: /metrics did not answer
	FDs             int                `json:"fds"`
	SSEPerSec       float64            `json:"sse_events_per_second"`
	SSEReconnects   int64              `json:"sse_reconnects"` // since the start
	PostbacksPerSec float64            `json:"postbacks_per_second"`
	CPU             map[string]float64 `json:"cpu_pct"`          // server, load, other: % of one core
	SQLite          map[string]float64 `json:"sqlite,omitempty"` // parley_sqlite_* series, prefix cut

	hist [nKinds]*hist
}

func (s *soakRun) sample(ctx context.Context, start, prev, now time.Time, idle bool) soakSample {
	// A zero interval (an interrupt right after a sample) would put NaN in
	// the JSON line, which encoding/json refuses.
	secs := max(now.Sub(prev).Seconds(), 0.001)
	sm := soakSample{T: now.Sub(start).Seconds(), Seconds: secs, Idle: idle,
		PerSec: map[string]float64{}, P50ms: map[string]float64{}, P99ms: map[string]float64{}}
	var all hist
	for k := range s.rec {
		h, errs := s.rec[k].take()
		sm.hist[k], sm.Errors = h, sm.Errors+errs
		all.merge(h)
		sm.PerSec[kindNames[k]] = float64(h.count) / secs
		sm.P50ms[kindNames[k]], sm.P99ms[kindNames[k]] = ms(h.quantile(0.5)), ms(h.quantile(0.99))
	}
	sm.PerSec["all"] = float64(all.count) / secs
	sm.P50ms["all"], sm.P99ms["all"] = ms(all.quantile(0.5)), ms(all.quantile(0.99))

	sm.WALBytes = fileSize(s.t.db + "-wal")
	sm.WALMaxBytes = max(s.walMax.Swap(sm.WALBytes), sm.WALBytes)
	for m := s.walMaxAll.Load(); sm.WALBytes > m && !s.walMaxAll.CompareAndSwap(m, sm.WALBytes); m = s.walMaxAll.Load() {
	}
	sm.DBBytes = fileSize(s.t.db)
	sm.RSSAnonKB, sm.RSSFileKB = s.t.statusKB("RssAnon"), s.t.statusKB("RssFile")
	sm.FDs = s.t.openFDs()
	sm.Goroutines, sm.SQLite = scrapeSoak(context.WithoutCancel(ctx), s.t)
	sm.SSEPerSec = float64(s.sseEvents.Swap(0)) / secs
	sm.SSEReconnects = s.sseReconnects.Load()
	ticks := [3]int64{cpuTicks(s.t.cmd.Process.Pid), cpuTicks(os.Getpid()), cpuTicks(0)}
	pctOf := func(d int64) float64 { return float64(d) / clockTicks / secs * 100 }
	srv, load := pctOf(ticks[0]-s.cpu[0]), pctOf(ticks[1]-s.cpu[1])
	sm.CPU = map[string]float64{"server": srv, "load": load, "other": max(0, pctOf(ticks[2]-s.cpu[2])-srv-load)}
	s.cpu = ticks
	pb := s.sink.count.Load()
	sm.PostbacksPerSec, s.postbacks = float64(pb-s.postbacks)/secs, pb
	return sm
}

func printSampleHeader() {
	fmt.Printf("# %5s %6s %6s %7s |", "t", "all/s", "p50ms", "p99ms")
	for _, k := range kindNames {
		fmt.Printf(" %13s |", k+"/s p99")
	}
	fmt.Printf(" %6s %6s %6s | %6s %6s | %5s %5s | %6s %5s %5s %4s | %11s | sqlite\n",
		"WAL_MB", "max", "DB_MB", "anonMB", "fileMB", "gor", "fd", "sse/s", "recon", "pb/s", "err", "cpu% s/l/o")
}

func printSample(sm soakSample) {
	t := fmt.Sprintf("%.0fs", sm.T)
	if sm.Idle {
		t = "idle"
	}
	fmt.Printf("%7s %6.0f %6.2f %7.2f |", t, sm.PerSec["all"], sm.P50ms["all"], sm.P99ms["all"])
	for _, k := range kindNames {
		fmt.Printf(" %5.0f %7.2f |", sm.PerSec[k], sm.P99ms[k])
	}
	fmt.Printf(" %6.1f %6.1f %6.1f | %6.1f %6.1f | %5.0f %5d | %6s %5d %5.0f %4d | %3.0f/%3.0f/%3.0f | %s\n",
		mib(sm.WALBytes), mib(sm.WALMaxBytes), mib(sm.DBBytes), float64(sm.RSSAnonKB)/1024, float64(sm.RSSFileKB)/1024,
		sm.Goroutines, sm.FDs, siRate(sm.SSEPerSec), sm.SSEReconnects, sm.PostbacksPerSec, sm.Errors,
		sm.CPU["server"], sm.CPU["load"], sm.CPU["other"], sqliteLine(sm.SQLite))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func siRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// sqliteLine shows the store's series compactly, sizes in MiB and seconds
// in ms; histogram buckets stay in the JSON only.
func sqliteLine(m map[string]float64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !strings.Contains(k, "_bucket") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v, name := m[k], k
		if i := strings.IndexByte(k, '{'); i >= 0 { // checkpoints_total{outcome="busy"} → checkpoints.busy
			name = strings.TrimSuffix(k[:i], "_total") + "." + strings.Trim(k[strings.IndexByte(k, '=')+1:], `"}`)
		}
		switch {
		case strings.HasSuffix(name, "_bytes"):
			fmt.Fprintf(&b, "%s=%.1fMB ", strings.TrimSuffix(name, "_bytes"), v/(1<<20))
		case strings.HasSuffix(name, "_seconds"):
			fmt.Fprintf(&b, "%s=%.1fms ", strings.TrimSuffix(name, "_seconds"), v*1000)
		default:
			fmt.Fprintf(&b, "%s=%g ", name, v)
		}
	}
	return strings.TrimSpace(b.String())
}

// backupResult is the one online backup of a soak.
type backupResult struct {
	AtSeconds   float64 `json:"at_s,omitempty"`
	File        string  `json:"file,omitempty"`
	Bytes       int64   `json:"bytes,omitempty"`
	Seconds     float64 `json:"seconds,omitempty"` // as the command reports it
	WallSeconds float64 `json:"wall_seconds,omitempty"`
	Requests    uint64  `json:"requests_during,omitempty"`
	P99ms       float64 `json:"p99_ms_during,omitempty"`
	MaxMs       float64 `json:"max_ms_during,omitempty"`
	Err         string  `json:"error,omitempty"`
}

// backup runs `parley backup FILE` next to the server, as an operator would
// from cron, and marks the window for the latencies recorded meanwhile.
func (s *soakRun) backup(ctx context.Context, start time.Time) backupResult {
	file := filepath.Join(s.t.dir, "backup.db")
	cmd := exec.CommandContext(ctx, s.t.bin, "backup", file)
	cmd.Env = append(os.Environ(), "PARLEY_DB="+s.t.db, "PARLEY_LOG_LEVEL=warn")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	s.backupFrom.Store(t0.UnixNano())
	err := cmd.Run()
	t1 := time.Now()
	s.backupTo.Store(t1.UnixNano())
	r := backupResult{AtSeconds: t0.Sub(start).Seconds(), WallSeconds: t1.Sub(t0).Seconds()}
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(file + suffix)
		}
	}()
	if err != nil {
		r.Err = fmt.Sprintf("parley backup: %v: %s", err, strings.TrimSpace(stderr.String()))
		fmt.Printf("# warning: backup failed, the soak goes on: %s\n", r.Err)
		return r
	}
	var out struct {
		File    string  `json:"file"`
		Bytes   int64   `json:"bytes"`
		Seconds float64 `json:"seconds"`
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		fmt.Printf("# warning: backup printed %q, not its JSON line\n", stdout.String())
	}
	r.File, r.Bytes, r.Seconds = out.File, out.Bytes, out.Seconds
	if r.Bytes == 0 {
		r.Bytes = fileSize(file)
	}
	fmt.Printf("# backup at %.0fs: %.1f MiB in %.2f s (reported), %.2f s wall\n", r.AtSeconds, mib(r.Bytes), r.Seconds, r.WallSeconds)
	return r
}
