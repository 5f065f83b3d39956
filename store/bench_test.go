package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
	leads := 1000
	if n, err := strconv.Atoi(os.Getenv("PARLEY_BENCH_LEADS")); err == nil && n > 0 {
		leads = n // the load tool's send spreads over 10,000
	}
	for i := 0; i < leads; i++ {
		id := fmt.Sprintf("lead-%d", i)
		if _, err := ten.CreateLead(ctx, store.LeadInput{ID: &id}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetParallelism(16) // 32 concurrent writers on 2 cores, as 32 HTTP clients would be
	written := bytesWritten()
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
	b.StopTimer()
	if w := bytesWritten(); w > 0 {
		// What the commits wrote to the WAL (and the checkpointer to the
		// database file): the cost the statements' timing does not show.
		b.ReportMetric(float64(w-written)/float64(b.N), "written-B/op")
	}
}

// bytesWritten is what this process has written through write system calls
// so far (Linux's /proc/self/io wchar), or 0 where that is not available.
func bytesWritten() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkLeadMessagesPage reads one page of a lead's history.
func BenchmarkLeadMessagesPage(b *testing.B) {
	ctx := context.Background()
	// A clock a millisecond further on every commit: one Import stamps all
	// its messages alike, and a lead's history all in one millisecond would
	// make every page the rare one that cannot end inside it.
	var ms atomic.Int64
	ms.Store(time.Now().UnixMilli())
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "parley.db"), storetest.Schema(b),
		store.Options{Now: func() time.Time { return time.UnixMilli(ms.Add(1)) }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ten, _ := storetest.Tenant(b, st, "bench")
	for round := 0; round < 100; round++ { // 100 messages for each of 50 leads
		var ins []store.MessageInput
		for i := 0; i < 50; i++ {
			ins = append(ins, store.MessageInput{LeadID: fmt.Sprintf("lead-%d", i), CreateLead: true, Role: store.RoleUser,
				Content: "mensagem", MessageType: "text", Status: store.MsgDelivered})
		}
		if err := ten.Import(ctx, ins); err != nil {
			b.Fatal(err)
		}
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
