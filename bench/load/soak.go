package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soakOptions are the soak scenario's own flags.
type soakOptions struct {
	mix        string
	sample     time.Duration
	window     time.Duration
	backupAt   time.Duration
	walMaxMB   int
	walExtraMB int
	samplesCSV string
	plot       string
	rate       float64
}

// parseMix reads "send=16,sync=8,debounce=4,list=4" (kinds left out get no
// clients).
func parseMix(s string) ([nKinds]int, error) {
	var n [nKinds]int
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		c, err := strconv.Atoi(v)
		i := -1
		for j, name := range kindNames {
			if name == k {
				i = j
			}
		}
		if !ok || err != nil || c < 0 || i < 0 {
			return n, fmt.Errorf("bad -mix entry %q: want kind=clients with kind among %s", part, strings.Join(kindNames[:], ", "))
		}
		n[i] = c
	}
	return n, nil
}

// soakDefaults gives soak its own defaults for the shared flags the command
// line left unset.
func soakDefaults(o *options, set map[string]bool) {
	if !set["duration"] {
		o.duration = 10 * time.Minute
	}
	if !set["runs"] {
		o.runs = 1
	}
	if !set["subs"] {
		o.subs = 500
	}
	if !set["backup-at"] {
		o.soak.backupAt = o.duration / 2
	}
	// The mix must be the same in the tenth minute as in the first: every
	// kind's leads (and so its conversations) exist within the first
	// seconds, so that the rest of the run adds messages, not conversations
	// (each new conversation makes the lists recount their totals).
	if !set["leads"] {
		o.leads = 2000
	}
}

// soakRun is the state shared by the mix's workers, the subscribers and
// the sampler of one soak.
type soakRun struct {
	o    options
	t    *target
	sink *sink
	rec  [nKinds]recorder

	sseEvents, sseReconnects, sseGaps atomic.Int64

	walMax    atomic.Int64 // largest WAL seen by the 1 s poll since the last sample
	walMaxAll atomic.Int64

	// The backup's window in Unix ns (to is 0 while it runs): requests that
	// overlap it are recorded again in during.
	backupFrom, backupTo atomic.Int64
	during               recorder

	postbacks int64    // the sink's count at the last sample
	cpu       [3]int64 // server, load tool, machine: ticks at the last sample
	samples   []soakSample
}

