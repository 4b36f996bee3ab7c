// Package daytonafake is an in-process fake of the Daytona main API (sandboxes, volumes, snapshots, preview
// URLs) and of its toolbox proxy (process/execute, file upload and download), for the daytona engine's tests
// and, later, the provider's acceptance tests. It is strict: it refuses what the service refuses, with the
// service's status codes and error bodies (as the official @daytonaio/sdk receives them), so that a client passing against
// the fake does not fail against the service for a reason the fake could have caught:
//
//   - auth: Authorization: Bearer <API key>, or Bearer <JWT> with X-Daytona-Organization-ID; else 401;
//   - required fields and types (400 "<field> must be a ..."), name rules and conflicts (409 for sandboxes and
//     snapshots, 400 for volumes), the snapshot-vs-resources rule, snapshot and buildInfo exclusive, unknown or
//     inactive snapshots, per-sandbox resource maxima (4 vCPU, 8 GiB, 10 GiB), UUID-only snapshot delete,
//     images without a tag or with ":latest";
//   - volumes: must be ready to be mounted, mount path rules, 409 when deleting a volume a sandbox that is not
//     destroyed mounts, deleted volumes still readable by id;
//   - states: every change goes through its transitional states over time (Options.StepDelay each), the API's
//     start/stop/archive/delete rules (409 "Sandbox state change in progress" during a transition), an
//     ephemeral sandbox is deleted when it stops, a deleted sandbox is renamed at once and is 404 once
//     destroyed;
//   - lists: label filtering (a JSON object in the labels query value) with cursor pagination;
//   - the toolbox: commands really run (os/exec on this machine, in a per-sandbox directory, with only PATH,
//     HOME, USER, TMPDIR, the sandbox's env and the request's envs in their environment), split on quotes
//     like the daemon's parseCommand (no shell), combined output, real exit codes, the timeout killing the
//     process group with 408 PROCESS_EXECUTION_TIMEOUT; files under the sandbox directory; only in a started
//     sandbox;
//   - faults: the fakes' one fault API (Faults, harness.Fault): scripted 429s (with the rate-limit headers and
//     RetryAfter as Retry-After-authenticated), 5xx, dropped connections, delays, the nth call, and "applied,
//     then failed" answers (AfterApply), plus request counters for benchmarks (Requests, Count).
//
// The fake is not an isolation layer: commands run as the test's user on the host, so absolute paths in a
// command name host paths (the cwd field, the files API and volume mounts are mapped into the sandbox
// directory), and network settings are kept and returned but not enforced. Auto-stop/archive/delete timers,
// regions, GPUs, forks, pause and the event stream (socket.io, answered 404 so clients poll) are not
// modelled.
package daytonafake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// Options configures a fake.
type Options struct {
	// APIKey is the API key the fake accepts as a bearer token. Required.
	APIKey string
	// JWT and OrganizationID, when both set, are accepted as the other way in: Bearer <JWT> with
	// X-Daytona-Organization-ID: <OrganizationID>.
	JWT, OrganizationID string
	// StepDelay is how long each transitional state lasts; default 40ms.
	StepDelay time.Duration
	// Root holds the sandboxes', volumes' and snapshots' files; "" = a temporary directory removed by Close.
	Root string
}

// Request is one request the fake answered.
type Request struct {
	Method string
	Path   string // as sent, below the host
	Route  string // e.g. "GET /sandbox/{id}"
	Query  string
	Status int
	Time   time.Time
}

// Server is a running fake. New starts one; Close stops it.
type Server struct {
	opts    Options
	ts      *httptest.Server
	root    string
	ownRoot bool

	mu        sync.Mutex
	faults    harness.Set
	requests  []Request
	sandboxes map[string]*sandbox
	volumes   map[string]*volume
	snapshots map[string]*snapshot
	hold      func(labels map[string]string) bool
	builds    int
	closed    chan struct{}
}

// New starts a fake. It panics when opts.APIKey is empty: a fake no request can authenticate against is a bug
// in the test.
func New(opts Options) *Server {
	if opts.APIKey == "" {
		panic("daytonafake.New: Options.APIKey is required")
	}
	if opts.StepDelay <= 0 {
		opts.StepDelay = 40 * time.Millisecond
	}
	s := &Server{
		opts: opts, sandboxes: map[string]*sandbox{}, volumes: map[string]*volume{}, snapshots: map[string]*snapshot{},
		closed: make(chan struct{}),
	}
	s.root = opts.Root
	if s.root == "" {
		dir, err := os.MkdirTemp("", "daytonafake-")
		if err != nil {
			panic(fmt.Sprintf("daytonafake.New: %v", err))
		}
		s.root, s.ownRoot = dir, true
	}
	s.addDefaultSnapshot()
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the main API's base URL (Config.APIURL, the SDK's apiUrl).
func (s *Server) URL() string { return s.ts.URL + "/api" }

