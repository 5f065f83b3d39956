package store

// Tests of what PostgreSQL's group commit (pggroup.go), its webhook cache
// TTL (webhooks.go) and its analyzer (pganalyze.go) promise, seen through
// the store's API: real stores, real goroutines, no mocks.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/internal/pgtest"
)

// TestGroupedWritesFailAlone: 64 lead creations released at once, half of
// them duplicates (a taken id or a taken phone), interleaved with new ones.
// On PostgreSQL they all queue in one lane (CreateLead is about no lead), so
// the duplicates land in groups with the new leads; each duplicate must fail
// alone with ErrConflict and take no other write down with it, and a group's
// rerun must not store or announce anything twice.
func TestGroupedWritesFailAlone(t *testing.T) {
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	const n = 64
	// The kinds of write, interleaved (write i is kinds[i%4]): a new lead
	// between every two duplicates, so that the groups mix them.
	newLead := func(i int) LeadInput { return leadIn(fmt.Sprint("new-", i), fmt.Sprint("+1555", i), "new") }
	kinds := []struct {
		name    string
		dup     bool
		input   func(i int) LeadInput
		wantErr error
	}{
		{"new lead", false, newLead, nil},
		{"taken id", true, func(i int) LeadInput { return leadIn(fmt.Sprint("old-", i), fmt.Sprint("+1666", i), "dup") }, ErrConflict},
		{"new lead", false, newLead, nil},
		{"taken phone", true, func(i int) LeadInput { return leadIn(fmt.Sprint("other-", i), fmt.Sprint("+1444", i), "dup") }, ErrConflict},
	}
	// The leads the duplicates collide with: old-i holds phone +1444i, so
	// "taken id" (old-i, a free phone) and "taken phone" (a free id, +1444i)
	// each hit one constraint only.
	want := map[string]string{} // lead id → its name afterwards
	for i := range n {
		if k := kinds[i%len(kinds)]; k.dup {
			id := fmt.Sprint("old-", i)
			if _, err := ten.CreateLead(ctx, leadIn(id, fmt.Sprint("+1444", i), "orig")); err != nil {
				t.Fatal(err)
			}
			want[id] = "orig"
		}
	}
	// Registered after the old leads: every lead.created delivery queued
	// from here on is one of the new leads'.
	hook, err := ten.CreateWebhook(ctx, WebhookInput{URL: ptr("https://hooks.example/leads"), Events: []string{HookLeadCreated}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	got := make([]Lead, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = ten.CreateLead(ctx, kinds[i%len(kinds)].input(i))
		})
	}
	close(start)
	wg.Wait()
	newLeads := 0
	for i := range n {
		k := kinds[i%len(kinds)]
		switch {
		case k.wantErr != nil && !errors.Is(errs[i], k.wantErr):
			t.Errorf("write %d (%s): %v, want %v", i, k.name, errs[i], k.wantErr)
		case k.wantErr == nil && errs[i] != nil:
			t.Errorf("write %d (%s): %v, want success", i, k.name, errs[i])
		case k.wantErr == nil && got[i].ID != fmt.Sprint("new-", i):
			t.Errorf("write %d (%s): stored lead %q, want new-%d", i, k.name, got[i].ID, i)
		}
		if !k.dup {
			want[fmt.Sprint("new-", i)] = "new"
			newLeads++
		}
	}
	// Exactly the expected leads, the old ones as they were (a duplicate
	// that slipped through as an update would have renamed one).
	leads, total, err := ten.ListLeads(ctx, "", Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if total != len(want) || len(leads) != len(want) {
		t.Errorf("%d leads listed (total %d), want %d", len(leads), total, len(want))
	}
	for _, l := range leads {
		if name, ok := want[l.ID]; !ok || deref(l.Name) != name {
			t.Errorf("lead %s named %q: want %q (present: %v)", l.ID, deref(l.Name), name, ok)
		}
	}
	// lead.created is announced by a webhook delivery queued in the lead's
	// transaction (insertLead emits no event): one per new lead, none for a
	// duplicate, none twice for a write its group ran again.
	ds, _, err := ten.ListDeliveries(ctx, "", Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	announced := map[string]int{}
	for _, d := range ds {
		if d.Event != HookLeadCreated || d.WebhookID == nil || *d.WebhookID != hook.ID {
			t.Errorf("unexpected delivery %s of %s", d.ID, d.Event)
			continue
		}
		var p struct{ Data Lead }
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			t.Fatal(err)
		}
		announced[p.Data.ID]++
	}
	if len(ds) != newLeads {
		t.Errorf("%d lead.created deliveries, want %d (one per new lead)", len(ds), newLeads)
	}
	for id, c := range announced {
		if want[id] != "new" || c != 1 {
			t.Errorf("lead %s announced %d times; want once if new (it is %q), never otherwise", id, c, want[id])
		}
	}
}

func leadIn(id, phone, name string) LeadInput { return LeadInput{ID: &id, Phone: &phone, Name: &name} }

// TestGroupCommitEventIDsGapFreeThroughStore: 16 writers add messages to 40
// leads (several lanes busy at once, each lane committing groups) while a
// reader tails the log with seq > last and no upper bound. Ids must become
// visible in id order across lanes (events_postgres.go): a reader that saw n
// before n-1 committed would skip n-1 for good. The replay path bounds its
// reads by EventBounds, which would hide such a reorder; this reader does
// not.
func TestGroupCommitEventIDsGapFreeThroughStore(t *testing.T) {
	if os.Getenv("PARLEY_TEST_ENGINE") != "postgres" {
		t.Skip("PostgreSQL only: SQLite has one writer, so one commit order")
	}
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	const writers, perWriter, leads, leadsPerWriter = 16, 50, 40, 5
	leadOf := func(g, j int) string { return fmt.Sprint("lead-", (g*leadsPerWriter+j%leadsPerWriter)%leads) }
	lanes := map[uint32]bool{}
	for l := range leads {
		lanes[laneOf(fmt.Sprint("lead-", l))] = true
	}
	if len(lanes) < 3 {
		t.Fatalf("the leads hash to %d lanes, want at least 3 busy", len(lanes))
	}

	var (
		mu   sync.Mutex
		sent = map[string]bool{} // ids of the messages AddMessage stored
	)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range writers {
		wg.Go(func() {
			<-start
			for j := range perWriter {
				st, err := ten.AddMessage(ctx, MessageInput{LeadID: leadOf(g, j), CreateLead: true, Role: RoleUser,
					Content: fmt.Sprintf("w%d #%d", g, j), Status: MsgDelivered})
				if err != nil {
					t.Errorf("writer %d message %d: %v", g, j, err)
					continue
				}
				mu.Lock()
				sent[st.Message.ID] = true
				mu.Unlock()
			}
		})
	}

	// The reader: everything it sees, in the order it saw it.
	var seen []Event
	readerErr := make(chan error, 1)
	writersDone := make(chan struct{})
	go func() {
		var last int64
		read := func() error {
			evs, err := ten.EventsAfter(ctx, last, math.MaxInt64, EventFilter{}, 500)
			for _, ev := range evs {
				if ev.Seq != last+1 {
					return fmt.Errorf("read id %d right after %d: a gap, a reorder or a repeat", ev.Seq, last)
				}
				last = ev.Seq
				seen = append(seen, ev)
			}
			return err
		}
		for {
			select {
			case <-writersDone: // one last read after every write returned
				readerErr <- read()
				return
			default:
			}
			if err := read(); err != nil {
				readerErr <- err
				return
			}
		}
	}()
	close(start)
	wg.Wait()
	close(writersDone)
	if err := <-readerErr; err != nil {
		t.Fatal(err)
	}

	b, err := ten.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(seen)) != b.Last {
		t.Errorf("reader saw %d events, the log's last id is %d", len(seen), b.Last)
	}
	// Every stored message announced once, in each writer's order per lead
	// (the writer sent them one after the other, each after the last
	// returned, so commit order must follow).
	newMessages := 0
	prev := map[string]int{} // "writer lead" → the number of its last message seen, plus one
	for _, ev := range seen {
		if ev.Type != EventNewMessage {
			continue
		}
		newMessages++
		var p struct{ Data NewMessageData }
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if !sent[p.Data.Message.ID] {
			t.Errorf("event %d announces message %s, which no writer stored (or twice)", ev.Seq, p.Data.Message.ID)
		}
		delete(sent, p.Data.Message.ID)
		var g, j int
		if _, err := fmt.Sscanf(p.Data.Message.Content, "w%d #%d", &g, &j); err != nil {
			t.Fatalf("event %d: content %q: %v", ev.Seq, p.Data.Message.Content, err)
		}
		if leadOf(g, j) != p.Data.LeadID {
			t.Errorf("event %d: writer %d's message #%d went to %s, not %s", ev.Seq, g, j, p.Data.LeadID, leadOf(g, j))
		}
		key := fmt.Sprint(g, " ", p.Data.LeadID)
		if after := prev[key] - 1; j <= after {
			t.Errorf("event %d: writer %d's message #%d to %s after its #%d", ev.Seq, g, j, p.Data.LeadID, after)
		}
		prev[key] = j + 1
	}
	if len(sent) > 0 {
		t.Errorf("%d stored messages never announced", len(sent))
	}
	if want := writers * perWriter; newMessages != want {
		t.Errorf("%d new_message events, want %d (one per AddMessage)", newMessages, want)
	}
}

