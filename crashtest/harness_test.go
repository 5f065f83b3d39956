// Package crashtest runs the real parley binary, kills it with SIGKILL at
// awkward moments and checks on restart that nothing it acknowledged was lost
// or duplicated (API.md §5). It has no non-test code: it is a test suite of
// the binary, kept apart so that `go test ./...` builds the binary once.
package crashtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/storetest"
)

// binary is the parley executable built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-crashtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "parley")
	build := exec.Command("go", "build", "-o", binary, "github.com/parley-dev/parley")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build parley: %v\n%s", err, out)
		os.Exit(1)
	}
	// Every test runs on SQLite, then again on PostgreSQL when
	// PARLEY_TEST_DATABASE_URL is set (one line says so when it is not):
	// storetest.Target gives each test a file or a schema of its own.
	code := storetest.RunEngines(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// sourcesOnce stats the module's sources once, from inside a test: go test
// caches a result by what the test binary depends on and what it opened or
// stat'ed while running, and the binary built in TestMain is neither. Without
// this, a change to the server would replay a stale cached result.
var sourcesOnce sync.Once

func statSources() {
	filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules"):
			return filepath.SkipDir
		case !d.IsDir() && (strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".sql") ||
			d.Name() == "go.mod" || d.Name() == "go.sum"):
			os.Stat(path)
		}
		return nil
	})
}

// testKey is registered through PARLEY_BOOTSTRAP_API_KEY.
const testKey = "prl_crashtest_key_0123456789abcdef"

// proc is one running parley process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

var listenRE = regexp.MustCompile(`addr=(\S+)`)

// startParley runs the binary on db (a SQLite file or a postgres:// URL, as
// storetest.Target gives) with extra environment, and waits until it listens.
func startParley(t *testing.T, db string, env ...string) *proc {
	t.Helper()
	sourcesOnce.Do(statSources)
	cmd := exec.Command(binary)
	dbEnv := "PARLEY_DB=" + db
	if isPostgres(db) {
		dbEnv = "PARLEY_DATABASE_URL=" + db
	}
	cmd.Env = append(os.Environ(), dbEnv, "PARLEY_ADDR=127.0.0.1:0", "PARLEY_BOOTSTRAP_API_KEY="+testKey,
		"PARLEY_RATE_LIMIT_PER_MINUTE=0", "PARLEY_ALLOW_PRIVATE_NETWORKS=true", "PARLEY_LOG_LEVEL=debug")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, logs: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "listening") {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(p.done) }()
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-p.done:
		t.Fatalf("parley exited before listening:\n%s", p.log())
	case <-time.After(15 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine: where it hangs.
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		p.kill()
		t.Fatalf("parley did not listen within 15 s:\n%s", p.log())
	}
	t.Cleanup(p.kill)
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// call sends a JSON request with the test key and decodes a JSON answer.
func (p *proc) call(method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return res.StatusCode, nil
}

// must is call that fails the test unless the status is want.
func (p *proc) must(method, path string, body any, want int, out any) {
	p.t.Helper()
	code, err := p.call(method, path, body, out)
	if err != nil || code != want {
		p.t.Fatalf("%s %s: status %d, err %v (want %d)", method, path, code, err, want)
	}
}

// tenantID reads the bootstrap tenant's id.
func (p *proc) tenantID() string {
	p.t.Helper()
	var s struct {
		Data struct {
			TenantID string `json:"tenant_id"`
		} `json:"data"`
	}
	p.must("GET", "/backend/settings", nil, http.StatusOK, &s)
	return s.Data.TenantID
}

// defaultAssistant returns the default assistant's id.
func (p *proc) defaultAssistant() string {
	p.t.Helper()
	var s struct {
		Data []struct {
			ID        string `json:"id"`
			IsDefault bool   `json:"is_default"`
		} `json:"data"`
	}
	p.must("GET", "/backend/assistants", nil, http.StatusOK, &s)
	for _, a := range s.Data {
		if a.IsDefault {
			return a.ID
		}
	}
	p.t.Fatal("no default assistant")
	return ""
}
