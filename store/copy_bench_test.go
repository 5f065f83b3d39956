package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/internal/pgtest"
)

// BenchmarkCopy copies a database of copyBenchMessages messages (1,000
// leads, one conversation each, every message with its events) into a fresh
// PostgreSQL schema per iteration and reports the median rows/s. Run it as
//
//	PARLEY_TEST_DATABASE_URL=… go test ./store -run '^$' -bench Copy -benchtime 3x
//
// so that one database is seeded and copied three times.
func BenchmarkCopy(b *testing.B) {
	if os.Getenv("PARLEY_TEST_ENGINE") == "postgres" {
		b.Skip("runs once, in the SQLite round")
	}
	pgtest.URL(b) // skips without PostgreSQL
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "parley.db")
	schema, err := os.ReadFile(filepath.Join("..", "schema.sql"))
	if err != nil {
		b.Fatal(err)
	}
	st, err := Open(ctx, path, string(schema), Options{})
	if err != nil {
		b.Fatal(err)
	}
	info, _, err := st.CreateTenant(ctx, "bench", "")
	if err != nil {
		b.Fatal(err)
	}
	ten := st.Tenant(info.ID)
	const leads, batch = 1000, 1000
	for i := 0; i < copyBenchMessages; i += batch {
		ins := make([]MessageInput, batch)
		for j := range ins {
			n := i + j
			ins[j] = MessageInput{LeadID: fmt.Sprintf("lead-%d", n%leads), CreateLead: true, Role: "user", MessageType: "text",
				Content: fmt.Sprintf("Olá, mensagem número %d sobre o pedido de açaí, com algum texto a mais.", n), Status: MsgDelivered}
		}
		if err := ten.Import(ctx, ins); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	b.ResetTimer()
	var rates []float64
	for range b.N {
		b.StopTimer()
		target := pgtest.Schema(b)
		b.StartTimer()
		start := time.Now()
		counts, err := Copy(ctx, path, target, string(schema))
		if err != nil {
			b.Fatal(err)
		}
		sec := time.Since(start).Seconds()
		rates = append(rates, float64(counts.Total())/sec)
		b.Logf("%d rows (%d messages, %d events) in %.2f s: %.0f rows/s", counts.Total(), counts.Rows("messages"),
			counts.Rows("events"), sec, float64(counts.Total())/sec)
	}
	slices.Sort(rates)
	b.ReportMetric(rates[len(rates)/2], "rows/s")
}

const copyBenchMessages = 100_000
