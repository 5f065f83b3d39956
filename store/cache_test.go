package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// TestAssistantReadsSeeEveryWrite: Tenant.Assistant answers from memory,
// and an acknowledged update or delete is seen by the very next read.
func TestAssistantReadsSeeEveryWrite(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	name, prompt := "Maria", "Be brief."
	a, err := ten.CreateAssistant(ctx, store.AssistantInput{Name: &name, SystemPrompt: &prompt})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second read is the cached one
		got, err := ten.Assistant(ctx, a.ID)
		if err != nil || got.SystemPrompt != prompt {
			t.Fatalf("read: %+v, %v", got, err)
		}
	}
	temp := 0.5
	got, _ := ten.Assistant(ctx, a.ID)
	got.Temperature = &temp // a caller's change must not reach the cache
	prompt = "Be thorough."
	if _, err := ten.UpdateAssistant(ctx, a.ID, store.AssistantInput{SystemPrompt: &prompt}); err != nil {
		t.Fatal(err)
	}
	got, err = ten.Assistant(ctx, a.ID)
	if err != nil || got.SystemPrompt != prompt || got.Temperature != nil {
		t.Fatalf("read after update: %+v, %v; want the new prompt and no temperature", got, err)
	}
	other, _ := storetest.Tenant(t, st, "other")
	if _, err := other.Assistant(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant reads the assistant: %v", err)
	}
	if err := ten.DeleteAssistant(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ten.Assistant(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read after delete: %v, want ErrNotFound", err)
	}
}
