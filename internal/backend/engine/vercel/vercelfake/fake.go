// Package vercelfake is an in-process fake of the Vercel Sandbox REST API (the current generation: named
// sandboxes with sessions, /v2 and /v3), for the vercel engine's tests and the provider's acceptance tests.
//
// It enforces the service's rules, as Vercel's API reference and the official @vercel/sandbox client show
// them, so that a client that gets the API wrong fails against it:
//
//   - auth: a bearer token on every request (403 {"error":{"code":"forbidden","missingToken":true}} without one,
//     403 invalidToken with another), and teamId or slug on every request (stricter than the API, 400 without);
//     projectId in the create body and on get/patch/delete of a named sandbox, project on list calls (400 when
//     missing, 404 "Project not found." when it is another project);
//   - the status machine over time: a session is pending for Config.BootDelay before it runs; stop makes it
//     stopping for Config.StopDelay, a snapshot snapshotting for Config.SnapshotDelay, then stopped; a session
//     stops at its timeout; a persistent sandbox snapshots itself at every stop and GET ?resume=true starts a new
//     session from that snapshot (a non-persistent one starts again from its source);
//   - runtime calls on a session that is not running: 422 sandbox_stopping / sandbox_snapshotting, 410
//     sandbox_stopped; calls on a pending session wait until it runs;
//   - body validation with the API's messages: unknown fields, name, runtime enum, image only on /v3, runtime only
//     on /v2, ports (at most 15, 1024-65535), timeout (1000 ms .. Config.MaxTimeout), vcpus (1 or even, at most
//     Config.MaxVCPUs), memory = vcpus x 2048, env, tags (at most 5), source, network policy rules,
//     snapshotExpiration (0 or at least a day), keepLastSnapshots;
//   - 404 / 409 / 410 / 415 / 422 in the {"error":{"code","message"}} shape;
//   - commands really run: the argv is run with os/exec on the host, in the session's directory (a per-session
//     temporary tree standing for the VM's "/", with the home /vercel/sandbox), with an environment made only of
//     a fixed PATH, HOME, the sandbox env and the command env (never the host's); output is streamed as ndjson;
//     the command timeout kills the process group (exit code 137);
//   - file writes are the gzipped tar the API expects (415 for another content type), reads answer raw bytes;
//   - snapshots copy the session's tree and stop the session; they expire (Fake.ExpireSnapshot forces it);
//   - faults: the fakes' one fault API (Fake.Faults, harness.Fault) answers chosen requests (a route, the nth
//     call) with 429 (Retry-After) / 5xx / a dropped connection / a delay, before or after applying them;
//   - it counts requests per route (Fake.Requests) and records every network policy it was given, header values
//     included (Fake.NetworkPolicies), so that tests can check what arrived on the wire. The API's own answers
//     never carry header values, and neither do the fake's.
//
// It is a test fake: commands run on the host with the test's privileges. Paths inside commands are host paths
// (a command that writes /tmp/x writes the host's /tmp); only the command's working directory and the file
// endpoints map the sandbox's tree. Git sources are cloned with the host's git; tarball sources are fetched with
// net/http.
package vercelfake

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// Defaults of Config.
const (
	DefaultToken     = "vercel-fake-token"
	DefaultTeamID    = "team_fake"
	DefaultTeamSlug  = "fake-team"
	DefaultProjectID = "prj_fake"
)

// Config configures a fake.
type Config struct {
	Token     string // the bearer token the fake accepts; DefaultToken when ""
	TeamID    string // DefaultTeamID when ""
	TeamSlug  string // DefaultTeamSlug when ""
	ProjectID string // DefaultProjectID when ""
	// BootDelay is how long a new session stays pending; 0 = 20 ms; negative = it never leaves pending.
	BootDelay time.Duration
	// StopDelay is how long a stopping session takes to stop; 0 = 20 ms.
	StopDelay time.Duration
	// SnapshotDelay is how long a snapshotting session takes to stop; 0 = 20 ms.
	SnapshotDelay time.Duration
	// MaxTimeout is the plan's maximum session timeout; 0 = 24 h (Pro). Hobby is 45 min.
	MaxTimeout time.Duration
	// MaxVCPUs is the plan's maximum vCPUs; 0 = 8 (Pro).
	MaxVCPUs int
	// Dir holds the sessions' trees and the snapshots; "" = a new temporary directory removed by Close.
	Dir string
}

