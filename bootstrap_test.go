package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var bootstrapLine = regexp.MustCompile(`^parley: created tenant default \(([0-9a-f-]{36})\) with API key (prl_\S+)$`)

func TestBootstrapPrintsKeyOnce(t *testing.T) {
	db := setEnv(t, "")
	s := startServer(t)
	var tenantID, key string
	n := 0
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if strings.Contains(line, "created tenant") || strings.Contains(line, "API key") {
			n++
			m := bootstrapLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("bootstrap line %q does not match %s", line, bootstrapLine)
			}
			tenantID, key = m[1], m[2]
		}
	}
	if n != 1 {
		t.Fatalf("first start printed %d bootstrap lines, want exactly 1:\n%s", n, s.stderr)
	}
	if c := strings.Count(s.stderr.String()+s.stdout.String(), key); c != 1 {
		t.Errorf("the key appears %d times in the output, want once", c)
	}
	code, body := s.get(t, key, "/backend/settings")
	if code != http.StatusOK || !strings.Contains(body, `"tenant_id":"`+tenantID+`"`) || !strings.Contains(body, `"name":"default"`) {
		t.Fatalf("GET /backend/settings with the printed key = %d %s", code, body)
	}
	code, body = s.get(t, key, "/backend/assistants")
	if code != http.StatusOK || !strings.Contains(body, `"is_default":true`) {
		t.Errorf("the default tenant has no default assistant: %d %s", code, body)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exit code after cancel = %d, want 0", code)
	}

	// Second start on the same database: nothing printed, the key still works.
	setEnv(t, db)
	s2 := startServer(t, "serve")
	if out := s2.stderr.String(); strings.Contains(out, key) || strings.Contains(out, "created tenant") || strings.Contains(out, "API key") {
		t.Fatalf("second start printed a key again:\n%s", out)
	}
	if code, body := s2.get(t, key, "/backend/settings"); code != http.StatusOK || !strings.Contains(body, tenantID) {
		t.Fatalf("first key after restart = %d %s", code, body)
	}
	if code, _ := s2.get(t, "prl_wrong", "/backend/settings"); code != http.StatusUnauthorized {
		t.Errorf("a wrong key = %d, want 401", code)
	}
}

func TestBootstrapKeyFromEnvironment(t *testing.T) {
	const key = "prl_bootstrap-secret-from-env-0123456789"
	db := setEnv(t, "")
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", key)
	s := startServer(t)
	code, body := s.get(t, key, "/backend/settings")
	if code != http.StatusOK || !strings.Contains(body, `"name":"default"`) {
		t.Fatalf("bootstrap key = %d %s", code, body)
	}
	var settings struct {
		Data struct {
			TenantID string `json:"tenant_id"`
		} `json:"data"`
	}
	json.Unmarshal([]byte(body), &settings)
	if !strings.Contains(s.stderr.String(), "created tenant default") {
		t.Errorf("first start does not say it created the tenant:\n%s", s.stderr)
	}
	s.stop(t)
	for name, out := range map[string]string{"stdout": s.stdout.String(), "stderr": s.stderr.String()} {
		if strings.Contains(out, key) || strings.Contains(out, strings.TrimPrefix(key, "prl_")) || bootstrapLine.MatchString(out) {
			t.Errorf("%s shows the bootstrap key:\n%s", name, out)
		}
	}
	// Restarting with the same key neither prints nor creates anything.
	setEnv(t, db)
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", key)
	s2 := startServer(t)
	if code, body := s2.get(t, key, "/backend/settings"); code != http.StatusOK || !strings.Contains(body, settings.Data.TenantID) {
		t.Fatalf("bootstrap key after restart = %d %s", code, body)
	}
	if strings.Contains(s2.stderr.String(), "created tenant") || strings.Contains(s2.stderr.String(), key) {
		t.Errorf("restart printed:\n%s", s2.stderr)
	}
	s2.stop(t)
	code, out, _ := cli(t, "keys", "list", "--tenant", settings.Data.TenantID)
	var keys []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 1 {
		t.Errorf("after two starts with one bootstrap key, keys list = %d %s; want one key", code, out)
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	setEnv(t, "")
	for _, arg := range []string{"help", "-h", "--help"} {
		code, out, errOut := cli(t, arg)
		if code != 0 || errOut != "" {
			t.Fatalf("parley %s = %d, stderr %q", arg, code, errOut)
		}
		typ := reflect.TypeOf(Config{})
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := "PARLEY_" + f.Tag.Get("envconfig")
			line := lineWith(out, name)
			if line == "" {
				t.Errorf("parley %s does not list %s", arg, name)
				continue
			}
			if def := f.Tag.Get("default"); def != "" && !strings.Contains(line, def) {
				t.Errorf("parley %s: %s line %q lacks its default %q", arg, name, line, def)
			}
		}
		for _, cmd := range []string{"tenants create", "keys create", "keys list", "keys revoke", "serve"} {
			if !strings.Contains(out, cmd) {
				t.Errorf("parley %s does not mention %q", arg, cmd)
			}
		}
	}
}

