package store

import (
	"database/sql"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// engineFree skips, in the PostgreSQL round of the package's tests, a test
// that involves no PostgreSQL: it ran in the SQLite round.
func engineFree(t *testing.T) {
	if os.Getenv("PARLEY_TEST_ENGINE") == "postgres" {
		t.Skip("no PostgreSQL involved: run in the SQLite round")
	}
}

func TestFold(t *testing.T) {
	engineFree(t)
	for in, want := range map[string]string{
		"":                  "",
		"plain ascii 42":    "plain ascii 42",
		"MiXeD ASCII":       "mixed ascii",
		"João":              "joao",
		"JOÃO":              "joao",
		"José Álvarez":      "jose alvarez",
		"Élodie":            "elodie",
		"São Paulo":         "sao paulo",
		"Ação ÉLODIE Ÿ":     "acao elodie y", // as TestPostgresMigrateEmpty expects of PostgreSQL
		"Crème BRÛLÉE":      "creme brulee",
		"e\u0301":           "e", // already decomposed
		"Tiếng Việt":        "tieng viet",
		"Ǖ":                 "u", // two marks
		"İ":                 "i",
		"Άλφα":              "αλφα",
		"Йод":               "иод", // a breve, as PostgreSQL's NFD fold (not unaccent) removes it
		"Straße Æsir Øre":   "straße æsir øre",
		"Łódź":              "łodz",
		"50%_off\\":         "50%_off\\",
		"emoji 👍 ok":        "emoji 👍 ok",
		"bad \xff\xc3 UTF8": "bad \xff\xc3 utf8",
	} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFoldFastPath: fold, which folds most text character by character, is
// foldNFD, which normalises: for every character alone and after a letter
// and before a mark, and for random mixes of what needs care (marks of every
// kind, Hangul, bytes that are not UTF-8).
func TestFoldFastPath(t *testing.T) {
	engineFree(t)
	for r := range rune(unicode.MaxRune + 1) {
		if r >= 0xD800 && r < 0xE000 {
			continue
		}
		for _, s := range []string{string(r), "A" + string(r) + "\u0301B", "\u05B0" + string(r) + "\u0591"} {
			if got, want := fold(s), foldNFD(s); got != want {
				t.Fatalf("fold(%q) = %q, foldNFD %q", s, got, want)
			}
		}
	}
	pool := []string{"a", "Z", " ", "%", "ã", "Ã", "ǖ", "Ǖ", "ß", "ſ", "İ", "\u0301", "\u0327", "\u0345",
		"\u0591", "\u05B0", "\u0951", "\u093C", "ά", "Ω", "Ω", "й", "ệ", "한", "\u1100", "\u1161", "\u11A8",
		"\U0001D15E", "👍", "\uFFFD", "\xff", "\xc3", "\xe2\x82", "文", "\uF900"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(pool[rng.IntN(len(pool))])
		}
		s := b.String()
		if got, want := fold(s), foldNFD(s); got != want {
			t.Fatalf("fold(%q) = %q, foldNFD %q", s, got, want)
		}
	}
}

// TestFoldSQL: parley_fold is registered on every SQLite connection;
// numbers pass unchanged (LIKE converts them as before), NULL stays NULL.
func TestFoldSQL(t *testing.T) {
	engineFree(t)
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var folded, num, typ string
	var null sql.NullString
	if err := db.QueryRow(`SELECT parley_fold('Ação ÉLODIE Ÿ'), parley_fold(NULL), parley_fold(42) || '', typeof(parley_fold(4.5))`).
		Scan(&folded, &null, &num, &typ); err != nil {
		t.Fatal(err)
	}
	if folded != "acao elodie y" || null.Valid || num != "42" || typ != "real" {
		t.Errorf("parley_fold: %q, %v, %q, %q", folded, null, num, typ)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT 'JOÃO' AS name UNION ALL SELECT 'Jo_o' UNION ALL SELECT 'Maria')
WHERE parley_fold(name) LIKE (? || '') ESCAPE '\'`, sqlitePattern("ão")).Scan(&n); err != nil || n != 1 {
		t.Errorf("names matching ão: %d, %v", n, err)
	}
}

