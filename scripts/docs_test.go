// Package scripts checks that the project's documents work as written: the
// README and the guides in docs/ are run, shell block by shell block,
// against the real binary built from this checkout.
package scripts

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// documents are run in this order, each against a server of its own.
var documents = []string{"README.md", "docs/getting-started.md", "docs/evagpt.md", "docs/webhooks.md"}

// skipMarker, on the line before a ```sh fence, leaves that block out: a
// command that never ends (a server in the foreground, a live stream), the
// test command itself, or a slow build. Say why after the colon.
const skipMarker = "<!-- not run by scripts/docs_test.go:"

// docPorts are the ports the documents use. Each run takes free ports
// instead, so that a run never meets a server someone else has on 8080.
var docPorts = []string{"8080", "9000", "9001", "9002"}

// binDir holds the parley binary, built once.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-docs")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "parley"), "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build parley: %v\n%s", err, out)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// block is one ```sh block of a document.
type block struct {
	line int // of the opening fence
	text string
	skip bool
}

var fence = regexp.MustCompile("^```(\\w*)\\s*$")

// shellBlocks returns a document's ```sh blocks in order.
func shellBlocks(doc string) []block {
	var out []block
	var cur *block
	prev := ""
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		m := fence.FindStringSubmatch(l)
		switch {
		case cur != nil && m != nil && m[1] == "":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		case m != nil && m[1] == "sh":
			cur = &block{line: n, skip: strings.HasPrefix(strings.TrimSpace(prev), skipMarker)}
		}
		prev = l
	}
	return out
}

// TestShellBlocks: shellBlocks finds blocks, their lines and skip markers.
func TestShellBlocks(t *testing.T) {
	doc := "# T\n```sh\necho a\n```\ntext\n" + skipMarker + " forever -->\n```sh\nsleep 1000\n```\n```go\nx\n```\n```sh\necho b\necho c\n```\n"
	got := shellBlocks(doc)
	want := []block{{2, "echo a\n", false}, {7, "sleep 1000\n", true}, {13, "echo b\necho c\n", false}}
	if len(got) != len(want) {
		t.Fatalf("blocks = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// freePorts maps each port the documents use to a free one on loopback.
func freePorts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var held []net.Listener
	for _, p := range docPorts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		out[p] = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range held {
		ln.Close()
	}
	return out
}

// script turns a document's runnable blocks into one bash script: strict
// mode, curl failing on any HTTP error (so that a 4xx or 5xx fails the
// run), the document's ports replaced by free ones.
func script(blocks []block, ports map[string]string) string {
	var b strings.Builder
	b.WriteString("set -euo pipefail\n")
	b.WriteString("curl() { command curl --fail-with-body --show-error \"$@\"; }\n")
	portRE := regexp.MustCompile(`\b(` + strings.Join(docPorts, "|") + `)\b`)
	for _, bl := range blocks {
		if bl.skip {
			continue
		}
		fmt.Fprintf(&b, "echo '--- block at line %d' >&2\n", bl.line)
		b.WriteString(portRE.ReplaceAllStringFunc(bl.text, func(p string) string { return ports[p] }))
	}
	return b.String()
}

// sourcesOnce stats the module's sources from inside a test, so that go
// test's cache (keyed by the files a test opened) reruns this package when
// the server changes: the binary built in TestMain is not such a file.
var sourcesOnce sync.Once

func statSources() {
	filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && path != ".." && strings.HasPrefix(d.Name(), "."):
			return filepath.SkipDir
		case !d.IsDir():
			if ext := filepath.Ext(path); ext == ".go" || ext == ".sql" || ext == ".js" || ext == ".json" || d.Name() == "go.mod" {
				os.Stat(path)
			}
		}
		return nil
	})
}

// TestDocumentsWorkAsWritten runs each document's shell blocks, top to
// bottom, in a directory holding ./parley and the repository's docs/ (as a
// fresh clone after `go build -o parley .`), with no PARLEY_ variable set
// but the address. Each document starts its own server; the run ends by
// killing every process it started.
func TestDocumentsWorkAsWritten(t *testing.T) {
	sourcesOnce.Do(statSources)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("needs bash")
	}
	for _, tool := range []string{"curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the documents use %s, which this machine lacks", tool)
		}
	}
	docsDir, err := filepath.Abs("../docs")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range documents {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(filepath.Join("..", name))
			if err != nil {
				t.Fatal(err)
			}
			blocks := shellBlocks(string(src))
			runnable := 0
			for _, b := range blocks {
				if !b.skip {
					runnable++
				}
			}
			if runnable == 0 {
				t.Fatalf("%s has no shell block to run", name)
			}
			dir := t.TempDir()
			for link, target := range map[string]string{"parley": filepath.Join(binDir, "parley"), "docs": docsDir} {
				if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
					t.Fatal(err)
				}
			}
			ports := freePorts(t)
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bash, "-c", script(blocks, ports))
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PARLEY_ADDR=127.0.0.1:" + ports["8080"]}
			// Its own process group: the servers and receivers the
			// document starts in the background end with it.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			// Output goes to a file, not a pipe: the background processes
			// hold their copy of it open, and Wait would wait for them.
			out, err := os.Create(filepath.Join(t.TempDir(), "output"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			if err != nil {
				text, _ := os.ReadFile(out.Name())
				t.Fatalf("%s does not work as written (%v; ports %v):\n%s", name, err, ports, text)
			}
		})
	}
}

// TestReceiverShownIsReceiverShipped: the receiver printed in the getting
// started guide is docs/examples/receiver.py, byte for byte.
func TestReceiverShownIsReceiverShipped(t *testing.T) {
	guide, err := os.ReadFile("../docs/getting-started.md")
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile("../docs/examples/receiver.py")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(guide), "```python\n"+string(file)+"```\n") {
		t.Error("docs/getting-started.md does not show docs/examples/receiver.py as it is")
	}
}
