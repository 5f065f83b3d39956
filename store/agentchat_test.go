package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// agentClock is a settable store clock.
type agentClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *agentClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *agentClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// agentStore opens a store on a clock the test sets (on the engine of the
// test binary's round), with one tenant and the id of its default assistant.
func agentStore(t *testing.T) (*store.Store, *store.Tenant, string, *agentClock) {
	t.Helper()
	clock := &agentClock{t: time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)}
	target, schema := filepath.Join(t.TempDir(), "parley.db"), storetest.Schema(t)
	if storetest.Engine() == "postgres" {
		target, schema = storetest.Postgres(t), ""
	}
	st, err := store.Open(context.Background(), target, schema, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ten, _ := storetest.Tenant(t, st, "acme")
	list, _, err := ten.ListAssistants(context.Background(), store.Page{Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("assistants %v, %v", list, err)
	}
	return st, ten, list[0].ID, clock
}

// searchIDs runs q (10 at most) and returns the ids found, checking that
// the total agrees with the list.
func searchIDs(t *testing.T, ten *store.Tenant, q store.ConversationQuery) []string {
	t.Helper()
	q.Limit = 10
	list, total, err := ten.SearchConversations(context.Background(), q)
	if err != nil {
		t.Fatalf("%+v: %v", q, err)
	}
	if total != len(list) {
		t.Errorf("%+v: total %d, %d items", q, total, len(list))
	}
	return agentIDsOf(list)
}

func agentIDsOf(list []store.AgentConversation) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.ID
	}
	return out
}

