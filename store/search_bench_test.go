package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkSearchConversations times one page (25 items) of GET
// /conversation's query, SearchConversations, over one tenant seeded with
// PARLEY_BENCH_CONVERSATIONS conversations (default 2000, each with its own
// lead and meta) and PARLEY_BENCH_MESSAGES messages (default 10 per
// conversation). The default size suits CI; the production-size run is
//
//	PARLEY_BENCH_CONVERSATIONS=100000 PARLEY_BENCH_MESSAGES=1000000 \
//	  go test ./store/ -run '^$' -bench BenchmarkSearchConversations -benchtime 20x -timeout 30m
//
// PARLEY_BENCH_DB names a database file to keep: seeded there when it does
// not exist, reused as it is when it does, so that two builds of the store
// can be timed in turn on the same data (give it the sizes it was seeded
// with: the cases are chosen from them).
// Seeding writes rows with plain SQL in large write transactions of the
// store, builds conversation_search with the store's own
// indexConversations and lets the store index the messages. At 100k/1M it
// takes about five minutes on two busy cores.
func BenchmarkSearchConversations(b *testing.B) {
	nConv := searchBenchEnvInt(b, "PARLEY_BENCH_CONVERSATIONS", 2000)
	nMsg := searchBenchEnvInt(b, "PARLEY_BENCH_MESSAGES", 10*nConv)
	ctx := context.Background()
	schema, err := os.ReadFile(filepath.Join("..", "schema.sql"))
	if err != nil {
		b.Fatal(err)
	}
	path, seed := os.Getenv("PARLEY_BENCH_DB"), true
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	} else if _, err := os.Stat(path); err == nil {
		seed = false
	}
	st, err := Open(ctx, path, string(schema), Options{})
	if err != nil {
		b.Fatal(err)
	}
	var info TenantInfo
	if seed {
		info, _, err = st.CreateTenant(ctx, "bench", "")
	} else {
		info, err = st.FirstTenant(ctx)
	}
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if seed {
		searchBenchSeed(b, st, info.ID, nConv, nMsg)
	}
	seeded := time.Since(start)
	// Reopen, as after a restart: the store brings the message index up to
	// date before the first search answers (whether messages are indexed by
	// trigger or in batches), so that no timed search pays for it.
	st.Close()
	if st, err = Open(ctx, path, string(schema), Options{}); err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ten := st.Tenant(info.ID)
	if _, _, err := ten.SearchConversations(ctx, ConversationQuery{Limit: 1, Search: "warm up"}); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d conversations and %d messages in %v, indexed in %v more", nConv, nMsg,
		seeded.Round(time.Millisecond), (time.Since(start) - seeded).Round(time.Millisecond))

	mid, _, err := ten.SearchConversations(ctx, ConversationQuery{Limit: 1, Offset: nConv / 2})
	if err != nil || len(mid) != 1 {
		b.Fatalf("middle conversation: %v %v", mid, err)
	}
	cases := []struct {
		name string
		q    ConversationQuery
	}{
		{"first_page", ConversationQuery{}},
		{"offset_middle", ConversationQuery{Offset: nConv / 2}},
		{"keyset_middle", ConversationQuery{AfterCreatedAt: &mid[0].CreatedAt, AfterID: mid[0].ID}},
		{"search_rare_message", ConversationQuery{Search: searchBenchCode(nMsg / 2)}},
		{"search_common_word", ConversationQuery{Search: "entrega"}},
		{"search_lead_name", ConversationQuery{Search: "Benedita Xavante"}},
		{"search_2_chars", ConversationQuery{Search: "qz"}},
		{"meta_rare", ConversationQuery{Meta: searchBenchOrder(nConv / 3)}},
		{"meta_common", ConversationQuery{Meta: "Curitiba"}},
		{"meta_2_chars", ConversationQuery{Meta: "qz"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q := c.q
			q.Limit = 25
			list, total, err := ten.SearchConversations(ctx, q)
			if err != nil || len(list) == 0 || total == 0 {
				b.Fatalf("%+v found %d of %d: %v", q, len(list), total, err)
			}
			b.ReportMetric(float64(total), "matches")
			for b.Loop() {
				if _, _, err := ten.SearchConversations(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The lead list's search (GET /lead?search=) scans the tenant's leads
	// on either engine: one page of it, for a common name and a rare email.
	for _, c := range []struct{ name, search string }{{"leads_name", "Conceição"}, {"leads_2_chars", "qz"}} {
		b.Run(c.name, func(b *testing.B) {
			list, total, err := ten.ListLeads(ctx, c.search, Page{Limit: 25})
			if err != nil || len(list) == 0 || total == 0 {
				b.Fatalf("leads %q found %d of %d: %v", c.search, len(list), total, err)
			}
			b.ReportMetric(float64(total), "matches")
			for b.Loop() {
				if _, _, err := ten.ListLeads(ctx, c.search, Page{Limit: 25}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func searchBenchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

var (
	searchBenchFirst  = []string{"Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Hugo", "Isabel", "João", "Karina", "Luís"}
	searchBenchLast   = []string{"Silva", "Souza", "Oliveira", "Santos", "Pereira", "Lima", "Costa", "Ribeiro", "Almeida", "Conceição"}
	searchBenchCities = []string{"São Paulo", "Rio de Janeiro", "Curitiba", "Recife", "Salvador", "Belém", "Manaus", "Natal", "Goiânia", "Porto Alegre"}
	searchBenchWords  = []string{"olá", "pedido", "entrega", "pagamento", "boleto", "cartão", "prazo", "endereço", "troca", "nota fiscal", "cancelar", "atraso", "obrigado"}
)

func searchBenchCode(j int) string  { return fmt.Sprintf("TRK-%07d", j) }
func searchBenchOrder(i int) string { return fmt.Sprintf("ORD-%07d", i) }

// searchBenchSeed writes nConv leads and conversations and nMsg messages over
// about a year, in write transactions of up to 50k rows, then indexes the
// conversations for search.
func searchBenchSeed(b *testing.B, st *Store, tenant string, nConv, nMsg int) {
	ctx := context.Background()
	bots, _, err := st.Tenant(tenant).ListAssistants(ctx, Page{Limit: 1})
	if err != nil || len(bots) != 1 {
		b.Fatalf("default assistant: %v %v", bots, err)
	}
	bot := bots[0].ID
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	step := int64(365*24*time.Hour/time.Millisecond) / int64(nConv)
	convIDs := make([]string, nConv)
	const batch = 50_000
	for lo := 0; lo < nConv; lo += batch {
		err := st.write(ctx, tenant, func(w *wtx) error {
			lead, err := w.PrepareContext(ctx, `INSERT INTO leads (tenant_id, id, name, phone, email, meta, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, '{}', ?, ?)`)
			if err != nil {
				return err
			}
			defer lead.Close()
			conv, err := w.PrepareContext(ctx, `INSERT INTO conversations (id, tenant_id, lead_id, assistant_id, thread_key, meta,
created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer conv.Close()
			for i := lo; i < min(lo+batch, nConv); i++ {
				at := base + int64(i)*step
				name := searchBenchFirst[i%len(searchBenchFirst)] + " " + searchBenchLast[(i/len(searchBenchFirst))%len(searchBenchLast)]
				email := fmt.Sprintf("user%07d@example.com", i)
				if i == nConv/3 {
					name = "Benedita Xavante"
				}
				if i == nConv/4 {
					email = "qz@example.com"
				}
				leadID := fmt.Sprintf("lead-%07d", i)
				if _, err := lead.ExecContext(ctx, tenant, leadID, name, fmt.Sprintf("+55119%08d", i), email, at, at); err != nil {
					return err
				}
				meta := fmt.Sprintf(`{"order":%q,"city":%q,"score":%d}`, searchBenchOrder(i), searchBenchCities[i%len(searchBenchCities)], i%5)
				if i == nConv/5 {
					meta = `{"order":"qz"}`
				}
				convIDs[i] = NewID()
				if _, err := conv.ExecContext(ctx, convIDs[i], tenant, leadID, bot, "e:"+convIDs[i], meta, at, at); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for lo := 0; lo < nMsg; lo += batch {
		err := st.write(ctx, tenant, func(w *wtx) error {
			msg, err := w.PrepareContext(ctx, `INSERT INTO messages (id, tenant_id, conversation_id, lead_id, role, content,
message_type, status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'text', ?, ?)`)
			if err != nil {
				return err
			}
			defer msg.Close()
			for j := lo; j < min(lo+batch, nMsg); j++ {
				i := int(int64(j) * int64(nConv) / int64(nMsg)) // messages fill conversations in order
				role, status := RoleUser, MsgDelivered
				if j%2 == 1 {
					role, status = RoleAssistant, MsgSent
				}
				text := searchBenchWords[j%len(searchBenchWords)] + " " + searchBenchWords[(j/7)%len(searchBenchWords)] + " sobre o " + searchBenchOrder(i)
				if j%1000 == 0 {
					text += " rastreio " + searchBenchCode(j)
				}
				at := base + int64(i)*step + int64(j%1000)*1000
				if _, err := msg.ExecContext(ctx, NewID(), tenant, convIDs[i], fmt.Sprintf("lead-%07d", i), role, text, status, at); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := st.write(ctx, tenant, func(w *wtx) error {
		return indexConversations(ctx, w, `c.tenant_id = ?`, tenant)
	}); err != nil {
		b.Fatal(err)
	}
}
