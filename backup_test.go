package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testKey = "prl_backup_test_key_0123456789abcdef"

// send posts one lead message through /ai/process and fails the test unless
// it is acknowledged.
func (s *server) send(t *testing.T, key, lead, text string) {
	t.Helper()
	if s.tenant == "" {
		_, body := s.get(t, key, "/backend/settings")
		m := regexp.MustCompile(`"tenant_id":"([^"]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no tenant_id in settings %s", body)
		}
		s.tenant = m[1]
	}
	body := fmt.Sprintf(`{"tenant_id":%q,"lead_id":%q,"role":"user","content":%q,"message_type":"text"}`, s.tenant, lead, text)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/ai/process", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("POST /ai/process = %d", res.StatusCode)
	}
}

// firstEventAfter opens the stream after id and returns the first event id it
// replays (0 when none comes within a second).
func (s *server) firstEventAfter(t *testing.T, key string, after int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/backend/conversations/stream", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Last-Event-ID", strconv.Itoa(after))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			n, _ := strconv.Atoi(id)
			return n
		}
	}
	return 0
}

// TestCLIBackupAndRestore: `parley backup FILE` beside a running server
// prints {"file","bytes","seconds"}; a server started on that file alone
// has the messages and continues the event ids.
func TestCLIBackupAndRestore(t *testing.T) {
	db := setEnv(t, "")
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", testKey)
	s := startServer(t)
	for i := range 20 {
		s.send(t, testKey, fmt.Sprintf("lead-%d", i%3), fmt.Sprintf("before backup %d", i))
	}
	file := filepath.Join(t.TempDir(), "copy.db")
	code, out, errOut := cli(t, "backup", file)
	if code != 0 {
		t.Fatalf("backup = %d: %s", code, errOut)
	}
	var info struct {
		File    string  `json:"file"`
		Bytes   int64   `json:"bytes"`
		Seconds float64 `json:"seconds"`
	}
	jsonOut(t, out, &info)
	if info.File != file || info.Bytes <= 0 || info.Seconds <= 0 {
		t.Fatalf("backup printed %+v", info)
	}
	if code, _, _ := cli(t, "backup", file); code != 1 {
		t.Errorf("backup over an existing file = %d, want 1", code)
	}
	if code, _, _ := cli(t, "backup"); code != 2 {
		t.Errorf("backup without FILE = %d, want 2", code)
	}
	last := s.firstEventAfter(t, testKey, 0)
	if last != 1 {
		t.Fatalf("the live stream replays from %d, want 1", last)
	}
	s.stop(t)

	// Restore: the copy alone in place of the database.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(db + suffix)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := startServer(t)
	code2, body := r.get(t, testKey, "/backend/conversations?limit=10")
	if code2 != http.StatusOK || strings.Count(body, `"lead_id"`) < 3 {
		t.Fatalf("restored server lists %d %s, want the 3 conversations", code2, body)
	}
	// The copy's events replay; the next one continues after them.
	before := 0
	for after := 1; ; after++ {
		if r.firstEventAfter(t, testKey, after) == 0 {
			before = after
			break
		}
		if after > 500 {
			t.Fatal("the restored stream never ends")
		}
	}
	r.send(t, testKey, "lead-new", "after restore")
	if next := r.firstEventAfter(t, testKey, before); next != before+1 {
		t.Fatalf("after restore the next event id is %d, want %d", next, before+1)
	}
}

// TestScheduledBackups: PARLEY_BACKUP_DIR with an interval takes backups by
// itself, names them by UTC time, keeps PARLEY_BACKUP_KEEP of them, counts
// them in parley_backups_total, and leaves other files alone.
func TestScheduledBackups(t *testing.T) {
	setEnv(t, "")
	dir := t.TempDir()
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", testKey)
	t.Setenv("PARLEY_BACKUP_DIR", dir)
	t.Setenv("PARLEY_BACKUP_INTERVAL", "1100ms") // names have second precision
	t.Setenv("PARLEY_BACKUP_KEEP", "2")
	if err := os.WriteFile(filepath.Join(dir, "mine.db"), []byte("not a backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	s.send(t, testKey, "lead", "hello")
	name := regexp.MustCompile(`^parley-\d{8}T\d{6}Z\.db$`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := s.get(t, testKey, "/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics = %d", code)
		}
		for _, series := range []string{"parley_sqlite_wal_bytes ", "parley_sqlite_freelist_pages ", "parley_sqlite_wal_syncs_total "} {
			if !strings.Contains(body, "\n"+series) {
				t.Fatalf("/metrics lacks %s", series)
			}
		}
		if m := regexp.MustCompile(`parley_backups_total\{outcome="ok"\} (\d+)`).FindStringSubmatch(body); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 4 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 4 scheduled backups in 20 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.stop(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var backups []string
	for _, e := range entries {
		switch {
		case e.Name() == "mine.db":
		case name.MatchString(e.Name()):
			backups = append(backups, e.Name())
		default:
			t.Errorf("unexpected file %s in the backup directory", e.Name())
		}
	}
	if len(backups) != 2 {
		t.Fatalf("kept %v, want the newest 2", backups)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "mine.db")); string(b) != "not a backup" {
		t.Error("a file that is not a scheduled backup was touched")
	}
}