func soak(ctx context.Context, o options) (result, error) {
	if o.addr != "" {
		return result{}, errors.New("soak: needs the server it starts (it reads the database files and /proc), not -addr")
	}
	mix, err := parseMix(o.soak.mix)
	if err != nil {
		return result{}, err
	}
	if o.soak.sample <= 0 {
		return result{}, errors.New("soak: -sample must be positive")
	}
	s := &soakRun{o: o, sink: newSink()}
	defer s.sink.Close()
	if s.t, err = startTarget(ctx, o); err != nil {
		return result{}, err
	}
	defer s.t.stop()
	// Sends need existing leads (not measured); the AI turns create theirs.
	if mix[kindSend] > 0 {
		fmt.Printf("# creating %d leads\n", o.leads)
		if err := makeLeads(ctx, s.t, o); err != nil {
			return result{}, err
		}
	}
	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	var subs sync.WaitGroup
	for i := 0; i < o.subs; i++ {
		sub, br, err := dialStream(s.t)
		if err != nil {
			return result{}, fmt.Errorf("subscriber %d: %w", i, err)
		}
		subs.Add(1)
		go s.follow(subCtx, &subs, sub, br)
	}
	rate := "as fast as they go"
	if o.soak.rate > 0 {
		rate = fmt.Sprintf("capped at %.0f req/s", o.soak.rate)
	}
	fmt.Printf("# soak: %v, mix %s (%s), %d SSE subscribers, a sample every %v, database %s\n",
		o.duration, o.soak.mix, rate, o.subs, o.soak.sample, s.t.db)
	printSampleHeader()

	start := time.Now()
	end := start.Add(o.duration)
	s.cpu = [3]int64{cpuTicks(s.t.cmd.Process.Pid), cpuTicks(os.Getpid()), cpuTicks(0)}
	var pace time.Duration
	if o.soak.rate > 0 {
		total := 0
		for _, n := range mix {
			total += n
		}
		pace = time.Duration(float64(total) / o.soak.rate * float64(time.Second))
	}
	loadCtx, stopLoad := context.WithDeadline(ctx, end)
	defer stopLoad()
	var workers sync.WaitGroup
	for kind, n := range mix {
		req := s.request(kind)
		var seq atomic.Int64
		for w := 0; w < n; w++ {
			workers.Add(1)
			go s.worker(loadCtx, &workers, kind, &seq, pace, req)
		}
	}
	go s.pollWAL(loadCtx)
	backupDone := make(chan backupResult, 1)
	if at := o.soak.backupAt; at > 0 && at < o.duration {
		go func() {
			select {
			case <-time.After(time.Until(start.Add(at))):
				backupDone <- s.backup(ctx, start)
			case <-loadCtx.Done():
				backupDone <- backupResult{Err: "the run ended before the backup was due"}
			}
		}()
	} else {
		backupDone <- backupResult{Err: "off (-backup-at 0)"}
	}

	prev := start
	for i := 1; ; i++ {
		next := start.Add(time.Duration(i) * o.soak.sample)
		if next.After(end) {
			next = end
		}
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
			next = time.Now()
		}
		// A request still in flight at the deadline is cancelled and not
		// counted, so the last sample is taken after the workers are gone.
		if !next.Before(end) || ctx.Err() != nil {
			stopLoad()
			workers.Wait()
		}
		sm := s.sample(ctx, start, prev, next, false)
		s.samples = append(s.samples, sm)
		printSample(sm)
		prev = next
		if !next.Before(end) || ctx.Err() != nil {
			break
		}
	}
	bk := <-backupDone

	// One more sample with the load stopped and the subscribers still on:
	// does the WAL give its space back once writes pause?
	var idle *soakSample
	if ctx.Err() == nil {
		time.Sleep(o.soak.sample)
		sm := s.sample(ctx, start, prev, time.Now(), true)
		idle = &sm
		printSample(sm)
	}
	stopSubs()
	subs.Wait()

	rep := s.report(bk, idle)
	rep.print(o)
	if err := rep.writeFiles(o); err != nil {
		fmt.Println("# warning:", err)
	}
	return rep.result(), nil
}

// request makes one request of a kind. Each kind has its own leads so that
// a sync turn never waits on a debounced one for the same conversation.
func (s *soakRun) request(kind int) func(ctx context.Context, n int) error {
	t, o := s.t, s.o
	lead := func(prefix string, n int) string { return fmt.Sprintf("%s%08d@s.whatsapp.net", prefix, n%o.leads) }
	switch kind {
	case kindSend:
		return func(ctx context.Context, n int) error {
			return t.call(ctx, "POST", "/backend/messages/send", map[string]any{"lead_id": leadID(o, n),
				"content": fmt.Sprintf("Olá! Aqui é a Maria, mensagem %d.", n)}, nil)
		}
	case kindSync:
		return func(ctx context.Context, n int) error {
			return t.call(ctx, "POST", "/ai/process", map[string]any{"tenant_id": t.tenant, "lead_id": lead("55118", n),
				"role": "user", "content": fmt.Sprintf("mensagem %d: quanto custa o plano?", n), "message_type": "text"}, nil)
		}
	case kindDebounce:
		return func(ctx context.Context, n int) error {
			return t.call(ctx, "POST", "/ai/process", map[string]any{"tenant_id": t.tenant, "lead_id": lead("55117", n),
				"role": "user", "content": fmt.Sprintf("oi %d", n), "message_type": "text", "debounce": true,
				"postback_url": s.sink.URL}, nil)
		}
	default: // the two lists an agent's screen reads most
		return func(ctx context.Context, n int) error {
			path := "/backend/conversations?limit=20"
			if n%2 == 1 {
				path = "/backend/messages/" + leadID(o, n*7919) + "?limit=50"
			}
			code, b, err := t.do(ctx, "GET", path, nil)
			if err == nil && code != 200 {
				err = fmt.Errorf("GET %s: %d %s", path, code, b)
			}
			return err
		}
	}
}

