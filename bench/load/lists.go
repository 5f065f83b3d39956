package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-dev/parley/store"
)

var (
	firstNames = []string{"Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Heitor", "Isabela", "João",
		"Karina", "Lucas", "Marina", "Nuno", "Olívia", "Paulo", "Quésia", "Rafael", "Sofia", "Tiago"}
	lastNames = []string{"Silva", "Souza", "Oliveira", "Santos", "Pereira", "Lima", "Carvalho", "Ferreira", "Rodrigues",
		"Almeida", "Costa", "Gomes", "Martins", "Araújo", "Barbosa"}
	phrases = []string{"Olá, gostaria de saber o preço do plano", "Vocês entregam em São Paulo?", "Qual o prazo de entrega?",
		"Pode me mandar o orçamento?", "Tem desconto para pagamento à vista?", "Obrigado pela ajuda!",
		"Claro! O plano básico custa R$ 99 por mês.", "Entregamos em todo o Brasil em até 5 dias úteis.",
		"Posso agendar uma visita técnica?", "Segue o orçamento solicitado."}
)

func seedLead(i int) string { return fmt.Sprintf("seed-%07d", i) }

// seedDB fills path with o.conversations leads, one conversation each, and
// o.messages messages spread over them, through the store in large batches.
func seedDB(ctx context.Context, o options, path string) error {
	schema, err := os.ReadFile(filepath.Join(repoRoot(), "schema.sql"))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, path, string(schema), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	info, _, err := st.CreateTenant(ctx, "default", benchKey)
	if err != nil {
		return err
	}
	ten := st.Tenant(info.ID)
	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < o.conversations; i++ {
		name := firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
		phone := fmt.Sprintf("+55119%08d", i)
		id := seedLead(i)
		if _, err := ten.CreateLead(ctx, store.LeadInput{ID: &id, Name: &name, Phone: &phone}); err != nil {
			return err
		}
		if i%20000 == 0 {
			fmt.Fprintf(os.Stderr, "seed: %d leads (%v)\n", i, time.Since(start).Round(time.Second))
		}
	}
	const batch = 5000
	var ins []store.MessageInput
	for m := 0; m < o.messages; m++ {
		role := store.RoleUser
		if m%2 == 1 {
			role = store.RoleAssistant
		}
		ins = append(ins, store.MessageInput{LeadID: seedLead(m % o.conversations), Role: role,
			Content: phrases[rng.IntN(len(phrases))], MessageType: "text", Status: store.MsgDelivered})
		if len(ins) == batch || m == o.messages-1 {
			if err := ten.Import(ctx, ins); err != nil {
				return err
			}
			ins = ins[:0]
			if m%100000 < batch {
				fmt.Fprintf(os.Stderr, "seed: %d messages (%v)\n", m+1, time.Since(start).Round(time.Second))
			}
		}
	}
	// A server merges the search index's segments when idle; the lists
	// scenario starts reading at once, so merge them here.
	if err := st.TidySearch(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: done in %v\n", time.Since(start).Round(time.Second))
	return nil
}

// seedPG fills the schema the way a self-hoster moving up fills theirs:
// parley copy from the SQLite database of the same size (seeded first when
// missing). Seeding through the store is the same statements either way,
// but on PostgreSQL each message's costs round trips: 1M messages took
// hours, against minutes for the SQLite seed and the copy.
func seedPG(ctx context.Context, o options, s *pgSchema) error {
	path := listsDB(o)
	if _, err := os.Stat(path); err != nil {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		if err := seedDB(ctx, o, path); err != nil {
			return err
		}
	}
	schema, err := os.ReadFile(filepath.Join(repoRoot(), "schema.sql"))
	if err != nil {
		return err
	}
	start := time.Now()
	counts, err := store.Copy(ctx, path, s.url, string(schema))
	if err != nil {
		return fmt.Errorf("copy %s into %s: %w", path, s.name, err)
	}
	fmt.Fprintf(os.Stderr, "seed: copied %d rows from %s in %v\n", counts.Total(), path, time.Since(start).Round(time.Second))
	return s.analyze(ctx)
}

func listsDB(o options) string {
	if o.db != "" {
		return o.db
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("parley-lists-%d-%d.db", o.conversations, o.messages))
}

// seeded makes -seed build the database once, before the first run.
var seeded bool

// lists measures the three list routes on a seeded database.
func lists(ctx context.Context, o options) (result, error) {
	if o.databaseURL != "" {
		s, err := newPGSchema(ctx, o.databaseURL, listsSchema(o), o.seed && !seeded)
		if err != nil {
			return result{}, err
		}
		defer s.close()
		if o.seed && !seeded {
			seeded = true
			if err := seedPG(ctx, o, s); err != nil {
				return result{}, err
			}
			fmt.Fprintf(os.Stderr, "seed: schema %s is kept for later runs (DROP SCHEMA %s CASCADE when done)\n", s.name, s.name)
		}
		if !s.exists(ctx) {
			return result{}, fmt.Errorf("no seeded schema %s: run with -seed first", s.name)
		}
		o.pgURL = s.url
		return measureLists(ctx, o)
	}
	o.db = listsDB(o)
	if o.seed && !seeded {
		seeded = true
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(o.db + suffix)
		}
		if err := seedDB(ctx, o, o.db); err != nil {
			return result{}, err
		}
	}
	if _, err := os.Stat(o.db); err != nil {
		return result{}, fmt.Errorf("no seeded database at %s: run with -seed first", o.db)
	}
	return measureLists(ctx, o)
}

