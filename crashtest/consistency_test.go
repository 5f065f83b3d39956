package crashtest

// TestCrashConsistency is the crash-consistency test of the real binary
// (issue 8, API.md §5, §3.5, §3.6, §2): four goroutines send a mix of sync
// /ai/process turns, debounced messages, operator sends and lead creations
// while the server is SIGKILLed at a random moment 50–400 ms into each life
// and restarted on the same database. Afterwards it checks that every request
// answered 2xx is stored exactly once, that every debounced message got exactly
// one postback, that every outbox row was delivered, that each conversation's
// (or lead's) deliveries were first accepted in commit order, that event ids
// have no gap, and that the database is sound (see consistency_check_test.go).
//
// Requests whose connection broke are "unknown": neither counted as
// acknowledged nor required absent. At the end, the /ai/process ones are sent
// again, as a gateway would retry them, and must then behave as any other
// acknowledged request (one stored message, one answer, one postback).
//
// Modes:
//   - default (`go test ./...`, or -short): 5 kills, about 4 s;
//   - PARLEY_CRASH_FULL=1 (and not -short): 20 kills, about 9 s;
//   - PARLEY_CRASH_KILLS=n: n kills (overrides both);
//   - PARLEY_CRASH_SEED=s: replay a logged seed (kill moments and request mix;
//     the exact interleaving with the server still varies).
//
// With PARLEY_TEST_DATABASE_URL set, every test of the package runs a second
// time on PostgreSQL (TestMain), each in a schema of its own.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/storetest"
)

const (
	crashWorkers   = 4
	syncLeads      = 4  // sync turns go to sync-0..3, shared by the workers
	debLeads       = 12 // debounced messages go to deb-0..11: a few per lead, so that batches also fire mid-life
	sendLeads      = 2  // operator sends go to send-0..1
	resendPerKind  = 12
	settleTimeout  = 30 * time.Second
	quietPeriod    = 1500 * time.Millisecond
	requestTimeout = 15 * time.Second
)

var crashEnv = []string{
	"PARLEY_DELIVERY_RETRY_SCHEDULE=200ms,200ms,200ms,200ms,200ms",
	"PARLEY_BUILTIN_DELAY=20ms",               // so that kills land mid-turn
	"PARLEY_BUILTIN_REPLY=You said: {{text}}", // checkSyncAnswers pairs answers with messages by it
	"PARLEY_DELIVERY_TIMEOUT=5s",
}

// ack is the first 2xx answer to a request.
type ack struct {
	lead    string
	body    map[string]any
	req     map[string]any
	retried bool // was unknown during the kills and sent again at the end
}

// ledger is what the clients know: what was acknowledged, what is unknown.
type ledger struct {
	mu      sync.Mutex
	sync    map[string]*ack   // external_id → sync /ai/process answer (200)
	deb     map[string]*ack   // external_id → debounced /ai/process answer (202)
	sends   map[string]string // content → message id (201)
	leads   map[string]string // name → lead id (201)
	unknown map[string]int    // kind → requests whose connection broke
	retry   []*ack            // unknown /ai/process requests, sent again at the end
	bad     []string          // unexpected statuses
}

func crashKills(t *testing.T) int {
	if s := os.Getenv("PARLEY_CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("PARLEY_CRASH_KILLS=%q: want a positive integer", s)
		}
		return n
	}
	if os.Getenv("PARLEY_CRASH_FULL") == "1" && !testing.Short() {
		return 20
	}
	return 5
}

