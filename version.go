package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are set at build time by release builds:
//
//	go build -ldflags "-s -w -X main.version=v1.2.3 -X main.commit=$(git rev-parse --short HEAD)" -o parley .
//
// Without them, parley version reads what the Go toolchain stamped into the
// binary (the module version and the VCS revision of a build from a git
// checkout), so that a plain go build still says which commit it is.
var (
	version = ""
	commit  = ""
)

// versionLine is `parley <version> (<commit>, <go version>)`.
func versionLine() string {
	v, c := version, commit
	info, ok := debug.ReadBuildInfo()
	if ok {
		if v == "" && info.Main.Version != "" {
			v = info.Main.Version
		}
		if c == "" {
			c = vcsRevision(info.Settings)
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if c == "" {
		c = "unknown commit"
	}
	return fmt.Sprintf("parley %s (%s, %s)", v, c, runtime.Version())
}

// vcsRevision is the short commit of the build's VCS stamp, "+dirty" when
// the work tree had changes ("" when the build was not stamped: go run, go
// test, or -buildvcs=false).
func vcsRevision(settings []debug.BuildSetting) string {
	var rev string
	var dirty bool
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "+dirty"
	}
	return rev
}

func printVersion(w io.Writer) error {
	_, err := fmt.Fprintln(w, versionLine())
	return err
}
