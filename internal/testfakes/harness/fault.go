// Package harness is what the fakes of the hosted services (daytona, vercel, sprites, instantdb) share: one
// fault API and one tree copy. Each fake keeps its own routes, refusals and error bodies; a test scripts a
// misbehaviour the same way against any of them:
//
//	fake.Faults().Add(harness.Fault{Route: "POST /sandbox", Status: 502, AfterApply: true})
//
// A fault answers the requests of a route (as the fake names them, "METHOD /path/{param}"), from the Nth
// matching request on, Times of them: after a Delay it answers Status instead of the real answer, or drops
// the connection (Status Drop); with AfterApply the request is served first and its answer lost (the service
// did the work, the client cannot know).
package harness

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Drop, as a Fault's Status, closes the connection without an answer (a reset, as a proxy that died).
const Drop = -1

// Fault is one scripted misbehaviour of a fake service.
type Fault struct {
	// Route restricts the fault to one route as the fake names it ("POST /sandbox", "GET /v2/sandboxes/{name}"),
	// or to a method alone ("GET"); "" matches every request.
	Route string
	// Match, when set, restricts the fault further to the requests it accepts.
	Match func(r *http.Request) bool
	// Nth is the first matching request the fault answers, counting every matching request since it was
	// added (1 = the next one; 0 means 1): Nth 3 lets two matching requests through and fails the third.
	Nth int
	// Times is how many matching requests the fault answers from the Nth on; 0 means 1, negative means all.
	Times int
	// Delay is waited before answering (ended early when the client goes away or the fake closes).
	Delay time.Duration
	// Status is answered instead of the real answer; 0 serves the request normally (after Delay, and with the
	// fake's own Extra behaviour); Drop closes the connection without an answer.
	Status int
	// AfterApply serves the request first (its work is done) and then answers Status or drops: the answer is
	// lost, so the client cannot know that the request went through.
	AfterApply bool
	// RetryAfter is sent as the Retry-After header ("" = none); a fake whose service names it differently (the
	// Daytona throttler's Retry-After-<name>) sends it under that name.
	RetryAfter string
	// Header holds further headers of the fault's answer (rate-limit headers).
	Header http.Header
	// Body replaces the fake's own error body for Status.
	Body string
	// Code and Message, where the service's error body has them, replace the fake's defaults for Status.
	Code, Message string
	// Extra is a fake's own misbehaviour inside a served answer (the Sprites fake's StreamError and DropExec);
	// each fake documents what it accepts.
	Extra any
}

// Set is a fake's list of faults, matched in the order they were added. The zero value is ready; it is safe
// for concurrent use.
type Set struct {
	mu     sync.Mutex
	faults []*state
}

type state struct {
	Fault
	seen int // matching requests seen
	used int // matching requests answered
}

// Add queues faults.
func (s *Set) Add(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		if f.Nth <= 0 {
			f.Nth = 1
		}
		if f.Times == 0 {
			f.Times = 1
		}
		s.faults = append(s.faults, &state{Fault: f})
	}
}

// Clear drops every fault not spent yet.
func (s *Set) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Pending returns how many faults are not spent yet.
func (s *Set) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// Take returns the fault that answers a request of route (nil when none does): the first fault added that
// matches it and has reached its Nth. The request counts toward the Nth of every fault that matches it. A
// spent fault is dropped.
func (s *Set) Take(route string, r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out *Fault
	kept := s.faults[:0]
	for _, st := range s.faults {
		if st.matches(route, r) {
			st.seen++
			if out == nil && st.seen >= st.Nth {
				st.used++
				f := st.Fault
				out = &f
			}
		}
		if st.Times < 0 || st.used < st.Times {
			kept = append(kept, st)
		}
	}
	for i := len(kept); i < len(s.faults); i++ {
		s.faults[i] = nil
	}
	s.faults = kept
	return out
}

func (st *state) matches(route string, r *http.Request) bool {
	switch {
	case st.Route == "":
	case !strings.Contains(st.Route, " "):
		if r == nil || st.Route != r.Method {
			return false
		}
	case st.Route != route:
		return false
	}
	return st.Match == nil || (r != nil && st.Match(r))
}

// Serve answers r under f (nil: served normally): it waits f.Delay, then serves the request with serve, or
// (Status set) answers the fault: serving first with AfterApply and throwing that answer away, then dropping
// the connection (Drop) or answering f.Status with f.Header, f.RetryAfter (as Retry-After) and f.Body, or,
// without a Body, the fake's own error body written by writeError. done, when closed, ends a delay early (the fake is closing).
func (f *Fault) Serve(w http.ResponseWriter, r *http.Request, done <-chan struct{}, serve http.HandlerFunc, writeError func(w http.ResponseWriter, r *http.Request, f *Fault)) {
	if f == nil {
		serve(w, r)
		return
	}
	if f.Delay > 0 && !Wait(r.Context(), f.Delay, done) {
		return
	}
	if f.Status == 0 {
		serve(w, r)
		return
	}
	if f.AfterApply {
		serve(httptest.NewRecorder(), r)
	}
	if f.Status == Drop {
		if DropConn(w) {
			return
		}
		f2 := *f
		f2.Status = http.StatusBadGateway
		f = &f2
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Body != "" {
		f.WriteBody(w)
		return
	}
	writeError(w, r, f)
}

// WriteBody writes f.Body with f.Status, as JSON when it looks like JSON, else as plain text.
func (f *Fault) WriteBody(w http.ResponseWriter) {
	if strings.HasPrefix(strings.TrimSpace(f.Body), "{") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
}

// Wait sleeps d and reports whether the request is still to be answered: false when the client went away or
// done was closed first.
func Wait(ctx context.Context, d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-done:
		return false
	}
}

// DropConn closes the request's connection without an answer (with a reset, as a proxy that died), and
// reports whether it could.
func DropConn(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return true
}
