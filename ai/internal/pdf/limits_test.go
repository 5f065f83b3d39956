package pdf

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// tiny is a minimal well-formed PDF with one empty page.
const tiny = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
	"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n" +
	"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n" +
	"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n109\n%%EOF\n"

// TestNewReaderLimited: a passed deadline or a cancelled context refuses
// every read with ErrTimeout; without limits the same file opens.
func TestNewReaderLimited(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		lim  Limits
		want error
	}{
		{"no limits", Limits{}, nil},
		{"future deadline", Limits{Deadline: time.Now().Add(time.Hour)}, nil},
		{"passed deadline", Limits{Deadline: time.Now().Add(-time.Second)}, ErrTimeout},
		{"cancelled", Limits{Ctx: cancelled}, ErrTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewReaderLimited(bytes.NewReader([]byte(tiny)), int64(len(tiny)), c.lim)
			if !errors.Is(err, c.want) || (c.want == nil) != (r != nil) {
				t.Fatalf("NewReaderLimited = %v, %v; want error %v", r, err, c.want)
			}
		})
	}
}
