package store_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoBareLikeParameters: SQLite re-prepares a statement each time a new
// value is bound to a bare parameter on the right of LIKE or GLOB, so the
// store joins those parameters to an empty string (see likePattern).
func TestNoBareLikeParameters(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	bare := regexp.MustCompile(`(?i)\b(LIKE|GLOB)\s+\?`)
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			if bare.MatchString(line) {
				t.Errorf("%s:%d: bare LIKE/GLOB parameter: %s", f, i+1, strings.TrimSpace(line))
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
