package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// sink is a postback receiver that accepts everything.
type sink struct {
	*httptest.Server
	count atomic.Int64
}

func newSink() *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.count.Add(1)
	}))
	return s
}