// PolicyRecord is one network policy the fake received, as sent (header values included).
type PolicyRecord struct {
	Sandbox string          // the sandbox's name
	Via     string          // "create", "update" (PATCH) or "session" (POST .../network-policy)
	Body    json.RawMessage // the policy as received
}

// Fake is a running fake. Its methods are safe for concurrent use.
type Fake struct {
	cfg    Config
	srv    *httptest.Server
	mux    *http.ServeMux
	dir    string
	ownDir bool

	mu        sync.Mutex
	sandboxes map[string]*sandbox
	sessions  map[string]*session
	snapshots map[string]*snapshot
	faults    harness.Set
	counts    map[string]int
	total     int
	resumes   int
	policies  []PolicyRecord
	closed    bool
}

// New starts a fake on a local port. Close it when done.
func New(cfg Config) (*Fake, error) {
	if cfg.Token == "" {
		cfg.Token = DefaultToken
	}
	if cfg.TeamID == "" {
		cfg.TeamID = DefaultTeamID
	}
	if cfg.TeamSlug == "" {
		cfg.TeamSlug = DefaultTeamSlug
	}
	if cfg.ProjectID == "" {
		cfg.ProjectID = DefaultProjectID
	}
	if cfg.BootDelay == 0 {
		cfg.BootDelay = 20 * time.Millisecond
	}
	if cfg.StopDelay <= 0 {
		cfg.StopDelay = 20 * time.Millisecond
	}
	if cfg.SnapshotDelay <= 0 {
		cfg.SnapshotDelay = 20 * time.Millisecond
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 24 * time.Hour
	}
	if cfg.MaxVCPUs <= 0 {
		cfg.MaxVCPUs = 8
	}
	f := &Fake{
		cfg:       cfg,
		dir:       cfg.Dir,
		sandboxes: map[string]*sandbox{},
		sessions:  map[string]*session{},
		snapshots: map[string]*snapshot{},
		counts:    map[string]int{},
	}
	if f.dir == "" {
		d, err := os.MkdirTemp("", "vercelfake-")
		if err != nil {
			return nil, fmt.Errorf("vercelfake: making its directory: %w", err)
		}
		f.dir, f.ownDir = d, true
	}
	f.mux = http.NewServeMux()
	f.routes()
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f, nil
}

// URL is the fake's base URL (what the API serves at https://api.vercel.com).
func (f *Fake) URL() string { return f.srv.URL }

// Config returns the fake's configuration with its defaults filled in.
func (f *Fake) Config() Config { return f.cfg }

// Close stops the server, kills every command still running and removes the fake's directory if it made it.
func (f *Fake) Close() {
	f.mu.Lock()
	f.closed = true
	for _, s := range f.sessions {
		s.killAll(false)
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	f.mu.Unlock()
	f.srv.CloseClientConnections()
	f.srv.Close()
	if f.ownDir {
		_ = os.RemoveAll(f.dir)
	}
}

// Faults is the fake's fault list: routes are named as Requests names them ("POST /v3/sandboxes",
// "GET /v2/sandboxes/{name}"). A fault's Code and Message
// make the API's {error:{code,message}} body (defaults depend on the status).
func (f *Fake) Faults() *harness.Set { return &f.faults }

// Requests returns how many requests matched a route pattern, e.g. "GET /v2/sandboxes/{name}" (see routes in
// the source for the names), or "" for every request. Requests that matched no route count under "unknown".
func (f *Fake) Requests(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if route == "" {
		return f.total
	}
	return f.counts[route]
}

// Resumes returns how many GET /v2/sandboxes/{name} requests carried resume=true.
func (f *Fake) Resumes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resumes
}

// NetworkPolicies returns every network policy received for a sandbox name ("" = every sandbox), in order.
func (f *Fake) NetworkPolicies(name string) []PolicyRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []PolicyRecord
	for _, p := range f.policies {
		if name == "" || p.Sandbox == name {
			out = append(out, p)
		}
	}
	return out
}

