package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseEvent is one frame read from a real event stream.
type sseEvent struct {
	ID    string // "" for live-only events
	Retry string
	Data  string
	Type  string          // the payload's "type"
	Body  json.RawMessage // the payload's "data"
}

// Seq is the event id as a number (0 when absent).
func (ev sseEvent) Seq() int64 {
	n, _ := strconv.ParseInt(ev.ID, 10, 64)
	return n
}

// sseClient reads a stream opened against the test server.
type sseClient struct {
	t      testing.TB
	res    *http.Response
	cancel context.CancelFunc
	frames chan sseEvent
}

// openStream GETs path (query included) with the env's key in ?token= unless
// the path already carries one, and extra headers. It fails the test unless
// the answer is a 200 event stream.
func (e *env) openStream(path string, header map[string]string) *sseClient {
	e.t.Helper()
	c, res := e.tryStream(path, header)
	if c == nil {
		e.t.Fatalf("open stream %s: status %d", path, res.Status)
	}
	return c
}

// tryStream is openStream that returns the response instead of failing when
// the server refuses the stream.
func (e *env) tryStream(path string, header map[string]string) (*sseClient, response) {
	e.t.Helper()
	if !strings.Contains(path, "token=") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "token=" + e.key
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		defer cancel()
		defer res.Body.Close()
		b := make([]byte, 4096)
		n, _ := res.Body.Read(b)
		return nil, response{Status: res.StatusCode, Header: res.Header, Body: b[:n]}
	}
	c := &sseClient{t: e.t, res: res, cancel: cancel, frames: make(chan sseEvent, 4096)}
	go c.read()
	e.t.Cleanup(c.Close)
	return c, response{Status: res.StatusCode, Header: res.Header}
}

func (c *sseClient) read() {
	defer close(c.frames)
	br := bufio.NewReader(c.res.Body)
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if ev.Data != "" || ev.Retry != "" {
				if ev.Data != "" {
					var p struct {
						Type string          `json:"type"`
						Data json.RawMessage `json:"data"`
					}
					if json.Unmarshal([]byte(ev.Data), &p) == nil {
						ev.Type, ev.Body = p.Type, p.Data
					}
				}
				c.frames <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id:"):
			ev.ID = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "retry:"):
			ev.Retry = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			ev.Data += strings.TrimPrefix(line[5:], " ")
		}
	}
}

// Close drops the connection.
func (c *sseClient) Close() {
	c.cancel()
	c.res.Body.Close()
}

// Next returns the next frame that satisfies keep (nil keeps all but
// heartbeats and the retry frame), failing the test after timeout.
func (c *sseClient) Next(timeout time.Duration, keep func(sseEvent) bool) sseEvent {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.frames:
			if !ok {
				c.t.Fatal("stream closed while waiting for an event")
			}
			if keep == nil && (ev.Type == "heartbeat" || ev.Data == "") {
				continue
			}
			if keep != nil && !keep(ev) {
				continue
			}
			return ev
		case <-deadline:
			c.t.Fatalf("no matching event within %v", timeout)
			return sseEvent{}
		}
	}
}

// ofType keeps events of the given types.
func ofType(types ...string) func(sseEvent) bool {
	return func(ev sseEvent) bool {
		for _, t := range types {
			if ev.Type == t {
				return true
			}
		}
		return false
	}
}