// ToolboxURL is the toolbox proxy's base URL, as sandboxes' toolboxProxyUrl carries it.
func (s *Server) ToolboxURL() string { return s.ts.URL + "/toolbox" }

// Close stops the server, kills the commands still running and removes the temporary root.
func (s *Server) Close() {
	select {
	case <-s.closed:
		return
	default:
		close(s.closed)
	}
	s.mu.Lock()
	for _, sb := range s.sandboxes {
		sb.killAll()
	}
	s.mu.Unlock()
	s.ts.CloseClientConnections()
	s.ts.Close()
	if s.ownRoot {
		_ = os.RemoveAll(s.root)
	}
}

// Faults is the fake's fault list: routes are named as Request.Route names them ("POST /sandbox",
// "GET /sandbox/{id}", "POST /toolbox/{id}/process/execute"). A fault's RetryAfter is sent as the throttler's
// Retry-After-authenticated header, with the X-RateLimit-*-authenticated ones.
func (s *Server) Faults() *harness.Set { return &s.faults }

// SetHold makes sandboxes created afterwards whose labels satisfy hold stay in "starting" (a transition
// in progress: start, stop and delete answer 409) until Release: a sandbox stuck past a client's deadline.
func (s *Server) SetHold(hold func(labels map[string]string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = hold
}

// Release ends SetHold: held sandboxes go on to started.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = nil
	now := time.Now()
	for _, sb := range s.sandboxes {
		if sb.held {
			sb.held = false
			sb.advance(now)
			switch n := len(sb.queue); {
			case n > 0 && sb.queue[n-1].state == stStarting:
				sb.queue = append(sb.queue, step{state: stStarted, at: sb.queue[n-1].at.Add(s.opts.StepDelay)})
			case n == 0 && sb.state == stStarting:
				sb.plan(now, s.opts.StepDelay, stStarting, stStarted)
			}
		}
	}
}

// Requests returns the requests answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests of a route were answered ("" = all).
func (s *Server) Count(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if route == "" || r.Route == route {
			n++
		}
	}
	return n
}

// SnapshotBuilds returns how many snapshots were made (from sandboxes and from images).
func (s *Server) SnapshotBuilds() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.builds
}

// ---- HTTP plumbing ----

// recorder keeps a handler's answer when a fault replaces it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	route, h := s.route(r)
	fault := s.faults.Take(route, r)
	if fault != nil && fault.Delay > 0 && !harness.Wait(r.Context(), fault.Delay, s.closed) {
		return
	}
	faulted := fault != nil && fault.Status != 0
	var a answer
	switch {
	case h == nil:
		a = mainError(r, http.StatusNotFound, fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path))
	case !s.authorized(r):
		if strings.HasPrefix(route, "POST /toolbox") || strings.HasPrefix(route, "GET /toolbox") {
			a = toolboxError(r, http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized")
		} else {
			a = mainError(r, http.StatusUnauthorized, "Unauthorized")
		}
	case faulted && !fault.AfterApply:
		a = faultAnswer(r, fault)
	default:
		a = h(r)
		if faulted {
			a = faultAnswer(r, fault)
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Route: route, Query: r.URL.RawQuery, Status: a.status, Time: time.Now()})
	s.mu.Unlock()
	if faulted && fault.Status == harness.Drop && harness.DropConn(w) {
		return
	}
	for k, vs := range a.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if w.Header().Get("Content-Type") == "" && len(a.body) > 0 {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

func faultAnswer(r *http.Request, f *harness.Fault) answer {
	status := f.Status
	if status == harness.Drop {
		status = http.StatusBadGateway // recorded, and answered when the connection cannot be dropped
	}
	msg := f.Message
	var a answer
	switch {
	case f.Body != "":
		a = answer{status: status, body: []byte(f.Body), header: http.Header{}}
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		a = answer{status: status, body: []byte("<html><body>" + http.StatusText(status) + "</body></html>"),
			header: http.Header{"Content-Type": {"text/html"}}}
	case msg != "":
		a = mainError(r, status, msg)
	case status == http.StatusTooManyRequests:
		a = mainError(r, status, "Rate limit exceeded")
	case status >= 500:
		a = mainError(r, status, "An unexpected error occurred.")
	default:
		a = mainError(r, status, http.StatusText(status))
	}
	for k, vs := range f.Header {
		a.header[k] = append(a.header[k], vs...)
	}
	if status == http.StatusTooManyRequests {
		a.header.Set("X-RateLimit-Limit-authenticated", "10000")
		a.header.Set("X-RateLimit-Remaining-authenticated", "0")
		reset := f.RetryAfter
		if reset == "" {
			reset = "1"
		}
		a.header.Set("X-RateLimit-Reset-authenticated", reset)
		if f.RetryAfter != "" {
			a.header.Set("Retry-After-authenticated", f.RetryAfter)
		}
	}
	return a
}

func (s *Server) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	if tok == s.opts.APIKey {
		return true
	}
	return s.opts.JWT != "" && tok == s.opts.JWT && s.opts.OrganizationID != "" &&
		r.Header.Get("X-Daytona-Organization-ID") == s.opts.OrganizationID
}