// SessionPolicy returns the network policy in force in a sandbox's current session, as it was sent (header
// values included); nil when none was given (the API's default, allow-all).
func (f *Fake) SessionPolicy(name string) json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[name]
	if sb == nil {
		return nil
	}
	if s := f.sessions[sb.currentSession]; s != nil {
		return s.policy
	}
	return nil
}

// SandboxEnv returns a sandbox's default env as the fake holds it (for tests of what reached the API).
func (f *Fake) SandboxEnv(name string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[name]
	if sb == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range sb.env {
		out[k] = v
	}
	return out
}

// SetBootDelay changes how long new sessions stay pending (negative = forever).
func (f *Fake) SetBootDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg.BootDelay = d
}

// ExpireSnapshot makes a snapshot expire now, as if its expiration had passed.
func (f *Fake) ExpireSnapshot(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	sn := f.snapshots[id]
	if sn == nil {
		return false
	}
	sn.expiresAt = nowMs() - 1
	f.expire(sn)
	return true
}

// StopSession stops a sandbox's current session as its timeout would (persistent sandboxes snapshot themselves).
func (f *Fake) StopSession(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[name]
	if sb == nil {
		return false
	}
	s := f.sessions[sb.currentSession]
	if s == nil {
		return false
	}
	f.stopSession(s, "timeout")
	return true
}

// SandboxStatus returns the status of a sandbox's current session ("" when there is no such sandbox).
func (f *Fake) SandboxStatus(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[name]
	if sb == nil {
		return ""
	}
	if s := f.sessions[sb.currentSession]; s != nil {
		return s.status
	}
	return ""
}

// Snapshots returns the ids of the snapshots that exist (not deleted, not expired) and were taken of a sandbox
// ("" = all).
func (f *Fake) Snapshots(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, sn := range f.snapshots {
		if f.alive(sn) && (name == "" || sn.sandbox == name) {
			out = append(out, sn.id)
		}
	}
	return out
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	_, pattern := f.mux.Handler(r)
	if pattern == "" {
		pattern = "unknown"
	}
	f.mu.Lock()
	f.total++
	f.counts[pattern]++
	f.mu.Unlock()
	f.faults.Take(pattern, r).Serve(w, r, nil, f.handle, writeFault)
}

func writeFault(w http.ResponseWriter, _ *http.Request, ft *harness.Fault) {
	status := ft.Status
	code, msg := ft.Code, ft.Message
	if code == "" {
		switch {
		case status == http.StatusTooManyRequests:
			code = "rate_limited"
		case status >= 500:
			code = "internal_server_error"
		default:
			code = "bad_request"
		}
	}
	if msg == "" {
		switch {
		case status == http.StatusTooManyRequests:
			msg = "The concurrency limit has been exceeded"
		case status >= 500:
			msg = "An unexpected internal error occurred (injected)"
		default:
			msg = "Injected error"
		}
	}
	writeError(w, status, code, msg, nil)
}

// handle authenticates and scopes a request, then routes it.
func (f *Fake) handle(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "" || (ok && strings.TrimSpace(token) == ""):
		writeError(w, http.StatusForbidden, "forbidden", "The request is missing an authentication token", map[string]any{"missingToken": true})
		return
	case !ok || token != f.cfg.Token:
		writeError(w, http.StatusForbidden, "forbidden", "Not authorized", map[string]any{"invalidToken": true})
		return
	}
	q := r.URL.Query()
	team, slug := q.Get("teamId"), q.Get("slug")
	switch {
	case team == "" && slug == "":
		writeError(w, http.StatusBadRequest, "bad_request", "A teamId or slug query parameter is required (the fake is stricter than the API: every request must be scoped to the team)", nil)
		return
	case team != "" && team != f.cfg.TeamID, team == "" && slug != f.cfg.TeamSlug:
		writeError(w, http.StatusForbidden, "forbidden", "You don't have access to this team", nil)
		return
	}
	f.mux.ServeHTTP(w, r)
}

