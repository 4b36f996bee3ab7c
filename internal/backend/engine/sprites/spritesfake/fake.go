// Package spritesfake is an in-process fake of the Sprites API (REST, exec WebSocket, filesystem,
// checkpoints, network policy) for tests: an httptest server that enforces the API's rules as the Sprites API
// reference and the official @fly/sprites client (pinned in the engine's contract_test.go) give them, and
// really runs commands.
//
// What it enforces:
//   - Auth: every request, WebSocket upgrades included, needs "Authorization: Bearer <token>"; otherwise 401
//     {"error":"unauthorized","message":...} (the real 401 body is undocumented: this is the fake's choice).
//   - Names: ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$, at most 63 characters (the conservative rule; the API documents
//     none); a taken name is 409 {"error":"sprite_already_exists",...} (the REST reference's 409, not 400).
//   - Bodies: create and update bodies are decoded strictly (unknown fields, wrong types: 400, validation errors
//     in the {"errors":[...]} shape, e.g. "invalid wait_for_capacity parameter"); url_settings.auth is "sprite"
//     or "public"; labels are strings; runtime is "default" or "dev".
//   - Status: "cold" after create; "running" while a command runs and for Options.WarmAfter after any request
//     that needs the VM (exec, filesystem, checkpoint, restore, policy); then "warm"; "cold" after
//     Options.ColdAfter. SetIdle moves a sprite's last activity back.
//   - 404 {"error":"sprite not found"} for unknown sprites, {"error":"checkpoint not found"} for unknown
//     checkpoints, and the filesystem API's {"error","code":"ENOENT","path"} for missing files.
//   - List: prefix, max_results 1-50 (default 50) and an opaque continuation token; Options.MinimalList makes
//     entries {name, org_slug, updated_at} only, as the docs' example shows.
//   - Exec over WebSocket (non-TTY) and over HTTP POST: the argv of the repeated cmd parameters (path defaults
//     to the first), env (replacing the default environment when given), dir (default /home/sprite), stdin
//     frames only with stdin=true, and the exact frames: binary 0x01 stdout / 0x02 stderr (each a separate
//     message, stdout and stderr never mixed), 0x03 with one byte, the exit code (128+N for signal N), after all
//     output; 0x00 stdin and 0x04 stdin EOF from the client; text {"type":"signal","signal":"KILL"} kills the
//     process group. After the exit frame the socket stays open Options.ExecLinger, then closes with 1000.
//     Commands REALLY run on this machine (os/exec), in a per-sprite directory that stands for the sprite's
//     root: the sprite path /home/sprite maps to <root>/<sprite>/rootfs/home/sprite. Only the working directory
//     and filesystem API paths are mapped; absolute paths inside commands are the host's. TTY mode is refused
//     (400).
//   - Filesystem: fs/read, fs/write (mode, mkdirParents), fs/list, fs/delete, confined to the sprite's root
//     (os.Root); path and workingDir are required.
//   - Checkpoints: POST checkpoint answers NDJSON progress (info lines, "  ID: vN", complete
//     "Checkpoint vN created successfully") and copies the sprite's root; ids v0, v1, ...; the list is a JSON
//     array (the checkpoints shuffled, never in creation order: the API documents no order) with the
//     "Current" entry last; restore answers NDJSON and puts the copy back, killing running
//     commands; DELETE of a checkpoint (204, 409 for Current) is modelled although no SDK calls it.
//   - Network policy: GET (default {"rules":[]}) and POST with the in-sprite server's strict validation
//     (exactly one of domain or include; action allow|deny; include only "defaults"); 204, or 400 plain text.
//   - Faults: the fakes' one fault API (Faults, harness.Fault) answers chosen requests with a status and body
//     (429 with the rate-limit fields and headers: RateLimited), a delay or a dropped connection, reports an
//     error inside a 200 NDJSON answer (Extra: StreamError), or drops an exec connection before its exit
//     frame (Extra: DropExec).
//   - Counters: Count("METHOD /route") counts requests by route template, faulted ones included.
package spritesfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// DefaultToken is the token the fake accepts when Options.Token is empty.
const DefaultToken = "fake-org/org-0/tok-0/fake-sprites-secret"