// jsonAnswer encodes v with status.
func jsonAnswer(status int, v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		return answer{status: http.StatusInternalServerError, body: []byte(`{"statusCode":500,"message":"fake: encoding failed"}`), header: http.Header{}}
	}
	return answer{status: status, body: b, header: http.Header{}}
}

// mainError is the main API's error body (NestJS global filter).
func mainError(r *http.Request, status int, msg string) answer {
	return jsonAnswer(status, map[string]any{
		"statusCode": status, "message": msg, "error": http.StatusText(status),
		"path": r.URL.RequestURI(), "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
	})
}

// toolboxError is the daemon's and proxy's error body.
func toolboxError(r *http.Request, status int, code, msg string) answer {
	return jsonAnswer(status, map[string]any{
		"statusCode": status, "message": msg, "code": code, "source": "DAYTONA_DAEMON",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "path": r.URL.Path, "method": r.Method,
	})
}

// decodeBody decodes a JSON body into v, answering the API's validation messages for wrong types.
func decodeBody(r *http.Request, v any) (answer, bool) {
	body := new(bytes.Buffer)
	if _, err := body.ReadFrom(http.MaxBytesReader(nil, r.Body, 8<<20)); err != nil {
		return mainError(r, http.StatusBadRequest, "request body too large or unreadable"), false
	}
	if body.Len() == 0 {
		body.WriteString("{}")
	}
	if err := json.Unmarshal(body.Bytes(), v); err != nil {
		var te *json.UnmarshalTypeError
		if ok := asTypeError(err, &te); ok {
			return mainError(r, http.StatusBadRequest, fmt.Sprintf("%s must be %s", te.Field, jsonKind(te.Type.Kind().String()))), false
		}
		return mainError(r, http.StatusBadRequest, "Unexpected token in JSON body"), false
	}
	return answer{}, true
}

func asTypeError(err error, te **json.UnmarshalTypeError) bool {
	t, ok := err.(*json.UnmarshalTypeError) //nolint:errorlint // json.Unmarshal returns it unwrapped
	if ok {
		*te = t
	}
	return ok
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean value"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return "a number"
}

// route maps a request to its route name and handler (nil when unknown).
func (s *Server) route(r *http.Request) (string, func(*http.Request) answer) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/"):
		return s.routeMain(r, strings.Split(strings.Trim(p[len("/api/"):], "/"), "/"))
	case strings.HasPrefix(p, "/toolbox/"):
		parts := strings.SplitN(strings.Trim(p[len("/toolbox/"):], "/"), "/", 2)
		if len(parts) != 2 {
			return r.Method + " " + p, nil
		}
		return s.routeToolbox(r, parts[0], parts[1])
	}
	return r.Method + " " + p, nil
}

