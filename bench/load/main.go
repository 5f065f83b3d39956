// Command load measures a Parley server under realistic load on this machine:
// it starts the real binary (or targets one with -addr), runs one scenario
// several times and prints a table and one JSON line per run.
//
//	go run ./bench/load -scenario send
//	go run ./bench/load -scenario fanout -subs 5000 -events 200
//	go run ./bench/load -scenario lists -seed -conversations 100000 -messages 1000000
//	go run ./bench/load -scenario soak -duration 10m -samples-csv soak.csv -plot soak.svg
//	PARLEY_AI_CONCURRENCY=4 go run ./bench/load -scenario ai-queue -clients 100
//	go run ./bench/load -scenario postbacks -latency 200ms
//	go run ./bench/load -scenario send -database-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// Scenarios: process-sync, process-debounce, send, fanout, lists, idle, soak,
// ai-queue, postbacks, postback-latency.
// soak runs a mix (sends, sync and debounced AI turns, list reads, 500 SSE
// subscribers) against one server, prints one line per -sample, takes one
// online backup at -backup-at and ends with a PASS/FAIL verdict on the WAL's
// bound and on throughput, p99, RSS, goroutines and descriptors staying flat.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"
)

type options struct {
	scenario      string
	addr, key     string
	db            string
	databaseURL   string // -database-url: run the started server on PostgreSQL
	pgURL         string // a schema's URL made by the scenario itself (lists), used instead of a fresh one
	clients       int
	duration      time.Duration
	runs          int
	leads         int
	subs, events  int
	stalled, pad  int
	seed          bool
	conversations int
	messages      int
	soak          soakOptions
}

