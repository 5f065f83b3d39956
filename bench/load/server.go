package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// benchKey is the key the started server is bootstrapped with.
const benchKey = "prl_load_benchmark_key_0123456789"

// target is the server a scenario talks to.
type target struct {
	base, key, tenant string
	client            *http.Client
	cmd               *exec.Cmd // nil when -addr was given
	dir               string
	bin, db           string        // the built binary and its PARLEY_DB (started server only)
	pg                *pgSchema     // the run's PostgreSQL schema, dropped by stop (-database-url)
	ready             time.Duration // from process start to listening
}

var listenRE = regexp.MustCompile(`addr=(\S+)`)

// startTarget builds and starts the parley binary on a fresh (or the given)
// database, or connects to -addr.
func startTarget(ctx context.Context, o options, env ...string) (*target, error) {
	t := &target{base: o.addr, key: o.key, client: &http.Client{Transport: &http.Transport{
		MaxIdleConns: 20000, MaxIdleConnsPerHost: 20000, MaxConnsPerHost: 0, IdleConnTimeout: time.Minute}}}
	if o.addr == "" {
		dir, err := os.MkdirTemp("", "parley-load")
		if err != nil {
			return nil, err
		}
		t.dir, t.key = dir, benchKey
		bin := filepath.Join(dir, "parley")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Dir = repoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build parley: %v\n%s", err, out)
		}
		db := o.db
		if db == "" {
			db = filepath.Join(dir, "parley.db")
		}
		t.bin, t.db = bin, db
		dbEnv := "PARLEY_DB=" + db
		switch {
		case o.pgURL != "":
			dbEnv = "PARLEY_DATABASE_URL=" + o.pgURL
		case o.databaseURL != "":
			if t.pg, err = newPGSchema(ctx, o.databaseURL, "", true); err != nil {
				t.stop()
				return nil, err
			}
			dbEnv = "PARLEY_DATABASE_URL=" + t.pg.url
		}
		t.cmd = exec.Command(bin)
		t.cmd.Env = append(os.Environ(), dbEnv, "PARLEY_ADDR=127.0.0.1:0", "PARLEY_BOOTSTRAP_API_KEY="+benchKey,
			"PARLEY_RATE_LIMIT_PER_MINUTE=0", "PARLEY_ALLOW_PRIVATE_NETWORKS=true", "PARLEY_LOG_LEVEL=warn",
			"PARLEY_MAX_STREAMS=20000", "PARLEY_CPU_PROFILE="+os.Getenv("LOAD_CPU_PROFILE"))
		t.cmd.Env = append(t.cmd.Env, env...)
		stderr, _ := t.cmd.StderrPipe()
		started := time.Now()
		if err := t.cmd.Start(); err != nil {
			return nil, err
		}
		addr := make(chan string, 1)
		go func() {
			// LOAD_SERVER_LOG keeps the server's log (warnings, profiling
			// notes) in a file; otherwise it is read and dropped.
			var logTo io.Writer = io.Discard
			if path := os.Getenv("LOAD_SERVER_LOG"); path != "" {
				if f, err := os.Create(path); err == nil {
					defer f.Close()
					logTo = f
				}
			}
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				fmt.Fprintln(logTo, sc.Text())
				if m := listenRE.FindStringSubmatch(sc.Text()); m != nil && strings.Contains(sc.Text(), "listening") {
					addr <- m[1]
				}
			}
		}()
		// The listening line is logged at info; with PARLEY_LOG_LEVEL=warn, poll /readyz instead.
		go func() {
			for i := 0; i < 3000; i++ {
				if a := findListenPort(t.cmd.Process.Pid); a != "" {
					if res, err := http.Get("http://" + a + "/readyz"); err == nil {
						res.Body.Close()
						if res.StatusCode == 200 {
							addr <- a
							return
						}
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		select {
		case a := <-addr:
			t.base = "http://" + a
			t.ready = time.Since(started)
		case <-time.After(60 * time.Second):
			t.stop()
			return nil, fmt.Errorf("parley did not start")
		}
	}
	var s struct {
		Data struct {
			TenantID string `json:"tenant_id"`
		} `json:"data"`
	}
	if err := t.call(ctx, "GET", "/backend/settings", nil, &s); err != nil {
		t.stop()
		return nil, err
	}
	t.tenant = s.Data.TenantID
	return t, nil
}

// findListenPort reads the process's listening TCP port from /proc.
func findListenPort(pid int) string {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	b, _ := os.ReadFile("/proc/net/tcp")
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[3] == "0A" && inodes[f[9]] { // 0A = LISTEN
			port, _ := strconv.ParseInt(f[1][strings.Index(f[1], ":")+1:], 16, 32)
			return fmt.Sprintf("127.0.0.1:%d", port)
		}
	}
	return ""
}

func (t *target) stop() {
	if t.cmd != nil && t.cmd.Process != nil {
		t.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { t.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.cmd.Process.Kill()
		}
	}
	if t.dir != "" {
		os.RemoveAll(t.dir)
	}
	if t.pg != nil {
		t.pg.drop()
	}
}

// rss is the server process's resident memory (0 when it is not ours).
func (t *target) rss() int64 { return t.statusKB("VmRSS") * 1024 }

// statusKB reads one of the started server's memory figures (VmRSS,
// RssAnon, RssFile) from /proc/<pid>/status, in KiB; 0 when unknown.
func (t *target) statusKB(field string) int64 {
	if t.cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}

// call sends one JSON request and decodes the answer into out (if not nil).
func (t *target) call(ctx context.Context, method, path string, body, out any) error {
	code, b, err := t.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if code >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, code, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (t *target) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+t.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := t.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// repoRoot finds the module root from the working directory.
func repoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "schema.sql")); err == nil {
			return d
		}
	}
	return dir
}