// TestFoldAgreesWithFTS5: a search of three characters or more is looked up
// in FTS5 trigram tables (remove_diacritics 1), a shorter one scans with
// parley_fold; both must fold the letters of Latin text alike. FTS5 reads
// each character through its own table; its trigram tokenizer exposes the
// result through fts5vocab, one trigram per document "<c>".
func TestFoldAgreesWithFTS5(t *testing.T) {
	engineFree(t)
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'trigram remove_diacritics 1');
CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)`); err != nil {
		t.Fatal(err)
	}
	// Where they differ, and why: FTS5 case-folds (ſ and ẛ to s) where
	// PostgreSQL's lower() does not, and remove_diacritics 1 leaves letters
	// whose decomposition holds a letter that is itself decomposed or not
	// Latin (ǡ is ȧ with a macron; ǣ is æ with one).
	differ := "ſẛǠǡǢǣǮǯǼǽǾǿ"
	var letters []rune
	for _, rg := range [][2]rune{{0xC0, 0x24F}, {0x1E00, 0x1EFF}} {
		for r := rg[0]; r <= rg[1]; r++ {
			if unicode.IsLetter(r) && !strings.ContainsRune(differ, r) {
				letters = append(letters, r)
			}
		}
	}
	for _, r := range letters {
		if _, err := db.Exec(`INSERT INTO t (rowid, x) VALUES (?, ?)`, r, "<"+string(r)+">"); err != nil {
			t.Fatal(err)
		}
	}
	fts := map[rune]string{}
	rows, err := db.Query(`SELECT doc, term FROM v`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r rune
		var term string
		if err := rows.Scan(&r, &term); err != nil {
			t.Fatal(err)
		}
		fts[r] = strings.TrimSuffix(strings.TrimPrefix(term, "<"), ">")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range letters {
		if got, ok := fts[r]; !ok || got != fold(string(r)) {
			t.Errorf("%q (U+%04X): FTS5 folds to %q, parley_fold to %q", r, r, got, fold(string(r)))
		}
	}
}

// TestFoldMatchesPostgres: parley_fold on SQLite is pgFoldNFD for every
// character of the Basic Multilingual Plane, and pgFoldMap for the letters
// that map lists.
func TestFoldMatchesPostgres(t *testing.T) {
	db := pgFresh(t)
	var nfd bool
	if err := db.QueryRow(`SELECT current_setting('server_version_num')::int >= 130000
AND current_setting('server_encoding') = 'UTF8'`).Scan(&nfd); err != nil {
		t.Fatal(err)
	}
	if !nfd {
		t.Skip("normalize() needs PostgreSQL 13 and a UTF8 database")
	}
	if _, err := db.Exec(`CREATE FUNCTION fold_nfd(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT ` + pgFoldNFD + `$$;
CREATE FUNCTION fold_map(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT ` + pgFoldMap + `$$`); err != nil {
		t.Fatal(err)
	}
	var all []string
	for r := rune(1); r < 0x10000; r++ {
		if r < 0xD800 || r >= 0xE000 {
			all = append(all, string(r))
		}
	}
	rows, err := db.Query(`SELECT s, fold_nfd(s), fold_map(s) FROM unnest($1::text[]) AS u(s)`, all)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var s, nfd, mapped string
		if err := rows.Scan(&s, &nfd, &mapped); err != nil {
			t.Fatal(err)
		}
		n++
		if got := fold(s); got != nfd {
			t.Errorf("%q: PostgreSQL's NFD fold gives %q, parley_fold on SQLite %q", s, nfd, got)
		}
		if r, _ := utf8.DecodeRuneInString(s); r >= 0xC0 && r < 0x180 && fold(s) != mapped {
			t.Errorf("%q: PostgreSQL's map fold gives %q, parley_fold on SQLite %q", s, mapped, fold(s))
		}
	}
	if err := rows.Err(); err != nil || n != len(all) {
		t.Fatalf("%d of %d characters: %v", n, len(all), err)
	}
}
