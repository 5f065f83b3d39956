package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

func TestLeadConflicts(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	a, _ := storetest.Tenant(t, st, "a")
	b, _ := storetest.Tenant(t, st, "b")

	if _, err := a.CreateLead(ctx, store.LeadInput{ID: ptr("jid@s.whatsapp.net"), Phone: ptr("+551100000001")}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   store.LeadInput
	}{
		{"same id", store.LeadInput{ID: ptr("jid@s.whatsapp.net")}},
		{"same phone", store.LeadInput{Phone: ptr("+551100000001")}},
		{"same id and phone", store.LeadInput{ID: ptr("jid@s.whatsapp.net"), Phone: ptr("+551100000001")}},
	}
	for _, tc := range cases {
		if _, err := a.CreateLead(ctx, tc.in); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: err = %v, want ErrConflict", tc.name, err)
		}
		// Another tenant may use the same id and phone.
		if tc.name == "same id and phone" {
			if _, err := b.CreateLead(ctx, tc.in); err != nil {
				t.Errorf("%s in another tenant: %v", tc.name, err)
			}
		}
	}
	// NULL phones never clash; "" is stored as NULL.
	for range 3 {
		if _, err := a.CreateLead(ctx, store.LeadInput{Phone: ptr("")}); err != nil {
			t.Fatalf("lead without phone: %v", err)
		}
	}
	l2, err := a.CreateLead(ctx, store.LeadInput{Phone: ptr("+551100000002")})
	if err != nil {
		t.Fatal(err)
	}
	if l2.Phone == nil || *l2.Phone != "+551100000002" || len(l2.ID) != 36 {
		t.Fatalf("created lead = %+v", l2)
	}
	if _, err := a.UpdateLead(ctx, l2.ID, store.LeadInput{Phone: ptr("+551100000001")}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update onto a taken phone: err = %v, want ErrConflict", err)
	}
	got, err := a.Lead(ctx, l2.ID)
	if err != nil || *got.Phone != "+551100000002" {
		t.Errorf("a refused update changed the lead: %+v, %v", got, err)
	}
	// Clearing the phone frees it.
	if _, err := a.UpdateLead(ctx, l2.ID, store.LeadInput{Phone: ptr("")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateLead(ctx, store.LeadInput{Phone: ptr("+551100000002")}); err != nil {
		t.Errorf("a cleared phone is not free: %v", err)
	}
	// After a delete, the id is free again.
	if err := a.DeleteLead(ctx, "jid@s.whatsapp.net"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateLead(ctx, store.LeadInput{ID: ptr("jid@s.whatsapp.net"), Phone: ptr("+551100000001")}); err != nil {
		t.Errorf("recreate after delete: %v", err)
	}
}

// TestNotFoundAcrossTenants: every read and write of another tenant's row is
// ErrNotFound and leaves the row alone.
func TestNotFoundAcrossTenants(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	a, _ := storetest.Tenant(t, st, "a")
	b, _ := storetest.Tenant(t, st, "b")
	lead, err := a.CreateLead(ctx, store.LeadInput{ID: ptr("lead-a"), Name: ptr("Ana")})
	if err != nil {
		t.Fatal(err)
	}
	asst, err := a.CreateAssistant(ctx, store.AssistantInput{Name: ptr("A")})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := a.CreateChannel(ctx, store.ChannelInput{Name: ptr("C"), Type: ptr("web"), AssistantID: &asst.ID})
	if err != nil {
		t.Fatal(err)
	}
	defA, err := a.DefaultAssistant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"Lead":       func() error { _, err := b.Lead(ctx, lead.ID); return err },
		"UpdateLead": func() error { _, err := b.UpdateLead(ctx, lead.ID, store.LeadInput{Name: ptr("x")}); return err },
		"DeleteLead": func() error { return b.DeleteLead(ctx, lead.ID) },
		"Assistant":  func() error { _, err := b.Assistant(ctx, asst.ID); return err },
		"UpdateAssistant": func() error {
			_, err := b.UpdateAssistant(ctx, asst.ID, store.AssistantInput{Name: ptr("x")})
			return err
		},
		"DeleteAssistant": func() error { return b.DeleteAssistant(ctx, asst.ID) },
		"Delete default":  func() error { return b.DeleteAssistant(ctx, defA.ID) },
		"Channel":         func() error { _, err := b.Channel(ctx, ch.ID); return err },
		"UpdateChannel":   func() error { _, err := b.UpdateChannel(ctx, ch.ID, store.ChannelInput{Name: ptr("x")}); return err },
		"DeleteChannel":   func() error { return b.DeleteChannel(ctx, ch.ID) },
		"Conversation":    func() error { _, err := b.Conversation(ctx, "nope"); return err },
		"CreateKey":       func() error { _, _, err := st.Tenant("no-such-tenant").CreateKey(ctx, "k", ""); return err },
		"RevokeKey":       func() error { _, err := st.RevokeKey(ctx, "no-such-key"); return err },
		"Info":            func() error { _, err := st.Tenant("no-such-tenant").Info(ctx); return err },
		"channel to B's": func() error {
			_, err := b.CreateChannel(ctx, store.ChannelInput{Name: ptr("x"), Type: ptr("web"), AssistantID: &asst.ID})
			return err
		},
		"AddMessage no lead": func() error {
			_, err := b.AddMessage(ctx, store.MessageInput{LeadID: lead.ID, Role: store.RoleUser, Status: store.MsgDelivered})
			return err
		},
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := b.CreateChannel(ctx, store.ChannelInput{Name: ptr("x"), Type: ptr("web"), AssistantID: &asst.ID}); !errors.Is(err, store.ErrUnknownAssistant) {
		t.Errorf("channel naming another tenant's assistant: err = %v, want ErrUnknownAssistant", err)
	}
	// A's rows are untouched.
	if l, err := a.Lead(ctx, lead.ID); err != nil || *l.Name != "Ana" {
		t.Errorf("lead after B's attempts = %+v, %v", l, err)
	}
	if x, err := a.Assistant(ctx, asst.ID); err != nil || x.Name != "A" {
		t.Errorf("assistant after B's attempts = %+v, %v", x, err)
	}
	if c, err := a.Channel(ctx, ch.ID); err != nil || c.Name != "C" {
		t.Errorf("channel after B's attempts = %+v, %v", c, err)
	}
	for name, list := range map[string]func() (int, error){
		"leads":      func() (int, error) { _, n, err := b.ListLeads(ctx, "", store.Page{Limit: 100}); return n, err },
		"channels":   func() (int, error) { _, n, err := b.ListChannels(ctx, store.Page{Limit: 100}); return n, err },
		"assistants": func() (int, error) { _, n, err := b.ListAssistants(ctx, store.Page{Limit: 100}); return n, err },
	} {
		n, err := list()
		want := 0
		if name == "assistants" || name == "channels" {
			want = 1 // its own default
		}
		if err != nil || n != want {
			t.Errorf("B lists %d %s (%v), want %d", n, name, err, want)
		}
	}
}

func TestDefaultAssistantAndDeletes(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	a, _ := storetest.Tenant(t, st, "a")
	def, err := a.DefaultAssistant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !def.IsDefault || def.HistoryLimit != 20 || def.DebounceSeconds != 5 || def.DebounceMaxWaitSeconds != 30 || !def.PauseOnHuman {
		t.Errorf("default assistant = %+v, want API.md §3.2's defaults", def)
	}
	err = a.DeleteAssistant(ctx, def.ID)
	if !errors.Is(err, store.ErrDefaultAssistant) || !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete default: err = %v, want ErrDefaultAssistant (an ErrConflict)", err)
	}
	// Deleting an assistant moves its conversations to the default one and
	// unhooks its channels.
	x, err := a.CreateAssistant(ctx, store.AssistantInput{Name: ptr("X")})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := a.CreateChannel(ctx, store.ChannelInput{Name: ptr("C"), Type: ptr("sms"), AssistantID: &x.ID})
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.AddMessage(ctx, store.MessageInput{LeadID: "l1", CreateLead: true, ChannelID: ch.ID, Role: store.RoleUser,
		Content: "oi", Status: store.MsgDelivered})
	if err != nil {
		t.Fatal(err)
	}
	if s.Conversation.AssistantID != x.ID {
		t.Fatalf("conversation on the channel has assistant %s, want %s", s.Conversation.AssistantID, x.ID)
	}
	if err := a.DeleteAssistant(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := a.Conversation(ctx, s.Conversation.ID); err != nil || c.AssistantID != def.ID {
		t.Errorf("conversation after its assistant was deleted: %+v, %v; want the default assistant", c, err)
	}
	if c, err := a.Channel(ctx, ch.ID); err != nil || c.AssistantID != nil {
		t.Errorf("channel after its assistant was deleted: %+v, %v; want no assistant", c, err)
	}
	// Deleting the lead removes its conversations and messages.
	if err := a.DeleteLead(ctx, "l1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Conversation(ctx, s.Conversation.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("conversation of a deleted lead: err = %v, want ErrNotFound", err)
	}
	if _, err := a.Message(ctx, s.Message.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("message of a deleted lead: err = %v, want ErrNotFound", err)
	}
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	a, key := storetest.Tenant(t, st, "a")
	k, err := st.KeyByHash(ctx, store.HashKey(key))
	if err != nil || k.TenantID != a.ID() || k.Prefix != key[:8] {
		t.Fatalf("KeyByHash = %+v, %v", k, err)
	}
	k2, key2, err := a.CreateKey(ctx, "ci", "")
	if err != nil || key2 == key || len(key2) < 40 {
		t.Fatalf("CreateKey = %+v %q, %v", k2, key2, err)
	}
	first, err := st.RevokeKey(ctx, k2.ID)
	if err != nil || first.RevokedAt == nil {
		t.Fatalf("RevokeKey = %+v, %v", first, err)
	}
	if _, err := st.KeyByHash(ctx, store.HashKey(key2)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a revoked key is still found: %v", err)
	}
	again, err := st.RevokeKey(ctx, k2.ID)
	if err != nil || again.RevokedAt == nil || *again.RevokedAt != *first.RevokedAt {
		t.Errorf("revoking twice = %+v, %v; want the first revocation time kept", again, err)
	}
	keys, err := a.ListKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].RevokedAt != nil || keys[1].RevokedAt == nil {
		t.Errorf("ListKeys = %+v, %v", keys, err)
	}
	// A given (bootstrap) key cannot be registered twice.
	if _, _, err := a.CreateKey(ctx, "dup", key); !errors.Is(err, store.ErrConflict) {
		t.Errorf("registering an existing key: err = %v, want ErrConflict", err)
	}
}

// TestKeysNeverInClear: only the SHA-256 of a key is stored (API.md §1); the
// prefix kept to tell keys apart must not give away a short key, as an
// operator's PARLEY_BOOTSTRAP_API_KEY may be.
func TestKeysNeverInClear(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	st := storetest.Open(t, path)
	for _, key := range []string{"short", "test-key", "0123456789", "prl_a-longer-operator-chosen-key-0123"} {
		info, got, err := st.CreateTenant(ctx, "t-"+key, key)
		if err != nil || got != key {
			t.Fatalf("CreateTenant with key %q = %q, %v", key, got, err)
		}
		keys, err := st.Tenant(info.ID).ListKeys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("ListKeys = %v, %v", keys, err)
		}
		if p := keys[0].Prefix; len(p) > len(key)/4 || !strings.HasPrefix(key, p) {
			t.Errorf("key %q is listed with prefix %q: more than a quarter of it in clear", key, p)
		}
		if _, err := st.KeyByHash(ctx, store.HashKey(key)); err != nil {
			t.Errorf("key %q not found by its hash: %v", key, err)
		}
		// No column of the row holds the key itself.
		var row string
		if err := rawDB(t, path).QueryRow(`SELECT id || '|' || name || '|' || prefix || '|' || hex(key_hash) FROM api_keys WHERE tenant_id = ?`,
			info.ID).Scan(&row); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(row, key) {
			t.Errorf("api_keys row %q holds the key %q in clear", row, key)
		}
	}
}