// Options configures the fake.
type Options struct {
	Token   string // the one token accepted; "" = DefaultToken
	OrgID   string // the short org id in sprite URLs; "" = "fake0"
	OrgSlug string // "" = "fake-org"
	// Root holds the sprites' directories; "" = a temporary directory removed by Close.
	Root string
	// WarmAfter is how long a sprite stays running after its last activity; 0 = 30s.
	WarmAfter time.Duration
	// ColdAfter is how long after its last activity a sprite goes cold; 0 = 5m.
	ColdAfter time.Duration
	// ExecLinger is how long an exec socket stays open after the exit frame unless the client closes it; 0 =
	// 5s, as the real server does.
	ExecLinger time.Duration
	// MaxRunAfterDisconnect is how long a command outlives its dropped socket (default 10s; the
	// max_run_after_disconnect parameter overrides it).
	MaxRunAfterDisconnect time.Duration
	// MinimalList makes list entries carry only name, org_slug and updated_at.
	MinimalList bool
}

// StreamError, as a harness.Fault's Extra (with Status 0), makes a checkpoint create or restore answer 200
// with an info line and then an error line with this text, and do nothing.
type StreamError string

// DropExec, as a harness.Fault's Extra (with Status 0), makes an exec run the command and send its output,
// then drop the connection before the exit frame.
type DropExec struct{}

// RateLimited is a 429 fault of route ("" = any) with the API's rate-limit body fields and headers.
func RateLimited(route string, retryAfterSeconds int) harness.Fault {
	body, _ := json.Marshal(map[string]any{
		"error": "sprite_creation_rate_limited", "message": "Too many sprites created",
		"limit": 10, "window_seconds": 60, "retry_after_seconds": retryAfterSeconds, "current_count": 11,
		"upgrade_available": false, "upgrade_url": "https://sprites.dev/account",
	})
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "10")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(time.Duration(retryAfterSeconds)*time.Second).Unix()))
	return harness.Fault{Route: route, Status: http.StatusTooManyRequests, Body: string(body), Header: h, RetryAfter: fmt.Sprint(retryAfterSeconds)}
}

// ExecRecord is one command the fake ran.
type ExecRecord struct {
	Transport string   // "ws" or "http"
	Argv      []string // the cmd parameters
	Path      string
	Dir       string   // the sprite path
	EnvNames  []string // the names of the env parameters, sorted (values are not kept)
	Stdin     bool
	ExitCode  int // -1 when it never exited normally (dropped, failed to start)
	Signaled  bool
}

// CheckpointInfo describes a checkpoint.
type CheckpointInfo struct {
	ID      string
	Comment string
	Created time.Time
}

// Info is a snapshot of a sprite's state.
type Info struct {
	ID          string
	Name        string
	Status      string
	URL         string
	URLAuth     string
	Labels      []string
	Runtime     string
	WaitForCap  *bool
	Policy      []map[string]string
	PolicySet   bool
	Checkpoints []CheckpointInfo
	RootDir     string // the host directory standing for the sprite's "/"
}

// Fake is the fake API server.
type Fake struct {
	opts    Options
	srv     *httptest.Server
	root    string
	ownRoot bool

	mu      sync.Mutex
	sprites map[string]*sprite
	counts  map[string]int
	faults  harness.Set
	closed  bool
}

type sprite struct {
	id, name    string
	labels      []string
	urlAuth     string
	privAccess  string
	runtime     string
	waitForCap  *bool
	created     time.Time
	updated     time.Time
	lastActive  time.Time
	active      int
	dir         string // host dir: rootfs/ and checkpoints/
	checkpoints []*checkpoint
	nextCP      int
	policy      []map[string]string
	policySet   bool
	sessions    map[*session]bool
	execLog     []ExecRecord
}

type checkpoint struct {
	id      string
	comment string
	created time.Time
}

func (s *sprite) rootfs() string { return filepath.Join(s.dir, "rootfs") }