// TestAnalyzerGivesStatisticsToNewTables: tables that fill up get
// statistics from the store's own analyzer within seconds, without waiting
// for autovacuum.
func TestAnalyzerGivesStatisticsToNewTables(t *testing.T) {
	if os.Getenv("PARLEY_TEST_ENGINE") != "postgres" {
		t.Skip("PostgreSQL only: SQLite's statistics are not the analyzer's")
	}
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	tables := []string{"messages", "conversations"}
	// Autovacuum off for these tables (the test's own schema): were it to
	// analyse them first, the store would rightly leave them alone and the
	// test could not tell; this way only the store can set last_analyze.
	for _, tab := range tables {
		if _, err := s.w.ExecContext(ctx, `ALTER TABLE `+tab+` SET (autovacuum_enabled = false)`); err != nil {
			t.Fatal(err)
		}
	}
	// One message per lead, so conversations pass analyzeMinRows too.
	ins := make([]MessageInput, analyzeMinRows+100)
	for i := range ins {
		ins[i] = MessageInput{LeadID: fmt.Sprint("lead-", i), CreateLead: true, Role: RoleUser, Content: "oi", Status: MsgDelivered}
	}
	if err := ten.Import(ctx, ins); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL publishes a backend's row counts within about 10 s when it
	// goes idle (PGSTAT_IDLE_INTERVAL), and the analyzer looks every
	// analyzeEvery: 15 s covers both.
	begin := time.Now()
	for {
		var analysed []string
		rows, err := s.w.QueryContext(ctx, `SELECT relname FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND relname = ANY($1) AND last_analyze IS NOT NULL ORDER BY relname`, tables)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			analysed = append(analysed, name)
		}
		rows.Close()
		if len(analysed) == len(tables) {
			t.Logf("analysed after %v", time.Since(begin).Round(100*time.Millisecond))
			return
		}
		if time.Since(begin) > 15*time.Second {
			t.Fatalf("after %v only %v of %v have statistics", time.Since(begin).Round(time.Second), analysed, tables)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWebhookCacheSeesOtherServersWithinTTL: two stores on one schema are
// two servers (Open takes no server lock; LockPostgresServer is serve's).
// A webhook that server B creates, then disables, must take effect on
// server A's messages within pgCacheTTL, though A cached its webhooks before.
func TestWebhookCacheSeesOtherServersWithinTTL(t *testing.T) {
	if os.Getenv("PARLEY_TEST_ENGINE") != "postgres" {
		t.Skip("PostgreSQL only: a SQLite file has one server")
	}
	ctx := context.Background()
	url := pgtest.Schema(t)
	open := func() *Store {
		s, err := Open(ctx, url, "", Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	tenA := tenantForTest(t, a)
	tenB := b.Tenant(tenA.id)
	n := 0
	// send adds a message on A and reports whether it queued a delivery
	// for webhook id.
	send := func(id string) bool {
		t.Helper()
		n++
		st, err := tenA.AddMessage(ctx, MessageInput{LeadID: "lead", CreateLead: true, Role: RoleUser,
			Content: fmt.Sprint("oi ", n), Status: MsgDelivered})
		if err != nil {
			t.Fatal(err)
		}
		ds, _, err := tenA.ListDeliveries(ctx, "", Page{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(ds, func(d Delivery) bool {
			return d.WebhookID != nil && *d.WebhookID == id && strings.Contains(string(d.Payload), st.Message.ID)
		})
	}
	send("") // A now caches "no webhooks"

	steps := []struct {
		name   string
		change func(hookID string) (string, error) // on B; returns the webhook's id
		want   bool                                // A queues for it after pgCacheTTL
	}{
		{"created on B", func(string) (string, error) {
			h, err := tenB.CreateWebhook(ctx, WebhookInput{URL: ptr("https://hooks.example/b"), Events: []string{HookMessageReceived}})
			return h.ID, err
		}, true},
		{"disabled on B", func(id string) (string, error) {
			_, err := tenB.UpdateWebhook(ctx, id, WebhookInput{Active: ptr(false)})
			return id, err
		}, false},
	}
	var hookID string
	for _, step := range steps {
		var err error
		if hookID, err = step.change(hookID); err != nil {
			t.Fatal(err)
		}
		// Right away, A may still trust its cache: either answer is right.
		t.Logf("%s: a message on A right away queued for it: %v", step.name, send(hookID))
		time.Sleep(pgCacheTTL + 200*time.Millisecond)
		if got := send(hookID); got != step.want {
			t.Errorf("%s: a message on A %v later queued a delivery for it: %v, want %v", step.name,
				pgCacheTTL+200*time.Millisecond, got, step.want)
		}
	}
}
