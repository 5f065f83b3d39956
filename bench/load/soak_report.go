package main

import (
	"fmt"
	"sort"
)

// soakCheck is one rule of the verdict.
type soakCheck struct {
	Rule   string `json:"rule"`
	Result string `json:"result"` // PASS, FAIL or SKIP (not enough samples)
	Detail string `json:"detail"`
}

// soakReport goes whole into the JSON result line.
type soakReport struct {
	Pass          bool               `json:"pass"`
	Checks        []soakCheck        `json:"verdict"`
	Notes         []string           `json:"notes,omitempty"`
	Backup        backupResult       `json:"backup"`
	SSEReconnects int64              `json:"sse_reconnects"`
	SSEGaps       int64              `json:"sse_id_gaps"`
	FirstErrors   map[string]string  `json:"first_errors,omitempty"`
	Samples       []soakSample       `json:"samples"`
	Idle          *soakSample        `json:"idle,omitempty"`
	Extra         map[string]float64 `json:"-"`

	total   hist
	errors  int
	seconds float64
}

// window is what the verdict compares: a run of consecutive samples.
type window struct {
	name    string
	samples []soakSample
}

func (w window) ok() bool { return len(w.samples) > 0 }

func (w window) span() string {
	if !w.ok() {
		return w.name + " (no samples)"
	}
	return fmt.Sprintf("%s (%.0f–%.0f s)", w.name, w.samples[0].T-w.samples[0].Seconds, w.samples[len(w.samples)-1].T)
}

func (w window) perSec(kinds ...int) float64 {
	var n uint64
	var secs float64
	for _, s := range w.samples {
		for _, k := range kinds {
			n += s.hist[k].count
		}
		secs += s.Seconds
	}
	return float64(n) / secs
}

func (w window) p99(kinds ...int) float64 {
	var h hist
	for _, s := range w.samples {
		for _, k := range kinds {
			h.merge(s.hist[k])
		}
	}
	return ms(h.quantile(0.99))
}