// New starts a fake.
func New(opts Options) (*Fake, error) {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.OrgID == "" {
		opts.OrgID = "fake0"
	}
	if opts.OrgSlug == "" {
		opts.OrgSlug = "fake-org"
	}
	if opts.WarmAfter <= 0 {
		opts.WarmAfter = 30 * time.Second
	}
	if opts.ColdAfter <= 0 {
		opts.ColdAfter = 5 * time.Minute
	}
	if opts.ExecLinger <= 0 {
		opts.ExecLinger = 5 * time.Second
	}
	if opts.MaxRunAfterDisconnect <= 0 {
		opts.MaxRunAfterDisconnect = 10 * time.Second
	}
	f := &Fake{opts: opts, sprites: map[string]*sprite{}, counts: map[string]int{}}
	if opts.Root == "" {
		d, err := os.MkdirTemp("", "spritesfake-")
		if err != nil {
			return nil, fmt.Errorf("spritesfake: %w", err)
		}
		f.root, f.ownRoot = d, true
	} else {
		if err := os.MkdirAll(opts.Root, 0o755); err != nil {
			return nil, fmt.Errorf("spritesfake: %w", err)
		}
		f.root = opts.Root
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f, nil
}

// Start starts a fake for a test and closes it when the test ends.
func Start(t testing.TB, opts Options) *Fake {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// URL is the API base URL.
func (f *Fake) URL() string { return f.srv.URL }

// Token is the accepted token.
func (f *Fake) Token() string { return f.opts.Token }

// Close kills every running command and stops the server.
func (f *Fake) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	var all []*session
	for _, s := range f.sprites {
		for se := range s.sessions {
			all = append(all, se)
		}
	}
	f.mu.Unlock()
	for _, se := range all {
		se.kill("KILL")
	}
	f.srv.CloseClientConnections()
	f.srv.Close()
	if f.ownRoot {
		_ = os.RemoveAll(f.root)
	}
}

// Faults is the fake's fault list: routes are named as Count names them ("POST /v1/sprites",
// "GET /v1/sprites/{name}", "WS /v1/sprites/{name}/exec"). Besides statuses, a fault's Extra may be a
// StreamError (checkpoint, restore) or DropExec (exec).
func (f *Fake) Faults() *harness.Set { return &f.faults }

// Count returns how many requests a route got, e.g. "POST /v1/sprites", "GET /v1/sprites/{name}",
// "WS /v1/sprites/{name}/exec", "POST /v1/sprites/{name}/checkpoint".
func (f *Fake) Count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[route]
}

// Counts returns every route's count.
func (f *Fake) Counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.counts))
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

// Names lists the sprites, sorted.
func (f *Fake) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.sprites))
	for n := range f.sprites {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Sprite returns a snapshot of a sprite.
func (f *Fake) Sprite(name string) (Info, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sprites[name]
	if !ok {
		return Info{}, false
	}
	in := Info{ID: s.id, Name: s.name, Status: f.statusLocked(s), URL: f.spriteURL(s.name), URLAuth: s.urlAuth,
		Labels: append([]string(nil), s.labels...), Runtime: s.runtime, WaitForCap: s.waitForCap,
		PolicySet: s.policySet, RootDir: s.rootfs()}
	for _, r := range s.policy {
		c := map[string]string{}
		for k, v := range r {
			c[k] = v
		}
		in.Policy = append(in.Policy, c)
	}
	for _, cp := range s.checkpoints {
		in.Checkpoints = append(in.Checkpoints, CheckpointInfo{ID: cp.id, Comment: cp.comment, Created: cp.created})
	}
	return in, true
}

// ExecLog returns the commands run in a sprite, oldest first.
func (f *Fake) ExecLog(name string) []ExecRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sprites[name]; ok {
		return append([]ExecRecord(nil), s.execLog...)
	}
	return nil
}

// SetIdle makes a sprite look idle for d (its last activity moves d back), so that its status becomes warm
// or cold.
func (f *Fake) SetIdle(name string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sprites[name]; ok {
		s.lastActive = time.Now().Add(-d)
	}
}

func (f *Fake) spriteURL(name string) string {
	return "https://" + name + "-" + f.opts.OrgID + ".sprites.app"
}

func (f *Fake) statusLocked(s *sprite) string {
	if s.active > 0 {
		return "running"
	}
	if s.lastActive.IsZero() {
		return "cold"
	}
	idle := time.Since(s.lastActive)
	switch {
	case idle < f.opts.WarmAfter:
		return "running"
	case idle < f.opts.ColdAfter:
		return "warm"
	}
	return "cold"
}

// touch records activity that needs the VM.
func (f *Fake) touch(s *sprite) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.lastActive = time.Now()
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func validName(n string) bool { return len(n) <= 63 && nameRE.MatchString(n) }

// writeJSON answers a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	body := map[string]any{"error": code}
	if msg != "" {
		body["message"] = msg
	}
	writeJSON(w, status, body)
}

func validationError(w http.ResponseWriter, msgs ...string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"errors": msgs})
}

