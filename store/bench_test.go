package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// BenchmarkAddMessage measures one operator message end to end in the store:
// lead check, conversation, insert, events, search index; in parallel, as
// concurrent HTTP requests would call it.
func BenchmarkAddMessage(b *testing.B) {
	ctx := context.Background()
	st := storetest.New(b)
	ten, _ := storetest.Tenant(b, st, "bench")
	const leads = 1000
	for i := 0; i < leads; i++ {
		id := fmt.Sprintf("lead-%d", i)
		if _, err := ten.CreateLead(ctx, store.LeadInput{ID: &id}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetParallelism(16) // 32 concurrent writers on 2 cores, as 32 HTTP clients would be
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := ten.AddMessage(ctx, store.MessageInput{LeadID: fmt.Sprintf("lead-%d", i%leads), Role: store.RoleAssistant,
				Content: "Olá! Aqui é a Maria.", MessageType: "text", Status: store.MsgPending}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLeadMessagesPage reads one page of a lead's history.
func BenchmarkLeadMessagesPage(b *testing.B) {
	ctx := context.Background()
	st := storetest.New(b)
	ten, _ := storetest.Tenant(b, st, "bench")
	var ins []store.MessageInput
	for i := 0; i < 5000; i++ {
		ins = append(ins, store.MessageInput{LeadID: fmt.Sprintf("lead-%d", i%50), CreateLead: true, Role: store.RoleUser,
			Content: "mensagem", MessageType: "text", Status: store.MsgDelivered})
	}
	if err := ten.Import(ctx, ins); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ten.LeadMessages(ctx, "lead-7", 50, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
