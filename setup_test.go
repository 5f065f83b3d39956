package main

import (
	"net/http"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestSetupWarnings: only a setup that cannot work (OpenAI's own API with
// no key) warns; local OpenAI-compatible servers run without keys.
func TestSetupWarnings(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      Config
		warnings int
	}{
		{"builtin", Config{AIProvider: "builtin"}, 0},
		{"openai without a key", Config{AIProvider: "openai", OpenAIBaseURL: "https://api.openai.com/v1"}, 1},
		{"openai host in capitals", Config{AIProvider: "openai", OpenAIBaseURL: "https://API.OpenAI.com/v1"}, 1},
		{"openai with a key", Config{AIProvider: "openai", OpenAIBaseURL: "https://api.openai.com/v1", OpenAIAPIKey: "sk-x"}, 0},
		{"ollama without a key", Config{AIProvider: "openai", OpenAIBaseURL: "http://localhost:11434/v1"}, 0},
		{"a look-alike host", Config{AIProvider: "openai", OpenAIBaseURL: "https://api.openai.com.example/v1"}, 0},
	} {
		if got := setupWarnings(c.cfg); len(got) != c.warnings {
			t.Errorf("%s: warnings %q, want %d", c.name, got, c.warnings)
		}
	}
}

// TestStartupLineAndProbeLogs runs the real server: its start-up line names
// the AI provider, model and database; the openai provider without a key
// against api.openai.com warns; health checks and metrics scrapes are not
// logged at info, other requests are.
func TestStartupLineAndProbeLogs(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   map[string]string
		want  []string // in the start-up line
		warns bool
	}{
		{"builtin", nil, []string{"ai_provider=builtin", "db="}, false},
		{"openai without a key", map[string]string{"PARLEY_AI_PROVIDER": "openai", "PARLEY_OPENAI_MODEL": "gpt-test"},
			[]string{"ai_provider=openai", "ai_model=gpt-test", "ai_base_url=https://api.openai.com/v1"}, true},
		{"ollama", map[string]string{"PARLEY_AI_PROVIDER": "openai", "PARLEY_OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "PARLEY_OPENAI_MODEL": "llama3.2"},
			[]string{"ai_provider=openai", "ai_model=llama3.2", "ai_base_url=http://127.0.0.1:9/v1"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := setEnv(t, "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			s := startServer(t)
			line := firstLine(s.stderr.String(), "parley listening")
			for _, w := range append(c.want, "db="+db) {
				if !strings.Contains(line, w) {
					t.Errorf("start-up line %q lacks %q", line, w)
				}
			}
			if warned := strings.Contains(s.stderr.String(), "level=WARN") && strings.Contains(s.stderr.String(), "PARLEY_OPENAI_API_KEY"); warned != c.warns {
				t.Errorf("warned about the key = %v, want %v; stderr:\n%s", warned, c.warns, s.stderr)
			}
			key := regexp.MustCompile(`API key (\S+)`).FindStringSubmatch(s.stderr.String())
			if key == nil {
				t.Fatalf("no key printed: %s", s.stderr)
			}
			for _, p := range []string{"/healthz", "/readyz", "/metrics", "/backend/settings"} {
				if code, _ := s.get(t, key[1], p); code != http.StatusOK {
					t.Errorf("GET %s = %d", p, code)
				}
			}
			deadline := time.Now().Add(2 * time.Second)
			for !strings.Contains(s.stderr.String(), "route=/backend/settings") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			logs := s.stderr.String()
			if !strings.Contains(logs, "route=/backend/settings") {
				t.Errorf("an API request was not logged at info:\n%s", logs)
			}
			for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
				if strings.Contains(logs, "route="+p) {
					t.Errorf("%s was logged at info:\n%s", p, logs)
				}
			}
		})
	}
}

// TestVersionAndTenantsList: parley version prints one line
// `parley <version> (<commit>, <go version>)`, also with a broken
// environment; tenants list prints every tenant as {id,name,created_at}.
func TestVersionAndTenantsList(t *testing.T) {
	setEnv(t, "")
	// version needs no configuration: a broken variable does not stop it.
	t.Setenv("PARLEY_RATE_LIMIT_PER_MINUTE", "not a number")
	code, out, errOut := cli(t, "version")
	if code != 0 || errOut != "" || !regexp.MustCompile(`^parley \S+ \([^,]+, go\d[^)]*\)\n$`).MatchString(out) {
		t.Errorf("version = %d %q (stderr %q), want one line parley <version> (<commit>, <go version>)", code, out, errOut)
	}
	os.Unsetenv("PARLEY_RATE_LIMIT_PER_MINUTE") // t.Setenv restores it after the test

	code, out, _ = cli(t, "tenants", "list")
	var empty []map[string]any
	jsonOut(t, out, &empty)
	if code != 0 || empty == nil || len(empty) != 0 {
		t.Errorf("tenants list on an empty database = %d %q, want []", code, out)
	}
	var ids []string
	for _, name := range []string{"Acme", "Globex"} {
		_, out, _ := cli(t, "tenants", "create", "--name", name)
		var tn map[string]any
		jsonOut(t, out, &tn)
		ids = append(ids, tn["id"].(string))
	}
	code, out, errOut = cli(t, "tenants", "list")
	var list []map[string]any
	jsonOut(t, out, &list)
	if code != 0 || errOut != "" || len(list) != 2 {
		t.Fatalf("tenants list = %d %q, stderr %q", code, out, errOut)
	}
	for i, tn := range list {
		if keysOf(tn) != "created_at,id,name" || tn["id"] != ids[i] || tn["name"] != []string{"Acme", "Globex"}[i] ||
			!regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$`).MatchString(tn["created_at"].(string)) {
			t.Errorf("tenant %d = %v", i, tn)
		}
	}
	if strings.Contains(out, "whsec_") {
		t.Error("tenants list prints the postback secret")
	}
	if code, _, errOut := cli(t, "tenants", "list", "extra"); code != 2 || !strings.Contains(errOut, "unexpected argument") {
		t.Errorf("tenants list extra = %d %q, want a usage error", code, errOut)
	}
}

// TestVCSRevision: the commit of a stamped build, marked when dirty.
func TestVCSRevision(t *testing.T) {
	for _, c := range []struct {
		rev, modified, want string
	}{
		{"0123456789abcdef0123", "false", "0123456789ab"},
		{"0123456789abcdef0123", "true", "0123456789ab+dirty"},
		{"", "", ""},
	} {
		var s []debug.BuildSetting
		if c.rev != "" {
			s = append(s, debug.BuildSetting{Key: "vcs.revision", Value: c.rev}, debug.BuildSetting{Key: "vcs.modified", Value: c.modified})
		}
		if got := vcsRevision(s); got != c.want {
			t.Errorf("vcsRevision(%v) = %q, want %q", s, got, c.want)
		}
	}
}