func (s *Server) routeMain(r *http.Request, seg []string) (string, func(*http.Request) answer) {
	m := r.Method
	n := len(seg)
	switch {
	case seg[0] == "sandbox" && n == 1 && m == http.MethodPost:
		return "POST /sandbox", s.createSandbox
	case seg[0] == "sandbox" && n == 1 && m == http.MethodGet:
		return "GET /sandbox", s.listSandboxes
	case seg[0] == "sandbox" && n == 2 && m == http.MethodGet:
		return "GET /sandbox/{id}", func(r *http.Request) answer { return s.getSandbox(r, seg[1]) }
	case seg[0] == "sandbox" && n == 2 && m == http.MethodDelete:
		return "DELETE /sandbox/{id}", func(r *http.Request) answer { return s.deleteSandbox(r, seg[1]) }
	case seg[0] == "sandbox" && n == 3 && m == http.MethodPost && (seg[2] == "start" || seg[2] == "stop" || seg[2] == "archive"):
		return "POST /sandbox/{id}/" + seg[2], func(r *http.Request) answer { return s.sandboxAction(r, seg[1], seg[2]) }
	case seg[0] == "sandbox" && n == 3 && m == http.MethodPut && seg[2] == "labels":
		return "PUT /sandbox/{id}/labels", func(r *http.Request) answer { return s.putLabels(r, seg[1]) }
	case seg[0] == "sandbox" && n == 3 && m == http.MethodPost && seg[2] == "network-settings":
		return "POST /sandbox/{id}/network-settings", func(r *http.Request) answer { return s.networkSettings(r, seg[1]) }
	case seg[0] == "sandbox" && n == 3 && m == http.MethodPost && seg[2] == "snapshot":
		return "POST /sandbox/{id}/snapshot", func(r *http.Request) answer { return s.snapshotSandbox(r, seg[1]) }
	case seg[0] == "sandbox" && n == 3 && m == http.MethodGet && seg[2] == "toolbox-proxy-url":
		return "GET /sandbox/{id}/toolbox-proxy-url", func(r *http.Request) answer { return s.toolboxProxyURL(r, seg[1]) }
	case seg[0] == "sandbox" && n == 4 && m == http.MethodPost && (seg[2] == "autostop" || seg[2] == "autoarchive" || seg[2] == "autodelete" || seg[2] == "public"):
		return "POST /sandbox/{id}/" + seg[2], func(r *http.Request) answer { return s.setSetting(r, seg[1], seg[2], seg[3]) }
	case seg[0] == "sandbox" && n == 5 && m == http.MethodGet && seg[2] == "ports" && seg[4] == "preview-url":
		return "GET /sandbox/{id}/ports/{port}/preview-url", func(r *http.Request) answer { return s.previewURL(r, seg[1], seg[3]) }
	case seg[0] == "volumes" && n == 1 && m == http.MethodPost:
		return "POST /volumes", s.createVolume
	case seg[0] == "volumes" && n == 1 && m == http.MethodGet:
		return "GET /volumes", s.listVolumes
	case seg[0] == "volumes" && n == 2 && m == http.MethodGet:
		return "GET /volumes/{id}", func(r *http.Request) answer { return s.getVolume(r, seg[1], false) }
	case seg[0] == "volumes" && n == 3 && m == http.MethodGet && seg[1] == "by-name":
		return "GET /volumes/by-name/{name}", func(r *http.Request) answer { return s.getVolume(r, seg[2], true) }
	case seg[0] == "volumes" && n == 2 && m == http.MethodDelete:
		return "DELETE /volumes/{id}", func(r *http.Request) answer { return s.deleteVolume(r, seg[1]) }
	case seg[0] == "snapshots" && n == 1 && m == http.MethodPost:
		return "POST /snapshots", s.createSnapshot
	case seg[0] == "snapshots" && n == 1 && m == http.MethodGet:
		return "GET /snapshots", s.listSnapshots
	case seg[0] == "snapshots" && n >= 2 && m == http.MethodGet:
		name := strings.Join(seg[1:], "/") // snapshot names may hold slashes
		return "GET /snapshots/{id}", func(r *http.Request) answer { return s.getSnapshot(r, name) }
	case seg[0] == "snapshots" && n == 2 && m == http.MethodDelete:
		return "DELETE /snapshots/{id}", func(r *http.Request) answer { return s.deleteSnapshot(r, seg[1]) }
	case seg[0] == "snapshots" && n == 3 && m == http.MethodPost && seg[2] == "activate":
		return "POST /snapshots/{id}/activate", func(r *http.Request) answer { return s.activateSnapshot(r, seg[1]) }
	}
	return m + " /" + strings.Join(seg, "/"), nil
}

func (s *Server) routeToolbox(r *http.Request, id, daemonPath string) (string, func(*http.Request) answer) {
	m := r.Method
	switch {
	case m == http.MethodPost && daemonPath == "process/execute":
		return "POST /toolbox/{id}/process/execute", func(r *http.Request) answer { return s.execute(r, id) }
	case m == http.MethodPost && daemonPath == "files/bulk-upload":
		return "POST /toolbox/{id}/files/bulk-upload", func(r *http.Request) answer { return s.upload(r, id) }
	case m == http.MethodGet && daemonPath == "files/download":
		return "GET /toolbox/{id}/files/download", func(r *http.Request) answer { return s.download(r, id) }
	case m == http.MethodGet && (daemonPath == "user-home-dir" || daemonPath == "work-dir"):
		return "GET /toolbox/{id}/" + daemonPath, func(r *http.Request) answer { return s.homeDir(r, id) }
	}
	return m + " /toolbox/{id}/" + daemonPath, nil
}
