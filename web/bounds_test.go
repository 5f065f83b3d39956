package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/parley-dev/parley/store"
)

// TestOffsetIsBounded: offset beyond 1,000,000,000 (or past int64) is 400
// naming offset, the bound itself is a valid, empty last page, and has_more
// never overflows into true.
func TestOffsetIsBounded(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/backend/leads", "/backend/conversations", "/backend/assistants", "/backend/channels",
		"/backend/webhooks", "/backend/deliveries"} {
		for _, bad := range []string{"9223372036854775807", "1000000001", "-1", "99999999999999999999"} {
			r := e.do(http.MethodGet, path+"?offset="+bad, nil)
			wantProblem(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
			wantFields(t, r, "offset")
		}
		r := e.do(http.MethodGet, path+"?offset=1000000000&limit=100", nil)
		page := wantData[[]obj](t, r, http.StatusOK)
		if page.Pagination == nil || page.Pagination.HasMore || len(page.Data) != 0 || page.Pagination.Offset != 1_000_000_000 {
			t.Errorf("%s?offset=1000000000 = %s, want an empty page with has_more false", path, r.Body)
		}
	}
}

// TestAgentListsAreBounded: GET /bot and GET /conversation/message/{id}
// return at most 1,000 items with X-Total-Count, and X-Truncated: true only
// when cut; messages are the 1,000 most recent, still oldest first; bots the
// first 1,000 by creation.
func TestAgentListsAreBounded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bot := agentBot(t, e)
	conv := agentCreate(t, e, bot, nil)
	c, err := e.tenant.Conversation(ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	parallel := func(n int, f func(i int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 8 {
					if err := f(i); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	addMessages := func(n int) {
		parallel(n, func(i int) error {
			_, err := e.tenant.AddMessage(ctx, store.MessageInput{ConversationID: conv, LeadID: c.LeadID, Role: "user",
				Content: fmt.Sprintf("message %d", i), MessageType: "text", Status: store.MsgDelivered})
			return err
		})
	}

	check := func(path string, wantIDs []string, total int) {
		t.Helper()
		r := e.do(http.MethodGet, path, nil)
		list := agentJSON[[]obj](t, r, http.StatusOK)
		if got := r.Header.Get("X-Total-Count"); got != strconv.Itoa(total) {
			t.Errorf("%s: X-Total-Count = %q, want %d", path, got, total)
		}
		truncated := r.Header.Get("X-Truncated")
		if (total > 1000) != (truncated == "true") || (truncated != "" && truncated != "true") {
			t.Errorf("%s: X-Truncated = %q with %d items in all", path, truncated, total)
		}
		if len(list) != len(wantIDs) {
			t.Fatalf("%s: %d items, want %d", path, len(list), len(wantIDs))
		}
		for i := range list {
			if id := str(t, list[i], "id"); id != wantIDs[i] {
				t.Fatalf("%s: item %d is %s, want %s", path, i, id, wantIDs[i])
			}
		}
	}
	messageIDs := func() []string {
		all, err := e.tenant.ConversationMessages(ctx, conv)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(all))
		for i, m := range all {
			ids[i] = m.ID
		}
		return ids
	}

	addMessages(1000)
	all := messageIDs()
	check("/conversation/message/"+conv, all, 1000)
	addMessages(5)
	all = messageIDs()
	if len(all) != 1005 {
		t.Fatalf("stored %d messages, want 1005", len(all))
	}
	check("/conversation/message/"+conv, all[5:], 1005)

	parallel(1000, func(i int) error {
		name := fmt.Sprintf("bot %d", i)
		_, err := e.tenant.CreateAssistant(ctx, store.AssistantInput{Name: &name})
		return err
	})
	bots, total, err := e.tenant.ListAssistants(ctx, store.Page{Limit: 2000})
	if err != nil || total != 1001 {
		t.Fatalf("assistants: %d, %v; want 1001", total, err)
	}
	botIDs := make([]string, 1000)
	for i := range botIDs {
		botIDs[i] = bots[i].ID
	}
	check("/bot", botIDs, 1001)
}

// TestNULInTextIsRefused: a NUL character (\u0000) in any text a client
// sends, at any depth, is 400 naming the field, on both engines (PostgreSQL's
// text cannot hold one; SQLite's could, and the answer must not depend on
// the engine); an escaped backslash before "u0000" is not a NUL.
func TestNULInTextIsRefused(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodPost, "/backend/leads", `{"name":"a\u0000b","meta":{"deep":["x","\u0000"]},"company":"ok"}`)
	wantProblem(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	wantFields(t, r, "meta", "name")
	r = e.do(http.MethodPost, "/backend/leads", `{"name":"literal \\u0000 is fine"}`)
	if lead := wantData[obj](t, r, http.StatusCreated).Data; lead["name"] != `literal \u0000 is fine` {
		t.Errorf("name = %q", lead["name"])
	}
}
