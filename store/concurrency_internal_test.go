package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// Races that SQLite's single writer never lets happen and PostgreSQL's
// concurrent writers do (pglocks.go). They run on both engines: on SQLite
// they hold trivially.

// TestRacingFirstMessagesMakeOneConversation: 8 first messages of one new
// lead at once create one lead and one conversation, and every message
// counts as unread in it.
func TestRacingFirstMessagesMakeOneConversation(t *testing.T) {
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	const n = 8
	for round := range 3 {
		lead := fmt.Sprintf("racer-%d", round)
		results := make([]Stored, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = ten.AddMessage(ctx, MessageInput{LeadID: lead, CreateLead: true, Role: RoleUser,
					Content: fmt.Sprint("oi ", i), Status: MsgDelivered})
			}()
		}
		close(start)
		wg.Wait()
		created := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("%s message %d: %v", lead, i, errs[i])
			}
			if results[i].Conversation.ID != results[0].Conversation.ID {
				t.Fatalf("%s: messages went to conversations %s and %s, want one", lead, results[0].Conversation.ID,
					results[i].Conversation.ID)
			}
			if results[i].LeadCreated {
				created++
			}
		}
		if created != 1 {
			t.Errorf("%s: %d messages say they created the lead, want 1", lead, created)
		}
		conv, err := ten.Conversation(ctx, results[0].Conversation.ID)
		if err != nil {
			t.Fatal(err)
		}
		if conv.UnreadCount != n {
			t.Errorf("%s: unread count %d, want %d (no message's update lost)", lead, conv.UnreadCount, n)
		}
	}
}

// TestRacingDeliveriesKeepOneHead: writers queueing deliveries for the same
// keys at once, while the worker finishes heads, leave every key with
// exactly one head, its oldest pending row; and the heads walk each key's
// rows once each, in commit order (checked on each writer's own rows, whose
// commits are ordered: a writer's next write starts after its last returned).
func TestRacingDeliveriesKeepOneHead(t *testing.T) {
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	const url = "https://hooks.example/cb"
	dest := ten.id + " " + Destination(url)
	keys := []string{"c:a", "c:b"}
	const writers, writes = 8, 15
	queued := make([]map[string][]string, writers) // per writer and key, ids in commit order
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range writers {
		queued[g] = map[string][]string{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range writes {
				key := keys[(g+i)%len(keys)]
				var id string
				err := s.write(ctx, ten.id, func(w *wtx) error {
					var err error
					id, err = w.enqueue(ctx, KindPostback, "", url, "postback", key, map[string]int{"g": g, "i": i})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				queued[g][key] = append(queued[g][key], id)
			}
		}()
	}
	sent := map[string][]string{} // per key, in the order the worker sent them
	finish := func() int {
		hs, err := s.DeliveryHeads(ctx, dest, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			sent[h.OrderKey] = append(sent[h.OrderKey], h.ID)
			if err := s.RecordAttempt(ctx, h.TenantID, h.ID, Attempt{StatusCode: 200, Status: DeliveryDelivered, Next: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		return len(hs)
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()
	close(start)
	for racing := true; racing; { // the worker finishes heads meanwhile
		select {
		case <-writing:
			racing = false
		default:
			finish()
		}
	}
	checkHeads(t, s)
	for finish() > 0 { // then drains what is left
		checkHeads(t, s)
	}
	for _, key := range keys {
		at := map[string]int{}
		for i, id := range sent[key] {
			if _, twice := at[id]; twice {
				t.Errorf("key %s: %s sent twice", key, id)
			}
			at[id] = i
		}
		for g := range writers {
			last := -1
			for _, id := range queued[g][key] {
				i, ok := at[id]
				if !ok {
					t.Errorf("key %s: %s (writer %d) never became a head", key, id, g)
					continue
				}
				if i < last {
					t.Errorf("key %s: writer %d's %s sent before its predecessor", key, g, id)
				}
				last = i
			}
		}
	}
}

// TestUnreachableDatabaseIsUnavailable: on PostgreSQL, a write to a
// database that cannot be reached fails with ErrUnavailable (503), never
// with a generic error or a success.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	if os.Getenv("PARLEY_TEST_ENGINE") != "postgres" {
		t.Skip("PostgreSQL only")
	}
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	// Nothing listens on port 1: every connection is refused.
	gone, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	live := s.w
	s.w, s.r = gone, gone
	defer func() { s.w, s.r = live, live }()
	_, err = ten.AddMessage(ctx, MessageInput{LeadID: "l", CreateLead: true, Role: RoleUser, Content: "oi", Status: MsgDelivered})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("write to an unreachable database: %v, want ErrUnavailable", err)
	}
	if _, err := ten.Conversation(ctx, "x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("read from an unreachable database: %v, want ErrUnavailable", err)
	}
	if _, err := s.ActiveKeys(ctx, []string{"k"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("active keys from an unreachable database: %v, want ErrUnavailable", err)
	}
}

// TestActiveKeys: the keys still working among a list, on either engine's
// form of the list (a JSON array on SQLite, an array parameter on
// PostgreSQL).
func TestActiveKeys(t *testing.T) {
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	a, _, err := ten.CreateKey(ctx, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := ten.CreateKey(ctx, "b", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.ActiveKeys(ctx, []string{a.ID, b.ID, "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[a.ID] {
		t.Errorf("active keys %v, want only %s", got, a.ID)
	}
}