// measureLists runs the list routes against a server on the seeded database.
func measureLists(ctx context.Context, o options) (result, error) {
	t, err := startTarget(ctx, o)
	if err != nil {
		return result{}, err
	}
	defer t.stop()
	extra := map[string]float64{}
	var overall result
	for _, q := range []struct {
		name string
		path func(n int) string
	}{
		{"lead_messages", func(n int) string { return "/backend/messages/" + seedLead(n*7919%o.conversations) + "?limit=50" }},
		{"conversations", func(n int) string { return fmt.Sprintf("/backend/conversations?limit=20&offset=%d", n%10*20) }},
		{"search_name", func(n int) string {
			return "/conversation?limit=25&search=" + strings.ReplaceAll(firstNames[n%len(firstNames)]+"%20"+lastNames[n%len(lastNames)], " ", "%20")
		}},
		{"search_phone", func(n int) string { return fmt.Sprintf("/conversation?limit=25&search=9%07d", n*7919%o.conversations) }},
	} {
		oq := o
		oq.duration = o.duration / 4
		r := hammer(ctx, oq, func(ctx context.Context, n int) error {
			code, b, err := t.do(ctx, "GET", q.path(n), nil)
			if err == nil && code != 200 {
				err = fmt.Errorf("%s: %d %s", q.path(n), code, b)
			}
			return err
		})
		extra[q.name+"_p50_ms"], extra[q.name+"_p99_ms"], extra[q.name+"_per_second"] = r.P50ms, r.P99ms, r.PerSecond
		overall.Requests += r.Requests
		overall.Errors += r.Errors
		overall.P99ms = max(overall.P99ms, r.P99ms)
	}
	overall.Extra = extra
	overall.RSSBytes = t.rss()
	// RSS includes the database pages the readers mapped (page cache);
	// anonymous memory is the server's own (heap, stacks, SQLite's caches).
	extra["rss_anon_mb"] = float64(t.statusKB("RssAnon")) / 1024
	return overall, nil
}

// idle measures readiness time and resident memory of a quiet server (on the
// seeded lists database when it exists, else a fresh one).
func idle(ctx context.Context, o options) (result, error) {
	if db := listsDB(o); o.db == "" && o.databaseURL == "" {
		if _, err := os.Stat(db); err == nil {
			o.db = db
		}
	}
	t, err := startTarget(ctx, o)
	if err != nil {
		return result{}, err
	}
	defer t.stop()
	time.Sleep(2 * time.Second)
	return result{RSSBytes: t.rss(), Extra: map[string]float64{"ready_ms": float64(t.ready.Microseconds()) / 1000}}, nil
}
