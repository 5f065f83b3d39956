package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// TestStorageFullIsReportedAndRecovers caps the database file with SQLite's
// max_page_count, which fails writes with the very error a full disk gives
// (SQLITE_FULL): writes fail as ErrStorage, StorageError says so, the log
// says it once, reads work, and once the cap is lifted RetryStorage alone
// ends the outage and the event ids go on without a gap.
func TestStorageFullIsReportedAndRecovers(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	s := openAtForTest(t, filepath.Join(t.TempDir(), "parley.db"),
		Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ten := tenantForTest(t, s)
	add := func(i int) error {
		_, err := ten.AddMessage(ctx, MessageInput{LeadID: fmt.Sprintf("lead-%d", i%3), CreateLead: true,
			Role: "user", Content: fmt.Sprintf("%d %s", i, strings.Repeat("x", 8000)), MessageType: "text"})
		return err
	}
	if err := add(0); err != nil {
		t.Fatal(err)
	}
	if err := s.StorageError(); err != nil {
		t.Fatalf("StorageError on a healthy store = %v", err)
	}
	var pages int64
	if err := s.r.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	acked := 1
	var err error
	for i := 1; i < 200; i++ {
		if err = add(i); err != nil {
			break
		}
		acked++
	}
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("write beyond the cap = %v, want ErrStorage", err)
	}
	for i := 0; i < 3; i++ {
		if err := add(1000 + i); !errors.Is(err, ErrStorage) {
			t.Fatalf("write %d beyond the cap = %v, want ErrStorage", i, err)
		}
	}
	if err := s.StorageError(); !errors.Is(err, ErrStorage) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("StorageError = %v, want ErrStorage naming a full disk", err)
	}
	if n := strings.Count(logs.String(), "writes refused"); n != 1 {
		t.Errorf("logged the outage %d times, want once: %s", n, logs.String())
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil || n != acked {
		t.Fatalf("reads during the outage: %d messages, %v; want %d", n, err, acked)
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryStorage(ctx); err != nil {
		t.Fatalf("RetryStorage once space is back = %v, want nil", err)
	}
	if !strings.Contains(logs.String(), "writes succeed again") {
		t.Errorf("the recovery was not logged: %s", logs.String())
	}
	if err := add(2000); err != nil {
		t.Fatalf("write after recovery = %v", err)
	}
	var seqs, maxSeq int64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*), max(seq) FROM events WHERE tenant_id = ?`, ten.ID()).Scan(&seqs, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if seqs != maxSeq {
		t.Errorf("event ids have gaps: %d events, highest id %d", seqs, maxSeq)
	}
}
