package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// snapshots returns testdata/schema_vK.sql by K.
func snapshots(t *testing.T) map[int]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "schema_v*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`schema_v(\d+)\.sql$`)
	out := map[int]string{}
	for _, f := range files {
		m := re.FindStringSubmatch(f)
		if m == nil {
			continue
		}
		k, _ := strconv.Atoi(m[1])
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = string(b)
	}
	return out
}

// rawDB opens path with the driver alone, as an older binary would have.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// buildAt makes a database from snapshot sql and stamps it version k.
func buildAt(t *testing.T, path, snapshot string, k int, rows ...string) {
	t.Helper()
	db := rawDB(t, path)
	for _, q := range append([]string{snapshot}, rows...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("build v%d: %v\n%s", k, err, q)
		}
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", k)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	var v int
	if err := rawDB(t, path).QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

var spaces = regexp.MustCompile(`\s+`)

// schemaOf describes a database's schema: every table's kind and columns
// (pragma table_list, table_info) and every index's name, uniqueness,
// origin, columns and, for a partial index, its WHERE clause.
func schemaOf(t *testing.T, path string) []string {
	t.Helper()
	db := rawDB(t, path)
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var out []string
	q := func(format string, query string, args ...any) {
		rows, err := db.Query(query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			m := map[string]any{}
			for i, c := range cols {
				m[c] = vals[i]
			}
			out = append(out, fmt.Sprintf(format, m))
		}
	}
	for _, tb := range tables {
		q("table "+tb+" %v", `SELECT type, ncol, wr, strict FROM pragma_table_list WHERE name = ? AND schema = 'main'`, tb)
		q("column "+tb+" %v", `SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)`, tb)
		rows, err := db.Query(`SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, tb)
		if err != nil {
			t.Fatal(err)
		}
		type idx struct {
			name, origin    string
			unique, partial int
		}
		var idxs []idx
		for rows.Next() {
			var i idx
			if err := rows.Scan(&i.name, &i.unique, &i.origin, &i.partial); err != nil {
				t.Fatal(err)
			}
			idxs = append(idxs, i)
		}
		rows.Close()
		for _, i := range idxs {
			out = append(out, fmt.Sprintf("index %s.%s unique=%d origin=%s partial=%d", tb, i.name, i.unique, i.origin, i.partial))
			q("index column "+i.name+" %v", `SELECT seqno, name FROM pragma_index_info(?)`, i.name)
			if i.partial == 1 {
				var ddl string
				if err := db.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = ?`, i.name).Scan(&ddl); err != nil {
					t.Fatal(err)
				}
				_, where, _ := strings.Cut(ddl, " WHERE ")
				out = append(out, "index where "+i.name+" "+spaces.ReplaceAllString(strings.TrimSpace(where), " "))
			}
		}
	}
	sort.Strings(out)
	return out
}

func freshSchema(t *testing.T) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fresh.db")
	st := storetest.Open(t, path)
	st.Close()
	if v := userVersion(t, path); v != store.SchemaVersion() {
		t.Fatalf("fresh database at version %d, want %d", v, store.SchemaVersion())
	}
	return schemaOf(t, path)
}

func diffSchemas(t *testing.T, got, want []string) {
	t.Helper()
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range want {
		if !g[s] {
			t.Errorf("migrated database lacks: %s", s)
		}
	}
	for _, s := range got {
		if !w[s] {
			t.Errorf("migrated database has extra: %s", s)
		}
	}
}

// TestEveryVersionHasASnapshot: migrations.go promises a snapshot per version.
func TestEveryVersionHasASnapshot(t *testing.T) {
	snaps := snapshots(t)
	for k := 1; k <= store.SchemaVersion(); k++ {
		if _, ok := snaps[k]; !ok {
			t.Errorf("testdata/schema_v%d.sql is missing (SchemaVersion() = %d)", k, store.SchemaVersion())
		}
	}
	for k := range snaps {
		if k > store.SchemaVersion() {
			t.Errorf("testdata/schema_v%d.sql is newer than SchemaVersion() = %d", k, store.SchemaVersion())
		}
	}
	// The newest snapshot describes what schema.sql makes.
	path := filepath.Join(t.TempDir(), "snap.db")
	buildAt(t, path, snaps[store.SchemaVersion()], store.SchemaVersion())
	diffSchemas(t, schemaOf(t, path), freshSchema(t))
}

// TestMigrateFromEverySnapshot opens a database made from each older
// snapshot with the current schema: it must end at the newest version with
// exactly the schema of a fresh database.
func TestMigrateFromEverySnapshot(t *testing.T) {
	want := freshSchema(t)
	snaps := snapshots(t)
	for k := 1; k < store.SchemaVersion(); k++ {
		t.Run(fmt.Sprintf("v%d", k), func(t *testing.T) {
			snap, ok := snaps[k]
			if !ok {
				t.Fatalf("no snapshot for version %d", k)
			}
			path := filepath.Join(t.TempDir(), "old.db")
			buildAt(t, path, snap, k)
			st := storetest.Open(t, path)
			if err := st.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			st.Close()
			if v := userVersion(t, path); v != store.SchemaVersion() {
				t.Fatalf("user_version after migration = %d, want %d", v, store.SchemaVersion())
			}
			diffSchemas(t, schemaOf(t, path), want)
			// Opening again is a no-op.
			storetest.Open(t, path).Close()
			diffSchemas(t, schemaOf(t, path), want)
		})
	}
}

func TestOpenRefusesNewerDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "future.db")
	storetest.Open(t, path).Close()
	newer := store.SchemaVersion() + 1
	if _, err := rawDB(t, path).Exec(fmt.Sprintf("PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), path, storetest.Schema(t), store.Options{})
	if err == nil {
		st.Close()
		t.Fatal("opening a database from a newer binary succeeded")
	}
	for _, want := range []string{"newer", strconv.Itoa(newer), strconv.Itoa(store.SchemaVersion())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if v := userVersion(t, path); v != newer {
		t.Errorf("the refused open changed user_version to %d", v)
	}
}
