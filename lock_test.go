package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSecondServerOnOneDatabaseExits: a second `parley serve` on a database
// a running server holds exits 1 at once with one line naming the file, the
// other server's pid and PostgreSQL; the admin commands still work beside
// it, and once the first server stops the database is free again.
func TestSecondServerOnOneDatabaseExits(t *testing.T) {
	db := setEnv(t, "")
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", testKey)
	first := startServer(t)

	start := time.Now()
	code, stdout, stderr := cli(t, "serve")
	if code != 1 {
		t.Fatalf("second serve exit = %d, want 1; stderr %q", code, stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("second serve took %v to give up, want at once", took)
	}
	line := strings.TrimSpace(stderr)
	if strings.Count(line, "\n") != 0 || stdout != "" {
		t.Errorf("want one line on stderr and nothing on stdout, got %q / %q", stderr, stdout)
	}
	for _, want := range []string{db, "pid " + strconv.Itoa(os.Getpid()), "PostgreSQL"} {
		if !strings.Contains(line, want) {
			t.Errorf("error %q does not name %q", line, want)
		}
	}
	if code, _ := first.get(t, testKey, "/backend/settings"); code != 200 {
		t.Errorf("the first server stopped answering: %d", code)
	}
	if code, out, errOut := cli(t, "tenants", "create", "--name", "beside"); code != 0 || !strings.Contains(out, `"api_key"`) {
		t.Errorf("admin command beside a running server = %d %q %q", code, out, errOut)
	}

	if code := first.stop(t); code != 0 {
		t.Fatalf("first server exit = %d", code)
	}
	second := startServer(t)
	if code, _ := second.get(t, testKey, "/backend/settings"); code != 200 {
		t.Errorf("a server after the first stopped = %d, want 200", code)
	}
}

// TestShortBootstrapKeyRefused: a PARLEY_BOOTSTRAP_API_KEY under 32
// characters stops start-up with exit 1 and one line, before the database is
// created.
func TestShortBootstrapKeyRefused(t *testing.T) {
	db := setEnv(t, "")
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", "prl_short_0123456789abcdef_01234") // 32: the shortest allowed
	ok := startServer(t)
	if code := ok.stop(t); code != 0 {
		t.Fatalf("32-character key: exit %d", code)
	}
	os.Remove(db)

	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", "prl_short_0123456789abcdef_0123") // 31
	code, stdout, stderr := cli(t, "serve")
	if code != 1 || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, "PARLEY_BOOTSTRAP_API_KEY") || !strings.Contains(stderr, "32") {
		t.Fatalf("31-character key: exit %d, stdout %q, stderr %q; want 1 and one line naming the variable and the minimum", code, stdout, stderr)
	}
	if strings.Contains(stderr, "prl_short") {
		t.Errorf("the error echoes the key: %q", stderr)
	}
	if _, err := os.Stat(db); err == nil {
		t.Errorf("the database was created before the key was refused")
	}
}