// TestAgentSearchDatesAndKeyset: From is inclusive and Until exclusive to
// the millisecond; conversations created in the same millisecond keep one
// order, and keyset pages through them without loss or repeat.
func TestAgentSearchDatesAndKeyset(t *testing.T) {
	ctx := context.Background()
	_, ten, bot, clock := agentStore(t)
	day := time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
	at := []time.Time{day.Add(-time.Millisecond), day, day.Add(24*time.Hour - time.Millisecond), day.Add(24 * time.Hour)}
	var ids []string
	for _, when := range at {
		clock.Set(when)
		c, err := ten.CreateConversation(ctx, bot, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	from, until := store.TimeOf(day), store.TimeOf(day.Add(24*time.Hour))
	list, total, err := ten.SearchConversations(ctx, store.ConversationQuery{Limit: 10, From: &from, Until: &until})
	if err != nil {
		t.Fatal(err)
	}
	if got := agentIDsOf(list); total != 2 || !slices.Equal(got, ids[1:3]) {
		t.Errorf("the day 2024-01-15 holds %v (total %d), want %v", got, total, ids[1:3])
	}

	// Seven conversations in one millisecond.
	clock.Set(day.Add(48 * time.Hour))
	for range 7 {
		c, err := ten.CreateConversation(ctx, bot, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	all, total, err := ten.SearchConversations(ctx, store.ConversationQuery{Limit: 100})
	if err != nil || total != len(ids) {
		t.Fatalf("all: %d of %d, %v", total, len(ids), err)
	}
	var walked []string
	q := store.ConversationQuery{Limit: 3}
	for step := 0; step < 10; step++ {
		page, _, err := ten.SearchConversations(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, agentIDsOf(page)...)
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.AfterCreatedAt, q.AfterID = &last.CreatedAt, last.ID
	}
	if want := agentIDsOf(all); !slices.Equal(walked, want) {
		t.Errorf("keyset walk = %v, want %v", walked, want)
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt < all[i-1].CreatedAt || all[i].CreatedAt == all[i-1].CreatedAt && all[i].ID < all[i-1].ID {
			t.Errorf("item %d out of (created_at, id) order", i)
		}
	}
}

// TestAgentSearchPaths: the scan path (under three characters) and the
// trigram path find the same things, LIKE wildcards are literal, and a
// deleted lead's conversations leave the index.
func TestAgentSearchPaths(t *testing.T) {
	ctx := context.Background()
	_, ten, bot, _ := agentStore(t)
	name, email := "Zoë Quist", "odd_100%@mail.test"
	if _, err := ten.CreateLead(ctx, store.LeadInput{ID: agentPtr("lead-z"), Name: &name, Email: &email}); err != nil {
		t.Fatal(err)
	}
	withLead, err := ten.CreateConversation(ctx, bot, "lead-z", store.Meta{"tag": "x%y"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ten.CreateConversation(ctx, bot, "", store.Meta{"tag": "plain"})
	if err != nil {
		t.Fatal(err)
	}
	search := func(q store.ConversationQuery) []string { return searchIDs(t, ten, q) }
	one := []string{withLead.ID}
	cases := []store.ConversationQuery{
		{Search: "Zo"}, {Search: "Zoë"}, {Search: "zoe q"}, {Search: "_1"}, {Search: "_100%"}, {Search: "%"},
		{Search: "lead-z"}, {Search: "x%"}, {Search: "x%y"}, {Meta: "x%"}, {Meta: "%"}, {Meta: "x%y"},
	}
	for _, q := range cases {
		if got := search(q); !slices.Equal(got, one) {
			t.Errorf("%+v found %v, want %v", q, got, one)
		}
	}
	if got := search(store.ConversationQuery{Meta: "pl"}); !slices.Equal(got, []string{other.ID}) {
		t.Errorf("meta pl found %v", got)
	}
	if got := search(store.ConversationQuery{Search: "Zo", Meta: "plain"}); len(got) != 0 {
		t.Errorf("search and meta on different conversations found %v", got)
	}
	// An assistant's name finds its conversations, and only theirs
	// (PostgreSQL looks the names up before the conversations).
	agent, err := ten.CreateAssistant(ctx, store.AssistantInput{Name: agentPtr("Bärbel Beispiel")})
	if err != nil {
		t.Fatal(err)
	}
	agentConv, err := ten.CreateConversation(ctx, agent.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Bärbel", "barbel beis", "BEISPIEL"} {
		if got := search(store.ConversationQuery{Search: s}); !slices.Equal(got, []string{agentConv.ID}) {
			t.Errorf("search %q found %v, want the assistant's conversation %s", s, got, agentConv.ID)
		}
	}
	if got := search(store.ConversationQuery{Search: "Bärbel", Meta: "plain"}); len(got) != 0 {
		t.Errorf("assistant name and another conversation's meta found %v", got)
	}
	if err := ten.DeleteLead(ctx, "lead-z"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []store.ConversationQuery{{Search: "Zoë"}, {Search: "Zo"}, {Meta: "x%y"}} {
		if got := search(q); len(got) != 0 {
			t.Errorf("after deleting the lead, %+v found %v", q, got)
		}
	}
}

// TestAgentSearchOddInput: no search or meta text is an error: FTS5 syntax,
// quotes, NUL bytes, invalid UTF-8 and long text are all plain text.
func TestAgentSearchOddInput(t *testing.T) {
	ctx := context.Background()
	_, ten, bot, _ := agentStore(t)
	if _, err := ten.CreateConversation(ctx, bot, "", store.Meta{"k": "NEAR(a b)"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a\x00bc", "\x00", "x\x00", `"""`, "'", "*", "NEAR(a b)", "a OR b", "ab*", "^ab", "-ab",
		"meta : x", "\xff\xfe\xfd", "%%%", `\`, `ab\`, strings.Repeat("é", 5000)} {
		for _, q := range []store.ConversationQuery{{Limit: 5, Search: s}, {Limit: 5, Meta: s}} {
			if _, _, err := ten.SearchConversations(ctx, q); err != nil {
				t.Errorf("%+q: %v", s, err)
			}
		}
	}
	list, _, err := ten.SearchConversations(ctx, store.ConversationQuery{Limit: 5, Meta: "NEAR(a b)"})
	if err != nil || len(list) != 1 {
		t.Errorf("meta with FTS5 syntax as text: %v, %v", list, err)
	}
}

// TestAgentStoreErrors: the agent dialect's store methods refuse other
// tenants' rows and feedback on anything but an assistant message.
func TestAgentStoreErrors(t *testing.T) {
	ctx := context.Background()
	st, ten, bot, _ := agentStore(t)
	other, _ := storetest.Tenant(t, st, "other")
	var events []store.Event
	var mu sync.Mutex
	st.OnEvents(func(evs []store.Event) { mu.Lock(); events = append(events, evs...); mu.Unlock() })

	conv, err := ten.CreateConversation(ctx, bot, "lead-1", store.Meta{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(events) != 1 || events[0].Type != store.EventConversationUpdate || events[0].ConversationID != conv.ID ||
		events[0].LeadID != "lead-1" || events[0].Seq == 0 {
		t.Errorf("create emitted %+v, want one conversation_update", events)
	}
	mu.Unlock()
	if _, err := ten.Lead(ctx, "lead-1"); err != nil {
		t.Errorf("lead-1 was not created: %v", err)
	}
	for name, bad := range map[string]string{"unknown": "no-such-assistant", "other tenant's": agentOtherBot(t, other)} {
		if _, err := ten.CreateConversation(ctx, bad, "", nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s assistant: err = %v, want ErrNotFound", name, err)
		}
	}
	user, err := ten.AddMessage(ctx, store.MessageInput{ConversationID: conv.ID, LeadID: conv.LeadID, Role: store.RoleUser,
		Content: "hi", Status: store.MsgDelivered})
	if err != nil {
		t.Fatal(err)
	}
	answer, err := ten.AddMessage(ctx, store.MessageInput{ConversationID: conv.ID, LeadID: conv.LeadID,
		Role: store.RoleAssistant, Content: "hello", Status: store.MsgSent, FromAI: true})
	if err != nil {
		t.Fatal(err)
	}
	like := "like"
	if _, err := ten.SetFeedback(ctx, user.Message.ID, &like, ""); !errors.Is(err, store.ErrNotAssistantMessage) {
		t.Errorf("feedback on a user message: %v", err)
	}
	if _, err := other.SetFeedback(ctx, answer.Message.ID, &like, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("feedback from another tenant: %v", err)
	}
	if _, err := other.SetSurvey(ctx, conv.ID, 3, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("survey from another tenant: %v", err)
	}
	if _, err := other.AgentConversation(ctx, conv.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("agent conversation from another tenant: %v", err)
	}
	if list, total, err := other.SearchConversations(ctx, store.ConversationQuery{Limit: 10, Search: conv.ID}); err != nil ||
		total != 0 || len(list) != 0 {
		t.Errorf("another tenant's search = %v, %d, %v", list, total, err)
	}
	m, err := ten.SetFeedback(ctx, answer.Message.ID, &like, "nice")
	if err != nil || m.Feedback == nil || *m.Feedback != "like" {
		t.Errorf("feedback = %+v, %v", m, err)
	}
	got, err := ten.AgentConversation(ctx, conv.ID)
	if err != nil || got.Survey != 0 || got.BotID != bot || got.Meta["a"] != "b" {
		t.Errorf("agent conversation = %+v, %v", got, err)
	}
}

func agentOtherBot(t *testing.T, ten *store.Tenant) string {
	t.Helper()
	list, _, err := ten.ListAssistants(context.Background(), store.Page{Limit: 10})
	if err != nil || len(list) == 0 {
		t.Fatalf("assistants of the other tenant: %v, %v", list, err)
	}
	return list[0].ID
}

func agentPtr[T any](v T) *T { return &v }
