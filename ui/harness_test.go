package ui_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/parley-dev/parley/app"
	"github.com/parley-dev/parley/store/storetest"
	"github.com/parley-dev/parley/stream"
)

// aiDelay is how long the builtin provider thinks before answering: long
// enough for the typing indicator to be seen, short enough to keep tests fast.
const aiDelay = 400 * time.Millisecond

// server is the real Parley server (package app: store, broker, turn
// pipeline, debounce, delivery, the HTTP stack with the UI mounted) on
// httptest, with a tenant, its key, and a second server that plays the
// integrator's media host.
type server struct {
	t      *testing.T
	URL    string // the server, for the test's own requests
	Key    string
	Tenant string
	Media  string
	// Link is a TCP proxy to URL that the browser goes through, so that the
	// test can cut the browser's network for real.
	Link *link
	logs *syncBuffer
}

// pdfText is written into the test PDF and must come back as extracted_text.
const pdfText = "Parley price list: solar panel 400 W costs 1290 reais"

func startServer(t *testing.T) *server {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := app.Config{DB: filepath.Join(t.TempDir(), "parley.db"), Schema: storetest.Schema(t), MaxBodyBytes: 1 << 20,
		BuiltinDelay: aiDelay, MediaTimeout: 10 * time.Second, MaxMediaBytes: 16 << 20, MaxPDFPages: 50, MaxPDFChars: 20000,
		DeliveryRetrySchedule: "1m,5m,30m", AllowPrivateNetworks: true, Logger: log}
	// EventSource waits `retry` before reconnecting: 1 s instead of 5 keeps the
	// reconnection tests quick.
	a, err := app.New(context.Background(), cfg, app.Options{Stream: &stream.Options{Retry: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		a.Close()
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.Handler)
	srv.Config.RegisterOnShutdown(a.OnShutdown)
	srv.Start()

	media := httptest.NewServer(mediaHandler(t))
	t.Cleanup(func() {
		a.OnShutdown()
		srv.Close()
		a.Close()
		media.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	ten, key := storetest.Tenant(t, a.Store, "Acme Solar")
	return &server{t: t, URL: srv.URL, Key: key, Tenant: ten.ID(), Media: media.URL, Link: newLink(t, srv.Listener.Addr().String()), logs: logs}
}

// link is a TCP proxy that can be cut: Cut resets every open connection and
// refuses new ones (by closing them at once) until Restore. To the browser
// this is a network drop: an open EventSource fails, reconnections fail.
// Unavailable is the same drop, but new connections get an HTTP 503, on which
// EventSource gives up instead of retrying.
type link struct {
	URL    string
	target string
	ln     net.Listener
	mu     sync.Mutex
	down   bool
	answer string // what a connection gets while down ("" = closed at once)
	conns  map[net.Conn]bool
}

func newLink(t *testing.T, target string) *link {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{URL: "http://" + ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { l.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		l.Cut()
		wg.Wait()
	})
	return l
}

func (l *link) serve(c net.Conn) {
	if !l.track(c) {
		l.mu.Lock()
		answer := l.answer
		l.mu.Unlock()
		if answer != "" {
			c.SetReadDeadline(time.Now().Add(time.Second))
			http.ReadRequest(bufio.NewReader(c)) // read it, so that closing sends no reset
			io.WriteString(c, answer)
		}
		c.Close()
		return
	}
	defer l.untrack(c)
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		return
	}
	if !l.track(up) {
		up.Close()
		return
	}
	defer l.untrack(up)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done // either side ended: end both
}

func (l *link) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return false
	}
	l.conns[c] = true
	return true
}

func (l *link) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	c.Close()
}

// Cut drops every connection and refuses new ones.
func (l *link) Cut() { l.cut("") }

// Unavailable drops every connection and answers new ones 503.
func (l *link) Unavailable() {
	l.cut("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nunavailable")
}

func (l *link) cut(answer string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down, l.answer = true, answer
	for c := range l.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as when a network goes away
		}
		c.Close()
	}
}

// Restore lets connections through again.
func (l *link) Restore() {
	l.mu.Lock()
	l.down = false
	l.mu.Unlock()
}

// call sends a request with the key and decodes the JSON answer; any status
// but 2xx fails the test.
func (s *server) call(method, path string, body any) map[string]any {
	s.t.Helper()
	status, out := s.try(method, path, body)
	if status < 200 || status > 299 {
		s.t.Fatalf("%s %s = %d: %v", method, path, status, out)
	}
	return out
}

// try is call without the status check.
func (s *server) try(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(raw) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			s.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return res.StatusCode, out
}

// process is POST /ai/process for a lead (sync mode).
func (s *server) process(lead, content string, extra map[string]any) map[string]any {
	s.t.Helper()
	body := map[string]any{"tenant_id": s.Tenant, "lead_id": lead, "role": "user", "content": content, "message_type": "text"}
	for k, v := range extra {
		body[k] = v
	}
	return s.call(http.MethodPost, "/ai/process", body)
}

// conversation is GET /backend/conversations/{id}'s data.
func (s *server) conversation(id string) map[string]any {
	s.t.Helper()
	return s.call(http.MethodGet, "/backend/conversations/"+id, nil)["data"].(map[string]any)
}

// mediaHandler serves a photo, a PDF and a voice note, as a gateway's media host would.
func mediaHandler(t *testing.T) http.Handler {
	photo := testPNG(t)
	pdf := testPDF(t)
	voice := testWAV()
	files := map[string]struct {
		ctype string
		body  []byte
	}{
		"/photo.png":      {"image/png", photo},
		"/price-list.pdf": {"application/pdf", pdf},
		"/voice.wav":      {"audio/wav", voice},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.ctype)
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(f.body))
	})
}

// testPNG is a 480×300 sunset gradient, so that the screenshots show a real image.
func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 480, 300))
	for y := range 300 {
		for x := range 480 {
			fy, fx := float64(y)/300, float64(x)/480
			c := color.RGBA{uint8(250 - 90*fy), uint8(170 - 120*fy + 30*fx), uint8(80 + 140*fy), 255}
			if y > 210+int(12*math.Sin(fx*9)) {
				c = color.RGBA{uint8(40 + 30*fx), 60, 90, 255} // hills
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testPDF(t *testing.T) []byte {
	doc := fpdf.New("P", "mm", "A4", "")
	doc.SetFont("Helvetica", "", 12)
	doc.AddPage()
	doc.Cell(0, 10, pdfText)
	var buf bytes.Buffer
	if err := doc.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testWAV is 0.6 s of a 440 Hz tone, 8 kHz mono 16-bit PCM.
func testWAV() []byte {
	const rate, n = 8000, 4800
	var data bytes.Buffer
	for i := range n {
		binary.Write(&data, binary.LittleEndian, int16(8000*math.Sin(2*math.Pi*440*float64(i)/rate)))
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(rate * 2), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
