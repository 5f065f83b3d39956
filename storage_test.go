package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of size bytes and returns its path; it skips the
// test where mounting needs privileges this process does not have.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// post sends a JSON body with the key and returns status, headers and body.
func (s *server) post(t *testing.T, key, path, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestDiskFullIsAnOutage fills a 4 MB file system under a running server:
// writes then answer 503 UNAVAILABLE with Retry-After (never 500), /readyz
// turns 503, reads and every acknowledged message survive, the log names the
// cause once, and once space returns writes resume with contiguous event ids
// and /readyz is 200 again, with no restart.
func TestDiskFullIsAnOutage(t *testing.T) {
	disk := smallDisk(t, 4<<20)
	setEnv(t, filepath.Join(disk, "parley.db"))
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", testKey)
	t.Setenv("PARLEY_RATE_LIMIT_PER_MINUTE", "0")
	t.Setenv("PARLEY_WAL_MAX_MB", "1")
	// Ballast that is deleted later: the space that "returns".
	ballast := filepath.Join(disk, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	tenant := s.tenantID(t, testKey)
	text := strings.Repeat("lorem ipsum dolor sit amet ", 1200) // ~32 KB
	process := func(i int) (int, http.Header, string) {
		return s.post(t, testKey, "/ai/process", fmt.Sprintf(
			`{"tenant_id":%q,"lead_id":"lead-%d","role":"user","content":"%d %s","message_type":"text"}`, tenant, i%5, i, text))
	}

	acked := 0
	var status int
	var hdr http.Header
	var body string
	for i := 0; i < 400; i++ {
		status, hdr, body = process(i)
		if status != http.StatusOK && status != http.StatusCreated {
			break
		}
		acked++
	}
	if acked == 0 || acked == 400 {
		t.Fatalf("acknowledged %d writes before the disk filled, want some and then a refusal", acked)
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"UNAVAILABLE"`) || hdr.Get("Retry-After") == "" {
		t.Fatalf("write on a full disk = %d (Retry-After %q) %s, want 503 UNAVAILABLE with Retry-After", status, hdr.Get("Retry-After"), body)
	}
	if !strings.Contains(body, "storage is full or failing") || strings.Contains(body, "SQL") || strings.Contains(body, disk) {
		t.Errorf("detail should say storage is full or failing, and nothing internal: %s", body)
	}
	for i := 0; i < 5; i++ { // more refusals: still 503, still logged once
		if st, _, b := process(1000 + i); st != http.StatusServiceUnavailable {
			t.Fatalf("write %d on a full disk = %d %s, want 503", i, st, b)
		}
	}
	if code, b := s.get(t, "", "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz on a full disk = %d %s, want 503", code, b)
	}
	if code, b := s.get(t, testKey, "/backend/conversations?limit=100"); code != http.StatusOK || !strings.Contains(b, `"total":5`) {
		t.Errorf("reads on a full disk = %d %.200s, want 200 with the 5 conversations", code, b)
	}
	if n := strings.Count(s.stderr.String(), "writes refused"); n != 1 {
		t.Errorf("the log named the outage %d times, want once a minute: %s", n, tail(s.stderr.String(), 2000))
	}
	if !strings.Contains(s.stderr.String(), "cause=\"disk full\"") {
		t.Errorf("the log does not say the disk is full: %s", tail(s.stderr.String(), 2000))
	}
	if strings.Contains(s.stderr.String(), "level=ERROR msg=\"request failed\"") {
		t.Errorf("a full disk was logged as a request failure (a bug): %s", tail(s.stderr.String(), 2000))
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	// A megabyte back is not "plenty" (RetryStorage): readiness waits for
	// the next successful write.
	if code, b := s.get(t, "", "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after a little space returned, before any write = %d %s, want 503", code, b)
	}
	if st, _, b := process(2000); st != http.StatusOK && st != http.StatusCreated {
		t.Fatalf("write after space returned = %d %s, want success", st, b)
	}
	acked++
	if code, b := s.get(t, "", "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after a successful write = %d %s, want 200", code, b)
	}

	// Every acknowledged message is there, and the event ids have no gap.
	var b string
	for lead := 0; lead < 5; lead++ {
		code, page := s.get(t, testKey, fmt.Sprintf("/backend/messages/lead-%d?limit=100", lead))
		if code != http.StatusOK {
			t.Fatalf("list messages = %d %s", code, page)
		}
		b += page
	}
	for i := 0; i < acked-1; i++ {
		if !strings.Contains(b, fmt.Sprintf(`"%d lorem`, i)) {
			t.Errorf("acknowledged message %d is missing after the outage", i)
		}
	}
	if !strings.Contains(b, `"2000 lorem`) {
		t.Errorf("the message written after the outage is missing")
	}
	ids := s.eventIDs(t, testKey)
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("event ids are not contiguous from 1: %v", ids)
		}
	}
}

// tenantID returns the key's tenant id (from /backend/settings).
func (s *server) tenantID(t *testing.T, key string) string {
	t.Helper()
	if s.tenant == "" {
		_, body := s.get(t, key, "/backend/settings")
		_, rest, ok := strings.Cut(body, `"tenant_id":"`)
		if !ok {
			t.Fatalf("no tenant_id in settings %s", body)
		}
		s.tenant, _, _ = strings.Cut(rest, `"`)
	}
	return s.tenant
}

// eventIDs replays the whole stream and returns every event id, in order
// (it reads until no event came for a second).
func (s *server) eventIDs(t *testing.T, key string) []int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/backend/conversations/stream", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Last-Event-ID", "0")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				select {
				case lines <- id:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var ids []int
	for {
		select {
		case id, ok := <-lines:
			if !ok {
				return ids
			}
			n, _ := strconv.Atoi(id)
			ids = append(ids, n)
		case <-time.After(time.Second):
			return ids
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