func (w window) median(f func(soakSample) float64) float64 {
	v := make([]float64, len(w.samples))
	for i, s := range w.samples {
		v[i] = f(s)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

var allKinds = []int{kindSend, kindSync, kindDebounce, kindList}

func (s *soakRun) report(bk backupResult, idle *soakSample) *soakReport {
	o := s.o.soak
	r := &soakReport{Backup: bk, Samples: s.samples, Idle: idle, SSEReconnects: s.sseReconnects.Load(),
		SSEGaps: s.sseGaps.Load(), Extra: map[string]float64{}}
	for k := range s.rec {
		if e := s.rec[k].firstErr; e != "" {
			if r.FirstErrors == nil {
				r.FirstErrors = map[string]string{}
			}
			r.FirstErrors[kindNames[k]] = e
		}
	}
	for _, sm := range s.samples {
		for _, h := range sm.hist {
			r.total.merge(h)
		}
		r.errors += sm.Errors
		r.seconds += sm.Seconds
	}
	if h, _ := s.during.take(); bk.Err == "" {
		r.Backup.Requests, r.Backup.P99ms, r.Backup.MaxMs = h.count, ms(h.quantile(0.99)), ms(h.max)
	}

	// Windows by the samples' nominal times; 1 ms absorbs float rounding.
	const eps = 0.001
	W, I := o.window.Seconds(), o.sample.Seconds()
	end := 0.0
	if n := len(s.samples); n > 0 {
		end = s.samples[n-1].T
	}
	pick := func(name string, from, to float64) window {
		w := window{name: name}
		for _, sm := range s.samples {
			if sm.T-sm.Seconds >= from-eps && sm.T <= to+eps {
				w.samples = append(w.samples, sm)
			}
		}
		return w
	}
	first := pick(fmt.Sprintf("first %g s", W), I, W)
	second := pick(fmt.Sprintf("second %g s", W), W, 2*W)
	last := pick(fmt.Sprintf("last %g s", W), end-W, end)
	if end < 3*W {
		r.Notes = append(r.Notes, fmt.Sprintf("the run (%.0f s) is shorter than three windows of %g s: the windows overlap", end, W))
	}
	r.Notes = append(r.Notes, fmt.Sprintf("the first window leaves out the first sample (0–%g s) as warm-up: connections, caches", I))

	limit := int64(o.walMaxMB+o.walExtraMB) << 20
	walMax := s.walMaxAll.Load()
	r.check("WAL bounded", walMax <= limit, true,
		"max %.1f MiB (polled every 1 s) vs %d MiB = -wal-max-mb %d (PARLEY_WAL_MAX_MB) + one checkpoint's worth %d (-wal-extra-mb)",
		mib(walMax), o.walMaxMB+o.walExtraMB, o.walMaxMB, o.walExtraMB)
	r.Extra["wal_max_mb"], r.Extra["wal_limit_mb"] = mib(walMax), float64(o.walMaxMB+o.walExtraMB)

	both := first.ok() && last.ok()
	fr, lr := 0.0, 0.0
	fp, lp := 0.0, 0.0
	if both {
		fr, lr, fp, lp = first.perSec(allKinds...), last.perSec(allKinds...), first.p99(allKinds...), last.p99(allKinds...)
	}
	r.check("throughput flat", lr >= 0.9*fr, both, "%s %.0f req/s vs %s %.0f req/s: %+.1f %% (FAIL below -10 %%)",
		last.span(), lr, first.span(), fr, pct(lr, fr))
	r.check("p99 flat", lp <= 1.1*fp, both, "%s %.2f ms vs %s %.2f ms: %+.1f %% (FAIL above +10 %%)",
		last.span(), lp, first.span(), fp, pct(lp, fp))
	r.Extra["first_per_second"], r.Extra["last_per_second"], r.Extra["first_p99_ms"], r.Extra["last_p99_ms"] = fr, lr, fp, lp
	if both {
		for k, name := range kindNames {
			if first.perSec(k) > 0 {
				r.Notes = append(r.Notes, fmt.Sprintf("%-8s first %6.0f/s p99 %7.2f ms, last %6.0f/s p99 %7.2f ms (%+.1f %% / %+.1f %%)",
					name, first.perSec(k), first.p99(k), last.perSec(k), last.p99(k), pct(last.perSec(k), first.perSec(k)), pct(last.p99(k), first.p99(k))))
			}
		}
	}

	// Growth is what a leak looks like; a drop passes.
	flat := func(rule string, f func(soakSample) float64, slack float64, unit string) {
		ok := second.ok() && last.ok()
		a, b := 0.0, 0.0
		if ok {
			a, b = second.median(f), last.median(f)
		}
		allowed := max(0.1*a, slack)
		r.check(rule, b <= a+allowed, ok, "median %s %.1f%s vs %s %.1f%s: %+.1f (allowed +%.1f: 10 %% or %.0f%s)",
			last.span(), b, unit, second.span(), a, unit, b-a, allowed, slack, unit)
		r.Extra[rule+"_second"], r.Extra[rule+"_last"] = a, b
	}
	flat("rss_anon_mb", func(s soakSample) float64 { return float64(s.RSSAnonKB) / 1024 }, 20, " MiB")
	flat("goroutines", func(s soakSample) float64 { return s.Goroutines }, 50, "")
	flat("fds", func(s soakSample) float64 { return float64(s.FDs) }, 50, "")

	r.Pass = true
	for _, c := range r.Checks {
		r.Pass = r.Pass && c.Result != "FAIL"
	}
	r.Extra["pass"] = b2f(r.Pass)
	r.Extra["sse_reconnects"], r.Extra["sse_id_gaps"] = float64(r.SSEReconnects), float64(r.SSEGaps)
	if bk.Err == "" {
		r.Extra["backup_seconds"], r.Extra["backup_mb"], r.Extra["backup_max_ms"] = bk.Seconds, mib(bk.Bytes), r.Backup.MaxMs
	}
	if idle != nil {
		r.Extra["idle_wal_mb"] = mib(idle.WALBytes)
	}
	return r
}

func (r *soakReport) check(rule string, pass, applies bool, format string, args ...any) {
	c := soakCheck{Rule: rule, Result: "PASS", Detail: fmt.Sprintf(format, args...)}
	switch {
	case !applies:
		c.Result = "SKIP"
	case !pass:
		c.Result = "FAIL"
	}
	r.Checks = append(r.Checks, c)
}

func pct(v, base float64) float64 {
	if base == 0 {
		return 0
	}
	return (v/base - 1) * 100
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (r *soakReport) print(o options) {
	fmt.Println()
	for _, n := range r.Notes {
		fmt.Println("# note:", n)
	}
	for k, e := range r.FirstErrors {
		fmt.Printf("# first %s error: %s\n", k, e)
	}
	fmt.Printf("# %d requests, %d errors; SSE: %d reconnects after evictions, %d id gaps\n",
		r.total.count, r.errors, r.SSEReconnects, r.SSEGaps)
	if b := r.Backup; b.Err != "" {
		fmt.Println("# backup: none:", b.Err)
	} else {
		fmt.Printf("# backup at %.0f s: %.1f MiB, %.2f s (reported; %.2f s wall); during it %d requests, p99 %.2f ms, max %.2f ms\n",
			b.AtSeconds, mib(b.Bytes), b.Seconds, b.WallSeconds, b.Requests, b.P99ms, b.MaxMs)
	}
	if r.Idle != nil {
		fmt.Printf("# %v after the load stopped: WAL %.1f MiB, database %.1f MiB\n", o.soak.sample, mib(r.Idle.WALBytes), mib(r.Idle.DBBytes))
	}
	fmt.Println("verdict:")
	for _, c := range r.Checks {
		fmt.Printf("  %-4s %-16s %s\n", c.Result, c.Rule, c.Detail)
	}
	v := "PASS"
	if !r.Pass {
		v = "FAIL"
	}
	fmt.Println("  soak:", v)
}

func (r *soakReport) result() result {
	res := result{Requests: int(r.total.count), Errors: r.errors, Seconds: r.seconds, Extra: r.Extra, Soak: r}
	if r.seconds > 0 {
		res.PerSecond = float64(r.total.count) / r.seconds
	}
	res.P50ms, res.P99ms, res.MaxMs = ms(r.total.quantile(0.5)), ms(r.total.quantile(0.99)), ms(r.total.max)
	if n := len(r.Samples); n > 0 {
		res.RSSBytes = (r.Samples[n-1].RSSAnonKB + r.Samples[n-1].RSSFileKB) * 1024
	}
	return res
}