func (f *Fake) routes() {
	m := f.mux
	m.HandleFunc("POST /v2/sandboxes", f.createSandbox)
	m.HandleFunc("POST /v3/sandboxes", f.createSandbox)
	m.HandleFunc("GET /v2/sandboxes", f.listSandboxes)
	m.HandleFunc("GET /v2/sandboxes/{name}", f.getSandbox)
	m.HandleFunc("PATCH /v2/sandboxes/{name}", f.updateSandbox)
	m.HandleFunc("DELETE /v2/sandboxes/{name}", f.deleteSandbox)

	m.HandleFunc("GET /v2/sandboxes/sessions", f.listSessions)
	m.HandleFunc("GET /v2/sandboxes/sessions/{sessionId}", f.getSession)
	m.HandleFunc("POST /v2/sandboxes/sessions/{sessionId}/stop", f.stopSessionHandler)
	m.HandleFunc("POST /v2/sandboxes/sessions/{sessionId}/extend-timeout", f.extendTimeout)
	m.HandleFunc("POST /v2/sandboxes/sessions/{sessionId}/network-policy", f.sessionNetworkPolicy)
	m.HandleFunc("POST /v2/sandboxes/sessions/{sessionId}/snapshot", f.createSnapshot)

	m.HandleFunc("POST /v2/sandboxes/sessions/{sessionId}/cmd", f.runCommand)
	m.HandleFunc("GET /v2/sandboxes/sessions/{sessionId}/cmd", f.listCommands)
	m.HandleFunc("GET /v2/sandboxes/sessions/{sessionId}/cmd/{cmdId}", f.getCommand)
	m.HandleFunc("GET /v2/sandboxes/sessions/{sessionId}/cmd/{cmdId}/logs", f.commandLogs)
	m.HandleFunc("POST /v2/sandboxes/sessions/{sessionId}/cmd/{cmdId}/kill", f.killCommand)

	m.HandleFunc("POST /v2/sandboxes/sessions/{sessionId}/fs/write", f.writeFiles)
	m.HandleFunc("POST /v2/sandboxes/sessions/{sessionId}/fs/read", f.readFile)
	m.HandleFunc("POST /v2/sandboxes/sessions/{sessionId}/fs/mkdir", f.mkdir)

	m.HandleFunc("GET /v2/sandboxes/snapshots", f.listSnapshots)
	m.HandleFunc("GET /v2/sandboxes/snapshots/{snapshotId}", f.getSnapshot)
	m.HandleFunc("DELETE /v2/sandboxes/snapshots/{snapshotId}", f.deleteSnapshot)

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("The requested endpoint %s %s does not exist", r.Method, r.URL.Path), nil)
	})
}

// writeError writes the API's error shape.
func writeError(w http.ResponseWriter, status int, code, msg string, extra map[string]any) {
	e := map[string]any{"code": code, "message": msg}
	for k, v := range extra {
		e[k] = v
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// apiError is an error answer decided inside the state code.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, "bad_request", "Invalid request: "+format, args...)
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.code, ae.message, nil)
		return
	}
	writeError(w, http.StatusInternalServerError, "internal_server_error", err.Error(), nil)
}

// decodeBody decodes a JSON object body strictly: unknown fields are rejected as the API does.
func decodeBody(r *http.Request, v any, optional bool) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return badRequest("cannot read the body: %v", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		if optional {
			return nil
		}
		return badRequest("a JSON body is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return badRequest("should NOT have additional property %s.", strings.ReplaceAll(f, `"`, "`"))
		}
		return badRequest("%s", msg)
	}
	if dec.More() {
		return badRequest("trailing data after the JSON body")
	}
	return nil
}

// ndjsonWriter writes one JSON object per line and flushes it.
type ndjsonWriter struct {
	w  *bufio.Writer
	fl http.Flusher
}

func newNDJSON(w http.ResponseWriter) *ndjsonWriter {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	return &ndjsonWriter{w: bufio.NewWriter(w), fl: fl}
}

func (n *ndjsonWriter) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := n.w.Write(b); err != nil {
		return err
	}
	if err := n.w.Flush(); err != nil {
		return err
	}
	if n.fl != nil {
		n.fl.Flush()
	}
	return nil
}

func nowMs() int64 { return time.Now().UnixMilli() }

// Names returns the names of the sandboxes that exist (not deleted), sorted: what a sweep or a kill test
// expects to be empty once everything is destroyed.
func (f *Fake) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.sandboxes))
	for n := range f.sandboxes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