func TestCrashConsistency(t *testing.T) {
	kills := crashKills(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PARLEY_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PARLEY_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("%s: seed %d (PARLEY_CRASH_SEED=%d to replay), %d kills", storetest.Engine(), seed, seed, kills)
	rng := rand.New(rand.NewPCG(seed, 0))
	began := time.Now()

	db := storetest.Target(t)
	// While the kills go on, one delivery in ten fails its first attempt, so
	// that retries are pending across kills and later deliveries of the same
	// conversation wait behind them. (Not at the end: each failure holds its
	// conversation for a retry step.)
	var flakyOn atomic.Bool
	flakyOn.Store(true)
	flaky := func(id string, attempt int) bool {
		return flakyOn.Load() && attempt == 1 && crc32.ChecksumIEEE([]byte(id))%10 == 0
	}
	rcPost, rcHook := newReceiver(t, flaky), newReceiver(t, flaky)
	lg := &ledger{sync: map[string]*ack{}, deb: map[string]*ack{}, sends: map[string]string{}, leads: map[string]string{},
		unknown: map[string]int{}}

	var p *proc
	var tenant string
	for life := 0; life <= kills; life++ {
		p = startParley(t, db, crashEnv...)
		if life == 0 {
			tenant = p.tenantID()
			p.must("PUT", "/backend/assistants/"+p.defaultAssistant(), map[string]any{"debounce_seconds": 0.2,
				"debounce_max_wait_seconds": 1}, http.StatusOK, nil)
			p.must("POST", "/backend/webhooks", map[string]any{"url": rcHook.srv.URL + "/hook",
				"events": []string{"lead.created", "message.received", "ai.response", "message.sent"}}, http.StatusCreated, nil)
			for i := range sendLeads {
				p.must("POST", "/backend/leads", map[string]any{"id": fmt.Sprintf("send-%d", i)}, http.StatusCreated, nil)
			}
		}
		if life == kills {
			break // the last life runs until the checks are done
		}
		ctx, cancel := context.WithCancel(context.Background())
		tr := &http.Transport{}
		client := &http.Client{Transport: tr, Timeout: requestTimeout}
		var wg sync.WaitGroup
		for w := range crashWorkers {
			wrng := rand.New(rand.NewPCG(seed, uint64(life*crashWorkers+w+1)))
			wg.Go(func() {
				lg.work(ctx, client, p.base, tenant, rcPost.srv.URL+"/cb", wrng, fmt.Sprintf("L%d-w%d", life, w))
			})
		}
		time.Sleep(time.Duration(50+rng.IntN(351)) * time.Millisecond)
		cancel() // no new requests: those in flight break at the kill and are unknown
		p.kill()
		wg.Wait()
		tr.CloseIdleConnections()
	}
	t.Logf("load done after %v", time.Since(began).Round(time.Millisecond))
	flakyOn.Store(false)

	// A gateway retries what it never got an answer to.
	for _, a := range lg.retry {
		want := http.StatusOK
		if a.req["debounce"] == true {
			want = http.StatusAccepted
		}
		code, body, err := post(http.DefaultClient, p.base, "/ai/process", a.req)
		if err != nil || code != want {
			t.Errorf("retry of unknown %s: status %d, err %v, body %s (want %d)", a.req["external_id"], code, err, body, want)
			continue
		}
		json.Unmarshal(body, &a.body)
		a.retried = true
		if want == http.StatusOK {
			lg.sync[a.req["external_id"].(string)] = a
		} else {
			lg.deb[a.req["external_id"].(string)] = a
		}
	}
	for _, b := range lg.bad {
		t.Errorf("unexpected answer during the load: %s", b)
	}

	// Everything owed is sent while the server runs: every debounced message
	// is in a postback and the outbox is empty.
	settled := waitUntil(settleTimeout, func() bool {
		return deliveryCount(p, "pending") == 0 && len(uncovered(lg, rcPost)) == 0
	})
	time.Sleep(quietPeriod) // room for a late duplicate
	if !settled {
		t.Errorf("not settled after %v: %d deliveries pending, %d debounced messages without a postback",
			settleTimeout, deliveryCount(p, "pending"), len(uncovered(lg, rcPost)))
	}

	resent := resendSample(t, p, lg, rng)
	if n := deliveryCount(p, "pending"); n != 0 {
		t.Errorf("%d deliveries pending after the quiet period (want none)", n)
	}
	if n := deliveryCount(p, "failed"); n != 0 {
		t.Errorf("%d deliveries failed (want none)", n)
	}
	p.kill()

	c := checkDatabase(t, db, tenant, lg, rcPost, rcHook)
	c.kills, c.resent = kills, resent
	c.log(t, lg)
	t.Logf("total %v", time.Since(began).Round(time.Millisecond))
	if t.Failed() {
		logFile := filepath.Join(os.TempDir(), fmt.Sprintf("parley-crash-%d.log", seed))
		os.WriteFile(logFile, []byte(p.log()), 0o644)
		t.Logf("seed %d; the last server's log is in %s; its end:\n%s", seed, logFile, tail(p.log(), 20))
	}
}

// work sends a mix of requests until ctx ends (the server was killed).
func (lg *ledger) work(ctx context.Context, client *http.Client, base, tenant, postback string, rng *rand.Rand, prefix string) {
	for n := 0; ctx.Err() == nil; n++ {
		uniq := fmt.Sprintf("%s-%d", prefix, n)
		switch r := rng.IntN(100); {
		case r < 65: // 30% sync turns, 35% debounced messages
			debounced := r >= 30
			kind, lead, want := "sync", fmt.Sprintf("sync-%d", rng.IntN(syncLeads)), http.StatusOK
			req := map[string]any{"tenant_id": tenant, "role": "user", "message_type": "text", "content": "hello " + uniq}
			if debounced {
				kind, lead, want = "debounced", fmt.Sprintf("deb-%d", rng.IntN(debLeads)), http.StatusAccepted
				req["debounce"], req["postback_url"] = true, postback
			}
			req["lead_id"], req["external_id"] = lead, kind+"-"+uniq
			code, body, err := post(client, base, "/ai/process", req)
			a := &ack{lead: lead, req: req}
			lg.record(kind, code, want, body, err, func() {
				json.Unmarshal(body, &a.body)
				if debounced {
					lg.deb[kind+"-"+uniq] = a
				} else {
					lg.sync[kind+"-"+uniq] = a
				}
			}, func() { lg.retry = append(lg.retry, a) })
		case r < 80:
			content := "operator " + uniq
			code, body, err := post(client, base, "/backend/messages/send",
				map[string]any{"lead_id": fmt.Sprintf("send-%d", rng.IntN(sendLeads)), "content": content})
			lg.record("send", code, http.StatusCreated, body, err, func() { lg.sends[content] = dataID(body) }, nil)
		default:
			name := "lead-" + uniq
			code, body, err := post(client, base, "/backend/leads", map[string]any{"name": name})
			lg.record("lead", code, http.StatusCreated, body, err, func() { lg.leads[name] = dataID(body) }, nil)
		}
	}
}

// record files one answer: acknowledged (onAck), unknown (onUnknown) or bad.
func (lg *ledger) record(kind string, code, want int, body []byte, err error, onAck, onUnknown func()) {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	switch {
	case err != nil:
		lg.unknown[kind]++
		if onUnknown != nil {
			onUnknown()
		}
	case code == want:
		onAck()
	default:
		lg.bad = append(lg.bad, fmt.Sprintf("%s: status %d (want %d): %s", kind, code, want, body))
	}
}

// resendSample sends a sample of acknowledged /ai/process requests again:
// each must get its first answer back and store nothing.
func resendSample(t *testing.T, p *proc, lg *ledger, rng *rand.Rand) int {
	var sample []*ack
	for _, m := range []map[string]*ack{lg.sync, lg.deb} {
		var all []*ack
		for _, a := range m {
			all = append(all, a)
		}
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		sample = append(sample, all[:min(resendPerKind, len(all))]...)
	}
	before := map[string]int{}
	for _, a := range sample {
		before[a.lead] = leadMessageCount(t, p, a.lead)
	}
	for _, a := range sample {
		code, body, err := post(http.DefaultClient, p.base, "/ai/process", a.req)
		var got map[string]any
		json.Unmarshal(body, &got)
		if err != nil || code/100 != 2 || !jsonEqual(got, a.body) {
			t.Errorf("resent %s: status %d, err %v, answer %s; first answer was %v", a.req["external_id"], code, err, body, a.body)
		}
	}
	time.Sleep(300 * time.Millisecond) // a debounced duplicate would have fired by now
	for lead, n := range before {
		if after := leadMessageCount(t, p, lead); after != n {
			t.Errorf("lead %s: %d messages before resending acknowledged requests, %d after", lead, n, after)
		}
	}
	return len(sample)
}

// uncovered lists the acknowledged debounced message ids that no accepted
// postback carries yet.
func uncovered(lg *ledger, rc *receiver) []string {
	_, bodies, _ := rc.snapshot()
	seen := map[string]bool{}
	for _, b := range bodies {
		var pb struct {
			MessageIDs []string `json:"message_ids"`
		}
		json.Unmarshal(b, &pb)
		for _, id := range pb.MessageIDs {
			seen[id] = true
		}
	}
	var out []string
	for _, a := range lg.deb {
		if id, _ := a.body["message_id"].(string); !seen[id] {
			out = append(out, id)
		}
	}
	return out
}

// deliveryCount is the number of the tenant's deliveries in a status (-1 on error).
func deliveryCount(p *proc, status string) int {
	var l struct {
		Pagination struct {
			Total int `json:"total"`
		} `json:"pagination"`
	}
	if code, err := p.call("GET", "/backend/deliveries?limit=1&status="+status, nil, &l); err != nil || code != http.StatusOK {
		return -1
	}
	return l.Pagination.Total
}

// leadMessageCount counts a lead's messages through GET /backend/messages.
func leadMessageCount(t *testing.T, p *proc, lead string) int {
	n := 0
	for {
		var page []json.RawMessage
		path := fmt.Sprintf("/backend/messages?lead=%s&limit=100&offset=%d", lead, n)
		if code, err := p.call("GET", path, nil, &page); err != nil || code != http.StatusOK {
			t.Errorf("GET %s: status %d, err %v", path, code, err)
			return -1
		}
		n += len(page)
		if len(page) < 100 {
			return n
		}
	}
}

// post sends a JSON request with the test key and returns the raw answer.
func post(client *http.Client, base, path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

func dataID(body []byte) string {
	var e struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	json.Unmarshal(body, &e)
	return e.Data.ID
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return len(a) > 0 && bytes.Equal(x, y)
}

func tail(s string, lines int) string {
	n := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			if n++; n > lines {
				return s[i+1:]
			}
		}
	}
	return s
}
