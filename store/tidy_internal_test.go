package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTidyMergesSearchSegments: after many small indexing batches (a
// segment each), tidying merges them until FTS5 finds nothing left to merge
// two to a level, and searches still find every row.
func TestTidyMergesSearchSegments(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t)
	ten := tenantForTest(t, s)
	for _, index := range searchIndexes {
		var v int
		if err := s.r.QueryRow(`SELECT v FROM ` + index + `_config WHERE k = 'usermerge'`).Scan(&v); err != nil || v != 2 {
			t.Fatalf("%s usermerge = %d (%v), want 2", index, v, err)
		}
	}
	const batches = 40
	for i := 0; i < batches; i++ {
		id, name := fmt.Sprintf("lead-%d", i), fmt.Sprintf("Lead Number%03d", i)
		if _, err := ten.CreateLead(ctx, LeadInput{ID: &id, Name: &name}); err != nil {
			t.Fatal(err)
		}
		if _, err := ten.AddMessage(ctx, MessageInput{LeadID: id, Role: RoleUser,
			Content: fmt.Sprintf("mensagem numero%03d", i), Status: MsgDelivered}); err != nil {
			t.Fatal(err)
		}
		s.searchDirty.Store(true)
		if err := s.catchUpSearch(ctx); err != nil { // one batch: one new segment in each index
			t.Fatal(err)
		}
	}
	before := map[string]int{}
	for _, index := range searchIndexes {
		before[index] = segments(t, s, index)
	}
	s.searchUntidy.Store(true)
	if !s.tidySearch(ctx) {
		t.Fatal("tidySearch left off with no write waiting")
	}
	for _, index := range searchIndexes {
		after := segments(t, s, index)
		t.Logf("%s: %d segments, %d after tidying", index, before[index], after)
		if after >= before[index] || after > 2 {
			t.Errorf("%s: %d segments, %d after tidying", index, before[index], after)
		}
		if merged, err := s.mergeStep(ctx, index); err != nil || merged {
			t.Errorf("%s: a merge step after tidying still merged (%v)", index, err)
		}
	}
	for i := 0; i < batches; i++ {
		for _, q := range []string{fmt.Sprintf("numero%03d", i), fmt.Sprintf("Number%03d", i)} {
			got, total, err := ten.SearchConversations(ctx, ConversationQuery{Limit: 10, Search: q})
			if err != nil || total != 1 || len(got) != 1 {
				t.Errorf("search %q after tidying: %d of %d (%v), want 1", q, len(got), total, err)
			}
		}
	}
}

// TestTidyYieldsToWrites: tidying leaves off while a write waits, and tries
// again later.
func TestTidyYieldsToWrites(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t)
	hold, held := make(chan struct{}), make(chan struct{})
	go s.writeRaw(ctx, func(*wtx) error { close(held); <-hold; return nil })
	<-held
	waiting := make(chan error, 1)
	go func() { waiting <- s.writeRaw(ctx, func(*wtx) error { return nil }) }()
	for deadline := time.Now().Add(5 * time.Second); len(s.writes) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second write never queued")
		}
	}
	s.searchUntidy.Store(true)
	if s.tidySearch(ctx) {
		t.Error("tidySearch finished while a write was waiting")
	}
	if !s.searchUntidy.Load() {
		t.Error("a tidy that left off is no longer due")
	}
	close(hold)
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
	if !s.tidySearch(ctx) {
		t.Error("tidySearch left off with no write waiting")
	}
}

// segments reads the number of segments from index's FTS5 structure record
// (fts5_index.c: a 4-byte cookie, the 4-byte version-2 marker when present,
// then the varints nLevel and nSegment).
func segments(t *testing.T, s *Store, index string) int {
	t.Helper()
	var rec []byte
	if err := s.r.QueryRow(`SELECT block FROM ` + index + `_data WHERE id = 10`).Scan(&rec); err != nil {
		t.Fatal(err)
	}
	i := 4
	if len(rec) >= 8 && string(rec[4:8]) == "\xff\x00\x00\x01" {
		i = 8
	}
	_, n := binary.Uvarint(rec[i:]) // nLevel (below 128: one byte, as in SQLite's varint)
	nSeg, m := binary.Uvarint(rec[i+n:])
	if n != 1 || m != 1 {
		t.Fatalf("%s: structure record %x: more than 127 levels or segments?", index, rec)
	}
	return int(nSeg)
}

// TestMigrationSetsUsermerge: a version 6 database gets usermerge=2 too.
func TestMigrationSetsUsermerge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v6.db")
	v6, err := os.ReadFile(filepath.Join("testdata", "schema_v6.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(v6) + "; PRAGMA user_version = 6"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := openAtForTest(t, path, Options{})
	for _, index := range searchIndexes {
		var v int
		if err := s.r.QueryRow(`SELECT v FROM ` + index + `_config WHERE k = 'usermerge'`).Scan(&v); err != nil || v != 2 {
			t.Errorf("%s usermerge = %d (%v) after migrating from version 6, want 2", index, v, err)
		}
	}
}