// segments splits an escaped path into unescaped segments.
func segments(r *http.Request) []string {
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	return parts
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// routeOf names a request's route template.
func routeOf(r *http.Request) string {
	seg := segments(r)
	method := r.Method
	if isUpgrade(r) {
		method = "WS"
	}
	if len(seg) < 2 || seg[0] != "v1" || seg[1] != "sprites" {
		return method + " " + r.URL.Path
	}
	tpl := []string{"", "v1", "sprites"}
	if len(seg) > 2 {
		tpl = append(tpl, "{name}")
	}
	if len(seg) > 3 {
		tpl = append(tpl, seg[3])
	}
	if len(seg) > 4 {
		switch seg[3] {
		case "checkpoints":
			tpl = append(tpl, "{id}")
		default:
			tpl = append(tpl, seg[4])
		}
	}
	if len(seg) > 5 {
		tpl = append(tpl, seg[5:]...)
	}
	return method + " " + strings.Join(tpl, "/")
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	route := routeOf(r)
	f.mu.Lock()
	f.counts[route]++
	f.mu.Unlock()
	fault := f.faults.Take(route, r)
	fault.Serve(w, r, nil, func(w http.ResponseWriter, r *http.Request) { f.serveRequest(w, r, fault) }, writeFault)
}

// writeFault answers a fault's status with a JSON error naming it.
func writeFault(w http.ResponseWriter, _ *http.Request, fault *harness.Fault) {
	code, msg := fault.Code, fault.Message
	if code == "" {
		code = strings.ToLower(strings.ReplaceAll(http.StatusText(fault.Status), " ", "_"))
	}
	if msg == "" {
		msg = "injected fault"
	}
	apiError(w, fault.Status, code, msg)
}

// serveRequest answers a request that no status fault replaced.
func (f *Fake) serveRequest(w http.ResponseWriter, r *http.Request, fault *harness.Fault) {
	if r.Header.Get("Authorization") != "Bearer "+f.opts.Token {
		apiError(w, http.StatusUnauthorized, "unauthorized", "invalid or missing API token")
		return
	}
	seg := segments(r)
	if len(seg) < 2 || seg[0] != "v1" || seg[1] != "sprites" {
		apiError(w, http.StatusNotFound, "not found", "")
		return
	}
	if len(seg) == 2 {
		switch r.Method {
		case http.MethodPost:
			f.handleCreate(w, r)
		case http.MethodGet:
			f.handleList(w, r)
		default:
			apiError(w, http.StatusMethodNotAllowed, "method not allowed", "")
		}
		return
	}
	name := seg[2]
	f.mu.Lock()
	s := f.sprites[name]
	f.mu.Unlock()
	if s == nil {
		apiError(w, http.StatusNotFound, "sprite not found", "")
		return
	}
	rest := seg[3:]
	switch {
	case len(rest) == 0:
		switch r.Method {
		case http.MethodGet:
			f.mu.Lock()
			doc := f.spriteDocLocked(s)
			f.mu.Unlock()
			writeJSON(w, http.StatusOK, doc)
		case http.MethodPut:
			f.handleUpdate(w, r, s)
		case http.MethodDelete:
			f.handleDelete(w, s)
		default:
			apiError(w, http.StatusMethodNotAllowed, "method not allowed", "")
		}
	case rest[0] == "exec" && len(rest) == 1:
		switch {
		case r.Method == http.MethodGet && isUpgrade(r):
			f.handleExecWS(w, r, s, fault)
		case r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]any{"sessions": []any{}, "count": 0})
		case r.Method == http.MethodPost:
			f.handleExecHTTP(w, r, s, fault)
		default:
			apiError(w, http.StatusMethodNotAllowed, "method not allowed", "")
		}
	case rest[0] == "fs" && len(rest) == 2:
		f.handleFS(w, r, s, rest[1])
	case rest[0] == "checkpoint" && len(rest) == 1 && r.Method == http.MethodPost:
		f.handleCheckpoint(w, r, s, fault)
	case rest[0] == "checkpoints" && len(rest) == 1 && r.Method == http.MethodGet:
		f.handleListCheckpoints(w, s)
	case rest[0] == "checkpoints" && len(rest) == 2:
		f.handleOneCheckpoint(w, r, s, rest[1])
	case rest[0] == "checkpoints" && len(rest) == 3 && rest[2] == "restore" && r.Method == http.MethodPost:
		f.handleRestore(w, s, rest[1], fault)
	case rest[0] == "policy" && len(rest) == 2 && rest[1] == "network":
		f.handlePolicy(w, r, s)
	default:
		apiError(w, http.StatusNotFound, "not found", "")
	}
}