// worker is a closed-loop client; with a pace it starts a request at most
// every pace, and one that fell behind starts at once but does not catch up
// (a cap, not an open-loop schedule).
func (s *soakRun) worker(ctx context.Context, wg *sync.WaitGroup, kind int, seq *atomic.Int64, pace time.Duration,
	req func(context.Context, int) error) {
	defer wg.Done()
	next := time.Now()
	for ctx.Err() == nil {
		if pace > 0 {
			if wait := time.Until(next); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			next = next.Add(pace)
			if now := time.Now(); now.Sub(next) > pace {
				next = now
			}
		}
		n := int(seq.Add(1))
		t0 := time.Now()
		err := req(ctx, n)
		if ctx.Err() != nil {
			return // cut by the end of the run: not a sample
		}
		d := time.Since(t0)
		s.rec[kind].record(d, err)
		if from := s.backupFrom.Load(); err == nil && from != 0 {
			if to := s.backupTo.Load(); t0.Add(d).UnixNano() > from && (to == 0 || t0.UnixNano() < to) {
				s.during.record(d, nil)
			}
		}
	}
}

// follow reads one subscriber's stream for the whole run. An evicted reader
// comes back with Last-Event-ID, as EventSource would, and is counted.
func (s *soakRun) follow(ctx context.Context, wg *sync.WaitGroup, sub *subscriber, br *bufio.Reader) {
	defer wg.Done()
	var last int64
	for {
		stop := context.AfterFunc(ctx, func() { sub.conn.Close() })
		if body, err := sseBody(br); err == nil {
			last = s.readEvents(body, last)
		}
		stop()
		sub.conn.Close()
		for {
			if ctx.Err() != nil {
				return
			}
			var err error
			if sub, br, err = dialStreamAfter(s.t, last); err == nil {
				s.sseReconnects.Add(1)
				break
			}
			time.Sleep(time.Second)
		}
	}
}

// sseBody skips the response headers and undoes chunked framing, which
// would otherwise split lines wherever a flush cut an event.
func sseBody(br *bufio.Reader) (*bufio.Reader, error) {
	chunked := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line == "\r\n" || line == "\n" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		chunked = chunked || strings.EqualFold(k, "Transfer-Encoding") && strings.Contains(strings.ToLower(v), "chunked")
	}
	if !chunked {
		return br, nil
	}
	return bufio.NewReaderSize(httputil.NewChunkedReader(br), 4096), nil
}

// readEvents counts events until the connection ends and returns the last id.
func (s *soakRun) readEvents(br *bufio.Reader, last int64) int64 {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return last
		}
		if rest, ok := bytes.CutPrefix(line, []byte("id: ")); ok {
			id, _ := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
			if last != 0 && id != last+1 {
				s.sseGaps.Add(1)
			}
			last = id
			s.sseEvents.Add(1)
		}
	}
}

// pollWAL watches the WAL every second: its peak can fall between samples.
func (s *soakRun) pollWAL(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		w := fileSize(s.t.db + "-wal")
		for m := s.walMax.Load(); w > m && !s.walMax.CompareAndSwap(m, w); m = s.walMax.Load() {
		}
		for m := s.walMaxAll.Load(); w > m && !s.walMaxAll.CompareAndSwap(m, w); m = s.walMaxAll.Load() {
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}
