package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
)

// The samples as CSV, and a plain SVG so that a soak can be looked at (or
// turned into the PNG BENCHMARKS.md wants, e.g. with rsvg-convert) without
// a plotting dependency.

type plotLine struct {
	label, color string
	y            func(soakSample) float64
}

type plotPanel struct {
	title string
	lines []plotLine
	limit float64 // a dashed horizontal line when > 0
}

const (
	plotW, plotLeft, plotRight   = 900, 70, 150
	plotTop, plotPanelH, plotGap = 30, 170, 45
)

func (r *soakReport) svg(o options) []byte {
	panels := []plotPanel{
		{title: "WAL and database (MiB)", limit: float64(o.soak.walMaxMB + o.soak.walExtraMB), lines: []plotLine{
			{"WAL (peak)", "#d62728", func(s soakSample) float64 { return mib(s.WALMaxBytes) }},
			{"database", "#1f77b4", func(s soakSample) float64 { return mib(s.DBBytes) }},
		}},
		{title: "throughput (requests/s)", lines: []plotLine{
			{"all", "#000000", func(s soakSample) float64 { return s.PerSec["all"] }},
			{"send", "#1f77b4", func(s soakSample) float64 { return s.PerSec["send"] }},
			{"sync", "#2ca02c", func(s soakSample) float64 { return s.PerSec["sync"] }},
			{"debounce", "#9467bd", func(s soakSample) float64 { return s.PerSec["debounce"] }},
			{"list", "#ff7f0e", func(s soakSample) float64 { return s.PerSec["list"] }},
		}},
		{title: "latency over all requests (ms)", lines: []plotLine{
			{"p99", "#d62728", func(s soakSample) float64 { return s.P99ms["all"] }},
			{"p50", "#1f77b4", func(s soakSample) float64 { return s.P50ms["all"] }},
		}},
	}
	height := plotTop + len(panels)*(plotPanelH+plotGap)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", plotW, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	tMax := 1.0
	if n := len(r.Samples); n > 0 {
		tMax = r.Samples[n-1].T
	}
	innerW := float64(plotW - plotLeft - plotRight)
	x := func(t float64) float64 { return plotLeft + t/tMax*innerW }
	for i, p := range panels {
		top := float64(plotTop + i*(plotPanelH+plotGap))
		yMax := p.limit * 1.05
		for _, l := range p.lines {
			for _, s := range r.Samples {
				yMax = max(yMax, l.y(s))
			}
		}
		yMax = niceCeil(yMax)
		y := func(v float64) float64 { return top + plotPanelH - v/yMax*plotPanelH }
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", plotLeft, top-8, p.title)
		for g := 0; g <= 4; g++ {
			v := yMax * float64(g) / 4
			fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, plotLeft, x(tMax), y(v), y(v))
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", plotLeft-5, y(v)+4, v)
		}
		for g := 0; g <= 10; g++ {
			t := tMax * float64(g) / 10
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#666">%s</text>`, x(t), top+plotPanelH+14, plotTime(t))
		}
		if p.limit > 0 {
			fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="6,4"/>`, plotLeft, x(tMax), y(p.limit), y(p.limit))
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" fill="#d62728">limit %g</text>`+"\n", x(tMax)+5, y(p.limit)+4, p.limit)
		}
		if bk := r.Backup; bk.Err == "" && bk.AtSeconds > 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#888" stroke-dasharray="2,3"/>`,
				x(bk.AtSeconds), x(bk.AtSeconds), top, top+plotPanelH)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" fill="#888">backup</text>`+"\n", x(bk.AtSeconds)+3, top+10)
		}
		legend := 0
		for _, l := range p.lines {
			var pts bytes.Buffer
			nonzero := false
			for _, s := range r.Samples {
				fmt.Fprintf(&pts, "%.1f,%.1f ", x(s.T), y(l.y(s)))
				nonzero = nonzero || l.y(s) != 0
			}
			if !nonzero { // a kind the mix left out
				continue
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", l.color, pts.String())
			ly := top + 12 + float64(legend)*14
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, x(tMax)+10, x(tMax)+25, ly+20, ly+20, l.color)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">%s</text>`+"\n", x(tMax)+30, ly+24, l.label)
			legend++
		}
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, so that the four
// grid steps fall on readable values.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 4, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func plotTime(t float64) string {
	if t >= 120 {
		return fmt.Sprintf("%gm", math.Round(t/6)/10)
	}
	return fmt.Sprintf("%.0fs", t)
}

func (r *soakReport) writeFiles(o options) error {
	if o.soak.samplesCSV != "" {
		if err := r.writeCSV(o.soak.samplesCSV); err != nil {
			return err
		}
		fmt.Println("# samples written to", o.soak.samplesCSV)
	}
	if o.soak.plot != "" {
		if err := os.WriteFile(o.soak.plot, r.svg(o), 0o644); err != nil {
			return err
		}
		fmt.Println("# plot written to", o.soak.plot)
	}
	return nil
}

func (r *soakReport) writeCSV(path string) error {
	rows := r.Samples
	if r.Idle != nil {
		rows = append(rows[:len(rows):len(rows)], *r.Idle)
	}
	series := map[string]bool{}
	for _, s := range rows {
		for k := range s.SQLite {
			series[k] = true
		}
	}
	names := make([]string, 0, len(series))
	for k := range series {
		names = append(names, k)
	}
	sort.Strings(names)
	head := []string{"t_s", "seconds", "idle", "all_per_s", "all_p50_ms", "all_p99_ms"}
	for _, k := range kindNames {
		head = append(head, k+"_per_s", k+"_p50_ms", k+"_p99_ms")
	}
	head = append(head, "errors", "wal_mib", "wal_max_mib", "db_mib", "rss_anon_mib", "rss_file_mib", "goroutines", "fds",
		"sse_events_per_s", "sse_reconnects", "postbacks_per_s", "cpu_server_pct", "cpu_load_pct", "cpu_other_pct")
	for _, n := range names {
		head = append(head, "sqlite_"+n)
	}
	f := func(v float64) string { return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64) }
	out := [][]string{head}
	for _, s := range rows {
		row := []string{f(s.T), f(s.Seconds), strconv.FormatBool(s.Idle), f(s.PerSec["all"]), f(s.P50ms["all"]), f(s.P99ms["all"])}
		for _, k := range kindNames {
			row = append(row, f(s.PerSec[k]), f(s.P50ms[k]), f(s.P99ms[k]))
		}
		row = append(row, strconv.Itoa(s.Errors), f(mib(s.WALBytes)), f(mib(s.WALMaxBytes)), f(mib(s.DBBytes)),
			f(float64(s.RSSAnonKB)/1024), f(float64(s.RSSFileKB)/1024), f(s.Goroutines), strconv.Itoa(s.FDs),
			f(s.SSEPerSec), strconv.FormatInt(s.SSEReconnects, 10), f(s.PostbacksPerSec),
			f(s.CPU["server"]), f(s.CPU["load"]), f(s.CPU["other"]))
		for _, n := range names {
			v, ok := s.SQLite[n]
			if ok {
				row = append(row, f(v))
			} else {
				row = append(row, "")
			}
		}
		out = append(out, row)
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(fh)
	w.WriteAll(out)
	if err := w.Error(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