func main() {
	var o options
	flag.StringVar(&o.scenario, "scenario", "send", "process-sync, process-debounce, send, fanout, lists, idle, soak, ai-queue, postbacks or postback-latency")
	flag.StringVar(&o.addr, "addr", "", "target this server (http://host:port) instead of starting one")
	flag.StringVar(&o.key, "key", "", "API key of the -addr server")
	flag.StringVar(&o.db, "db", "", "database file for the started server (default: a temporary one per run)")
	flag.StringVar(&o.databaseURL, "database-url", "", "postgres://…: run the started server on PostgreSQL (PARLEY_DATABASE_URL), each run in a fresh schema parley_load_<random>, dropped after it")
	flag.IntVar(&o.clients, "clients", 32, "concurrent clients")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long each run sends requests (soak: 10m)")
	flag.IntVar(&o.runs, "runs", 3, "runs; the summary shows their median (soak: 1)")
	flag.IntVar(&o.leads, "leads", 10000, "distinct leads the requests spread over")
	flag.IntVar(&o.subs, "subs", 1000, "fanout, soak (500): SSE subscribers")
	flag.IntVar(&o.events, "events", 200, "fanout: messages published (each makes 2 events)")
	flag.IntVar(&o.stalled, "stalled", 0, "fanout: extra subscribers that never read (they must be disconnected)")
	flag.IntVar(&o.pad, "pad", 0, "fanout: bytes of padding per message (fills a stalled reader's socket sooner)")
	flag.BoolVar(&o.seed, "seed", false, "lists: build the database first (directly through the store)")
	flag.IntVar(&o.conversations, "conversations", 100000, "lists: conversations to seed")
	flag.IntVar(&o.messages, "messages", 1000000, "lists: messages to seed")
	flag.StringVar(&o.soak.mix, "mix", "send=16,sync=8,debounce=4,list=4", "soak: clients per kind (send, sync, debounce, list)")
	flag.DurationVar(&o.soak.sample, "sample", 10*time.Second, "soak: sampling interval")
	flag.DurationVar(&o.soak.window, "window", time.Minute, "soak: the first/second/last windows the verdict compares")
	flag.DurationVar(&o.soak.backupAt, "backup-at", 0, "soak: when to run `parley backup` (default half of -duration; 0 turns it off)")
	flag.IntVar(&o.soak.walMaxMB, "wal-max-mb", 64, "soak: the server's PARLEY_WAL_MAX_MB the verdict holds the WAL to")
	flag.IntVar(&o.soak.walExtraMB, "wal-extra-mb", 64, "soak: one checkpoint's worth of WAL allowed above -wal-max-mb")
	flag.Float64Var(&o.soak.rate, "rate", 0, "soak: cap the mix at this many requests/s in all, shared by the clients (0: no cap)")
	flag.StringVar(&o.soak.samplesCSV, "samples-csv", "", "soak: write the samples to this CSV file")
	flag.StringVar(&o.soak.plot, "plot", "", "soak: write an SVG chart of WAL, throughput and latency to this file")
	flag.Parse()
	if o.scenario == "soak" {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		soakDefaults(&o, set)
	}
	if o.databaseURL != "" && o.scenario == "soak" {
		// soak's verdict is about SQLite's WAL file and its backups.
		fmt.Fprintln(os.Stderr, "load: -database-url does not apply to soak")
		os.Exit(2)
	}
	raiseFileLimit()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run, ok := scenarios[o.scenario]
	if !ok {
		fmt.Fprintf(os.Stderr, "load: unknown scenario %q\n", o.scenario)
		os.Exit(2)
	}
	var results []result
	for i := 0; i < o.runs && ctx.Err() == nil; i++ {
		r, err := run(ctx, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		r.Scenario, r.Run = o.scenario, i+1
		line, _ := json.Marshal(r)
		fmt.Println(string(line))
		results = append(results, r)
	}
	printTable(results)
}

// result is one run's figures; zero fields are left out of the JSON line.
type result struct {
	Scenario    string             `json:"scenario"`
	Run         int                `json:"run"`
	Requests    int                `json:"requests,omitempty"`
	Errors      int                `json:"errors"`
	Seconds     float64            `json:"seconds,omitempty"`
	PerSecond   float64            `json:"per_second,omitempty"`
	P50ms       float64            `json:"p50_ms,omitempty"`
	P99ms       float64            `json:"p99_ms,omitempty"`
	MaxMs       float64            `json:"max_ms,omitempty"`
	Lost        int                `json:"lost"`
	RSSBytes    int64              `json:"rss_bytes,omitempty"`
	RSSPerSubKB float64            `json:"rss_per_subscriber_kb,omitempty"`
	Extra       map[string]float64 `json:"extra,omitempty"`
	Soak        *soakReport        `json:"soak,omitempty"`
}

type scenarioFunc func(ctx context.Context, o options) (result, error)

var scenarios = map[string]scenarioFunc{
	"process-sync":     processSync,
	"process-debounce": processDebounce,
	"send":             send,
	"fanout":           fanout,
	"lists":            lists,
	"idle":             idle,
	"soak":             soak,
	"ai-queue":         aiQueue,
	"postbacks":        postbacks,
	"postback-latency": postbackLatency,
}

func printTable(rs []result) {
	if len(rs) == 0 {
		return
	}
	med := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	fmt.Printf("\n%-18s %6s %12s %9s %9s %9s %6s %6s %10s\n", "scenario", "runs", "per_second", "p50_ms", "p99_ms", "max_ms", "lost", "errors", "rss_MB")
	fmt.Printf("%-18s %6d %12.0f %9.2f %9.2f %9.2f %6.0f %6.0f %10.1f   (medians)\n", rs[0].Scenario, len(rs),
		med(func(r result) float64 { return r.PerSecond }), med(func(r result) float64 { return r.P50ms }),
		med(func(r result) float64 { return r.P99ms }), med(func(r result) float64 { return r.MaxMs }),
		med(func(r result) float64 { return float64(r.Lost) }), med(func(r result) float64 { return float64(r.Errors) }),
		med(func(r result) float64 { return float64(r.RSSBytes) / (1 << 20) }))
	keys := map[string]bool{}
	for _, r := range rs {
		for k := range r.Extra {
			keys[k] = true
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Printf("  %-30s %12.3f (median)\n", k, med(func(r result) float64 { return r.Extra[k] }))
	}
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
