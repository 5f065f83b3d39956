package netguard

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// local is a client for fetch tests against httptest servers on loopback.
func local() *http.Client { return NewClient(Options{AllowPrivate: true, Timeout: 5 * time.Second}) }

func TestFetchSizeCap(t *testing.T) {
	cases := []struct {
		name     string
		size     int
		maxBytes int64
		chunked  bool // no Content-Length: the cap is enforced while reading
		wantErr  bool
	}{
		{"under", 10, 100, false, false},
		{"exact", 100, 100, false, false},
		{"over by one", 101, 100, false, true},
		{"over announced", 5000, 100, false, true},
		{"exact chunked", 100, 100, true, false},
		{"over chunked", 5000, 100, true, true},
		{"no cap", 5000, 0, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("a"), c.size)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				if c.chunked {
					w.(http.Flusher).Flush() // headers out before the body: no Content-Length
				}
				w.Write(body)
			}))
			defer srv.Close()
			data, _, err := Fetch(context.Background(), local(), srv.URL, c.maxBytes)
			if c.wantErr {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("error = %v, want ErrTooLarge", err)
				}
				if errors.Is(err, ErrUpstream) || errors.Is(err, ErrBlocked) {
					t.Fatalf("too large must match only ErrTooLarge: %v", err)
				}
				return
			}
			if err != nil || len(data) != c.size {
				t.Fatalf("got %d bytes, %v; want %d bytes", len(data), err, c.size)
			}
		})
	}
}

func TestFetchContentType(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	cases := []struct {
		name   string
		header string // "-" = no Content-Type header at all
		body   []byte
		want   string
	}{
		{"header kept", "audio/ogg; codecs=opus", []byte("whatever"), "audio/ogg"},
		{"header lower-cased", "Image/JPEG", []byte("x"), "image/jpeg"},
		{"missing: ogg", "-", []byte("OggS\x00\x02rest-of-page"), "audio/ogg"},
		{"octet-stream: ogg", "application/octet-stream", []byte("OggS\x00\x02"), "audio/ogg"},
		{"binary/octet-stream: png", "binary/octet-stream", png, "image/png"},
		{"missing: pdf", "-", []byte("%PDF-1.7\n..."), "application/pdf"},
		{"missing: text", "-", []byte("hello world"), "text/plain"},
		{"missing: unknown", "-", []byte{0, 1, 2, 3, 4}, "application/octet-stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c.header == "-" {
					w.Header()["Content-Type"] = nil // stop net/http from sniffing
				} else {
					w.Header().Set("Content-Type", c.header)
				}
				w.Write(c.body)
			}))
			defer srv.Close()
			data, ct, err := Fetch(context.Background(), local(), srv.URL, 1024)
			if err != nil {
				t.Fatal(err)
			}
			if ct != c.want || !bytes.Equal(data, c.body) {
				t.Fatalf("content type %q, want %q", ct, c.want)
			}
		})
	}
}

func TestDetectContentType(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"ogg opus", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00OpusHead"), "audio/ogg"},
		{"webm", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"), "video/webm"},
		{"matroska", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska"), "video/x-matroska"},
		{"m4a", []byte("\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00"), "audio/mp4"},
		{"mp4 video", []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), "video/mp4"},
		{"amr", []byte("#!AMR\n\x3c\x00"), "audio/amr"},
		{"amr-wb", []byte("#!AMR-WB\n\x00"), "audio/amr-wb"},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), "audio/wav"},
		{"mp3 id3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), "audio/mpeg"},
		{"mp3 frame", []byte{0xFF, 0xFB, 0x90, 0x64, 0x00}, "audio/mpeg"},
		{"aac adts", []byte{0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC}, "audio/aac"},
		{"flac", []byte("fLaC\x00\x00\x00\x22"), "audio/flac"},
		{"png", []byte("\x89PNG\r\n\x1a\n"), "image/png"},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), "image/jpeg"},
		{"webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), "image/webp"},
		{"pdf", []byte("%PDF-1.4"), "application/pdf"},
		{"bad frame sync", []byte{0xFF, 0xFF, 0xFF, 0x00}, "application/octet-stream"},
		{"empty", nil, "text/plain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := DetectContentType(c.data); got != c.want {
				t.Fatalf("DetectContentType = %q, want %q", got, c.want)
			}
		})
	}
}

func TestFetchUpstreamErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			http.Error(w, "boom", http.StatusBadGateway)
		case "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	for path, status := range map[string]int{"/missing": 404, "/broken": 502} {
		_, _, err := Fetch(ctx, local(), srv.URL+path, 1024)
		var se *StatusError
		if !errors.Is(err, ErrUpstream) || !errors.As(err, &se) || se.StatusCode != status {
			t.Fatalf("%s: error = %v, want ErrUpstream with status %d", path, err, status)
		}
		if errors.Is(err, ErrBlocked) {
			t.Fatalf("%s: an upstream failure must not match ErrBlocked", path)
		}
	}

	short := NewClient(Options{AllowPrivate: true, Timeout: 100 * time.Millisecond})
	if _, _, err := Fetch(ctx, short, srv.URL+"/slow", 1024); !errors.Is(err, ErrUpstream) {
		t.Fatalf("timeout: error = %v, want ErrUpstream", err)
	}

	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, err := Fetch(cctx, local(), srv.URL+"/slow", 1024)
	if !errors.Is(err, ErrUpstream) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx deadline: error = %v, want ErrUpstream and DeadlineExceeded", err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	addr := closed.URL
	closed.Close()
	if _, _, err := Fetch(ctx, local(), addr, 1024); !errors.Is(err, ErrUpstream) {
		t.Fatalf("connection refused: error = %v, want ErrUpstream", err)
	}

	// Intake: a bad scheme is refused even with AllowPrivate.
	if _, _, err := Fetch(ctx, local(), "file:///etc/passwd", 1024); !errors.Is(err, ErrBlocked) {
		t.Fatalf("file URL: error = %v, want ErrBlocked", err)
	}
	// A nil client is the guarded default.
	_, _, err = Fetch(ctx, nil, srv.URL+"/missing", 1024)
	if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("nil client: error = %v, want a loopback refusal", err)
	}
}