func lineWith(text, word string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	re := regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(word) + `(\s|$)`)
	for sc.Scan() {
		if re.MatchString(sc.Text()) {
			return sc.Text()
		}
	}
	return ""
}

// TestShutdownFinishesInFlightRequest cancels the context (what SIGTERM does)
// while a request is half sent: the server waits for it, answers it, and
// run returns 0.
func TestShutdownFinishesInFlightRequest(t *testing.T) {
	db := setEnv(t, "")
	const key = "prl_shutdown-test-key-0123456789abcdef"
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", key)
	t.Setenv("PARLEY_SHUTDOWN_TIMEOUT", "10s")
	s := startServer(t)

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"id":"in-flight","name":"Slow Upload"}`
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /backend/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		key, len(body), body[:half])
	time.Sleep(300 * time.Millisecond) // the server has the headers and is reading the body

	stopped := make(chan int, 1)
	go func() {
		if code, ok := s.shutdown(); ok {
			stopped <- code
		}
	}()
	select {
	case code := <-stopped:
		t.Fatalf("run returned %d while a request was in flight", code)
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost at shutdown: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request = %d %s, want 201", res.StatusCode, b)
	}
	select {
	case code := <-stopped:
		if code != 0 {
			t.Fatalf("exit code = %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within the shutdown timeout")
	}
	// The lead it acknowledged is durable.
	setEnv(t, db)
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", key)
	s2 := startServer(t)
	if code, body := s2.get(t, key, "/backend/leads/in-flight"); code != http.StatusOK || !strings.Contains(body, "Slow Upload") {
		t.Fatalf("lead acknowledged at shutdown = %d %s", code, body)
	}
	// An idle server stops at once.
	start := time.Now()
	if code := s2.stop(t); code != 0 || time.Since(start) > 5*time.Second {
		t.Errorf("idle shutdown: code %d after %v", code, time.Since(start))
	}
}

// TestStaticBuild: `CGO_ENABLED=0 go build` makes a binary that runs.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped under -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "parley")
	cmd := exec.Command(gobin, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	help := exec.Command(bin, "help")
	help.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := help.Output()
	if err != nil || !strings.Contains(string(out), "PARLEY_ADDR") {
		t.Fatalf("%s help = %v\n%s", bin, err, out)
	}
}

// A revoked bootstrap key stays revoked, and the server still starts.
func TestBootstrapKeyRevokedStaysRevoked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "parley.db")
	setEnv(t, db)
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", "prl_bootstrap_revoked_0123456789")
	s := startServer(t)
	status, body := s.get(t, "prl_bootstrap_revoked_0123456789", "/backend/settings")
	var settings struct {
		Data struct {
			TenantID string `json:"tenant_id"`
		} `json:"data"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &settings) != nil {
		t.Fatalf("settings with the bootstrap key: %d %s", status, body)
	}
	code, out, _ := cli(t, "keys", "list", "--tenant", settings.Data.TenantID)
	if code != 0 {
		t.Fatalf("keys list: exit %d", code)
	}
	var keys []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 1 {
		t.Fatalf("keys = %s (%v)", out, err)
	}
	if code, _, _ := cli(t, "keys", "revoke", keys[0].ID); code != 0 {
		t.Fatal("revoke failed")
	}
	if c := s.stop(t); c != 0 {
		t.Fatalf("first server exited %d", c)
	}
	s = startServer(t)
	if status, _ := s.get(t, "prl_bootstrap_revoked_0123456789", "/backend/settings"); status != 401 {
		t.Fatalf("revoked bootstrap key answered %d after a restart, want 401", status)
	}
	s.stop(t)
}
