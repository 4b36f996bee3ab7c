package vercelfake

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// Session statuses, as the API names them.
const (
	statusPending      = "pending"
	statusRunning      = "running"
	statusStopping     = "stopping"
	statusStopped      = "stopped"
	statusFailed       = "failed"
	statusAborted      = "aborted"
	statusSnapshotting = "snapshotting"
)

// sessionCwd is a session's default working directory, its home.
const sessionCwd = "/vercel/sandbox"

const defaultSnapshotExpiration = 30 * 24 * time.Hour

type route struct {
	URL       string `json:"url"`
	Subdomain string `json:"subdomain"`
	Port      int    `json:"port"`
}

type keepLast struct {
	Count         int    `json:"count"`
	Expiration    *int64 `json:"expiration,omitempty"`
	DeleteEvicted *bool  `json:"deleteEvicted,omitempty"`
}

type sandbox struct {
	name           string
	persistent     bool
	runtime        string
	image          string
	vcpus          int
	timeout        int64 // ms, default per-session timeout
	routes         []route
	env            map[string]string
	tags           map[string]string
	policy         json.RawMessage // as sent; nil = the API's default (allow-all)
	source         *sourceBody
	snapshotExp    *int64
	keep           *keepLast
	createdAt      int64
	updatedAt      int64
	statusUpdated  int64
	currentSession string
	currentSnap    string
}

type session struct {
	id              string
	sandbox         string
	status          string
	vcpus           int
	runtime         string
	timeout         int64
	requestedAt     int64
	createdAt       int64
	updatedAt       int64
	startedAt       int64
	requestedStopAt int64
	stoppedAt       int64
	snapshottedAt   int64
	sourceSnapshot  string
	policy          json.RawMessage
	root            string // host directory standing for the VM's "/"
	cmds            map[string]*command
	cmdOrder        []string
	timer           *time.Timer
	changed         chan struct{} // closed and replaced at every status change
	stopCause       string
}

type snapshot struct {
	id            string
	sandbox       string
	sourceSession string
	status        string // created, deleted, failed
	sizeBytes     int64
	createdAt     int64
	updatedAt     int64
	lastUsedAt    int64
	expiration    int64 // ms; 0 = never
	expiresAt     int64 // 0 = never
	method        string
	parent        string
	dir           string
}

func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func randomSubdomain() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "sb-" + string(b)
}

// setStatus changes a session's status and wakes its waiters. f.mu is held.
func (s *session) setStatus(st string) {
	s.status = st
	s.updatedAt = nowMs()
	close(s.changed)
	s.changed = make(chan struct{})
}

func terminal(st string) bool {
	return st == statusStopped || st == statusFailed || st == statusAborted
}

// waitSession waits until cond holds for the session's status, or ctx ends. f.mu is held on entry and exit.
func (f *Fake) waitSession(ctx context.Context, s *session, cond func(string) bool) error {
	for !cond(s.status) {
		ch := s.changed
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			f.mu.Lock()
			return errf(http.StatusGatewayTimeout, "timeout", "the session is still %s", s.status)
		case <-ch:
		}
		f.mu.Lock()
	}
	return nil
}

// runnable waits for a pending session to run and refuses sessions that cannot run commands. f.mu is held.
func (f *Fake) runnable(ctx context.Context, s *session) error {
	if s.status == statusPending {
		if err := f.waitSession(ctx, s, func(st string) bool { return st != statusPending }); err != nil {
			return err
		}
	}
	switch s.status {
	case statusRunning:
		return nil
	case statusStopping:
		return errf(http.StatusUnprocessableEntity, "sandbox_stopping", "The sandbox is stopping.")
	case statusSnapshotting:
		return errf(http.StatusUnprocessableEntity, "sandbox_snapshotting", "The sandbox is being snapshotted.")
	}
	return errf(http.StatusGone, "sandbox_stopped", "The sandbox is stopped.")
}

// sessionFor finds a session by id; sessions of deleted sandboxes are gone. f.mu is held.
func (f *Fake) sessionFor(id string) (*session, error) {
	s := f.sessions[id]
	if s == nil || f.sandboxes[s.sandbox] == nil {
		return nil, errf(http.StatusNotFound, "not_found", "Vercel Sandbox not found.")
	}
	return s, nil
}

// startSession makes a new pending session of a sandbox, filled from a snapshot or the sandbox's source, and
// schedules its boot. f.mu is held.
func (f *Fake) startSession(sb *sandbox, fromSnapshot string) error {
	now := nowMs()
	s := &session{
		id:          newID("sbx_"),
		sandbox:     sb.name,
		status:      statusPending,
		vcpus:       sb.vcpus,
		runtime:     sb.runtime,
		timeout:     sb.timeout,
		requestedAt: now,
		createdAt:   now,
		updatedAt:   now,
		policy:      sb.policy,
		cmds:        map[string]*command{},
		changed:     make(chan struct{}),
	}
	s.root = filepath.Join(f.dir, "sessions", s.id)
	if fromSnapshot != "" {
		sn := f.snapshots[fromSnapshot]
		if sn == nil || !f.alive(sn) {
			return errf(http.StatusNotFound, "not_found", "Snapshot not found.")
		}
		if err := harness.CopyTree(sn.dir, s.root, true); err != nil {
			return err
		}
		sn.lastUsedAt = now
		if sn.expiration > 0 {
			sn.expiresAt = now + sn.expiration // snapshots expire from their last use
		}
		s.sourceSnapshot = sn.id
	} else if err := os.MkdirAll(s.root, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(s.root, filepath.FromSlash(sessionCwd)), 0o755); err != nil {
		return err
	}
	f.sessions[s.id] = s
	sb.currentSession = s.id
	sb.statusUpdated = now
	src := sb.source
	if fromSnapshot != "" {
		src = nil
	}
	delay := f.cfg.BootDelay
	if delay < 0 {
		return nil // never leaves pending
	}
	go f.boot(s, src, delay)
	return nil
}

// boot fetches the source (outside the lock) and moves the session to running.
func (f *Fake) boot(s *session, src *sourceBody, delay time.Duration) {
	time.Sleep(delay)
	var srcErr error
	if src != nil && src.Type != "snapshot" {
		srcErr = fetchSource(src, filepath.Join(s.root, filepath.FromSlash(sessionCwd)))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.status != statusPending || f.closed {
		return
	}
	if srcErr != nil {
		s.stopCause = "source: " + srcErr.Error()
		s.stoppedAt = nowMs()
		s.setStatus(statusFailed)
		return
	}
	s.startedAt = nowMs()
	s.setStatus(statusRunning)
	f.armTimeout(s)
}

// armTimeout stops the session when its timeout (counted from its start) passes. f.mu is held.
func (f *Fake) armTimeout(s *session) {
	if s.timer != nil {
		s.timer.Stop()
	}
	left := time.Duration(s.startedAt+s.timeout-nowMs()) * time.Millisecond
	if left < 0 {
		left = 0
	}
	s.timer = time.AfterFunc(left, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if s.status == statusRunning && nowMs() >= s.startedAt+s.timeout {
			f.stopSession(s, "timeout")
		}
	})
}

// stopSession stops a session: its commands are killed, a persistent sandbox snapshots its tree, and the session
// is stopping until StopDelay has passed. f.mu is held.
func (f *Fake) stopSession(s *session, cause string) *snapshot {
	if s.status != statusPending && s.status != statusRunning {
		return nil
	}
	s.killAll(true)
	if s.timer != nil {
		s.timer.Stop()
	}
	now := nowMs()
	s.requestedStopAt = now
	s.stopCause = cause
	s.setStatus(statusStopping)
	var snap *snapshot
	if sb := f.sandboxes[s.sandbox]; sb != nil && sb.persistent && cause != "delete" {
		snap = f.takeSnapshot(sb, s, "automatic", nil)
	}
	time.AfterFunc(f.cfg.StopDelay, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if s.status == statusStopping {
			s.stoppedAt = nowMs()
			s.setStatus(statusStopped)
			_ = os.RemoveAll(s.root)
		}
	})
	return snap
}

// takeSnapshot copies a session's tree into a new snapshot that becomes the sandbox's current one. f.mu is held.
func (f *Fake) takeSnapshot(sb *sandbox, s *session, method string, expiration *int64) *snapshot {
	now := nowMs()
	sn := &snapshot{
		id:            newID("snap_"),
		sandbox:       sb.name,
		sourceSession: s.id,
		status:        "created",
		createdAt:     now,
		updatedAt:     now,
		lastUsedAt:    now,
		method:        method,
		parent:        s.sourceSnapshot,
	}
	sn.dir = filepath.Join(f.dir, "snapshots", sn.id)
	switch {
	case expiration != nil:
		sn.expiration = *expiration
	case method == "automatic" && sb.keep != nil && sb.keep.Expiration != nil:
		sn.expiration = *sb.keep.Expiration
	case sb.snapshotExp != nil:
		sn.expiration = *sb.snapshotExp
	default:
		sn.expiration = defaultSnapshotExpiration.Milliseconds()
	}
	if sn.expiration > 0 {
		sn.expiresAt = now + sn.expiration
	}
	if err := harness.CopyTree(s.root, sn.dir, true); err != nil {
		sn.status = "failed"
	}
	sn.sizeBytes = treeSize(sn.dir)
	f.snapshots[sn.id] = sn
	if sn.status == "created" {
		sb.currentSnap = sn.id
	}
	if method == "automatic" && sb.keep != nil {
		f.evict(sb)
	}
	return sn
}

// evict applies keepLastSnapshots after a new automatic snapshot. f.mu is held.
func (f *Fake) evict(sb *sandbox) {
	var mine []*snapshot
	for _, sn := range f.snapshots {
		if sn.sandbox == sb.name && f.alive(sn) {
			mine = append(mine, sn)
		}
	}
	sort.Slice(mine, func(i, j int) bool {
		return mine[i].createdAt > mine[j].createdAt || (mine[i].createdAt == mine[j].createdAt && mine[i].id > mine[j].id)
	})
	for i, sn := range mine {
		if i < sb.keep.Count || sn.id == sb.currentSnap {
			continue
		}
		if sb.keep.DeleteEvicted == nil || *sb.keep.DeleteEvicted {
			f.deleteSnap(sn)
		}
	}
}

// alive reports whether a snapshot can be used; an expired one is deleted on the way. f.mu is held.
func (f *Fake) alive(sn *snapshot) bool {
	if sn.status == "created" && sn.expiresAt > 0 && nowMs() >= sn.expiresAt {
		f.expire(sn)
	}
	return sn.status == "created"
}

func (f *Fake) expire(sn *snapshot) { f.deleteSnap(sn) }

func (f *Fake) deleteSnap(sn *snapshot) {
	sn.status = "deleted"
	sn.updatedAt = nowMs()
	_ = os.RemoveAll(sn.dir)
}

// ---- JSON views -------------------------------------------------------------------------------------------

type sessionView struct {
	ID                string `json:"id"`
	Memory            int    `json:"memory"`
	VCPUs             int    `json:"vcpus"`
	Region            string `json:"region"`
	Runtime           string `json:"runtime,omitempty"`
	Timeout           int64  `json:"timeout"`
	Status            string `json:"status"`
	RequestedAt       int64  `json:"requestedAt"`
	StartedAt         int64  `json:"startedAt,omitempty"`
	RequestedStopAt   int64  `json:"requestedStopAt,omitempty"`
	StoppedAt         int64  `json:"stoppedAt,omitempty"`
	Duration          int64  `json:"duration,omitempty"`
	SourceSnapshotID  string `json:"sourceSnapshotId,omitempty"`
	SnapshottedAt     int64  `json:"snapshottedAt,omitempty"`
	CreatedAt         int64  `json:"createdAt"`
	Cwd               string `json:"cwd"`
	UpdatedAt         int64  `json:"updatedAt"`
	NetworkPolicy     any    `json:"networkPolicy,omitempty"`
	ProjectID         string `json:"projectId"`
	SourceSandboxName string `json:"sourceSandboxName"`
}

func (f *Fake) sessionView(s *session) sessionView {
	v := sessionView{
		ID: s.id, Memory: s.vcpus * 2048, VCPUs: s.vcpus, Region: "iad1", Runtime: s.runtime, Timeout: s.timeout,
		Status: s.status, RequestedAt: s.requestedAt, StartedAt: s.startedAt, RequestedStopAt: s.requestedStopAt,
		StoppedAt: s.stoppedAt, SourceSnapshotID: s.sourceSnapshot, SnapshottedAt: s.snapshottedAt,
		CreatedAt: s.createdAt, Cwd: sessionCwd, UpdatedAt: s.updatedAt, ProjectID: f.cfg.ProjectID,
		SourceSandboxName: s.sandbox,
	}
	if s.stoppedAt > 0 && s.startedAt > 0 {
		v.Duration = s.stoppedAt - s.startedAt
	}
	if s.policy != nil {
		v.NetworkPolicy = redactPolicy(s.policy)
	}
	return v
}

type sandboxView struct {
	Name               string            `json:"name"`
	Persistent         bool              `json:"persistent"`
	Region             string            `json:"region"`
	VCPUs              int               `json:"vcpus"`
	Memory             int               `json:"memory"`
	Runtime            string            `json:"runtime,omitempty"`
	Image              string            `json:"image,omitempty"`
	Timeout            int64             `json:"timeout"`
	NetworkPolicy      any               `json:"networkPolicy,omitempty"`
	CreatedAt          int64             `json:"createdAt"`
	UpdatedAt          int64             `json:"updatedAt"`
	ExpiresAt          int64             `json:"expiresAt,omitempty"`
	CurrentSessionID   string            `json:"currentSessionId"`
	CurrentSnapshotID  string            `json:"currentSnapshotId,omitempty"`
	Status             string            `json:"status"`
	StatusUpdatedAt    int64             `json:"statusUpdatedAt"`
	Cwd                string            `json:"cwd"`
	Tags               map[string]string `json:"tags,omitempty"`
	SnapshotExpiration *int64            `json:"snapshotExpiration,omitempty"`
	KeepLastSnapshots  *keepLast         `json:"keepLastSnapshots,omitempty"`
}

func (f *Fake) sandboxView(sb *sandbox) sandboxView {
	v := sandboxView{
		Name: sb.name, Persistent: sb.persistent, Region: "iad1", VCPUs: sb.vcpus, Memory: sb.vcpus * 2048,
		Runtime: sb.runtime, Image: sb.image, Timeout: sb.timeout, CreatedAt: sb.createdAt, UpdatedAt: sb.updatedAt,
		CurrentSessionID: sb.currentSession, Status: statusStopped, StatusUpdatedAt: sb.statusUpdated, Cwd: sessionCwd,
		Tags: sb.tags, SnapshotExpiration: sb.snapshotExp, KeepLastSnapshots: sb.keep,
	}
	if sb.currentSnap != "" {
		if sn := f.snapshots[sb.currentSnap]; sn != nil && sn.status == "created" {
			v.CurrentSnapshotID = sn.id
		}
	}
	if s := f.sessions[sb.currentSession]; s != nil {
		v.Status = s.status
		if s.status == statusRunning {
			v.ExpiresAt = s.startedAt + s.timeout
		}
	}
	if sb.policy != nil {
		v.NetworkPolicy = redactPolicy(sb.policy)
	}
	return v
}

type snapshotView struct {
	ID              string `json:"id"`
	SourceSessionID string `json:"sourceSessionId"`
	Region          string `json:"region"`
	Status          string `json:"status"`
	SizeBytes       int64  `json:"sizeBytes"`
	ExpiresAt       int64  `json:"expiresAt,omitempty"`
	CreatedAt       int64  `json:"createdAt"`
	UpdatedAt       int64  `json:"updatedAt"`
	LastUsedAt      int64  `json:"lastUsedAt"`
	CreationMethod  string `json:"creationMethod,omitempty"`
	ParentID        string `json:"parentId,omitempty"`
}

func snapView(sn *snapshot) snapshotView {
	return snapshotView{
		ID: sn.id, SourceSessionID: sn.sourceSession, Region: "iad1", Status: sn.status, SizeBytes: sn.sizeBytes,
		ExpiresAt: sn.expiresAt, CreatedAt: sn.createdAt, UpdatedAt: sn.updatedAt, LastUsedAt: sn.lastUsedAt,
		CreationMethod: sn.method, ParentID: sn.parent,
	}
}

// sandboxAndSession is the answer of create and get. f.mu is held.
func (f *Fake) sandboxAndSession(sb *sandbox, resumed bool) map[string]any {
	out := map[string]any{
		"sandbox": f.sandboxView(sb),
		"routes":  routesOrEmpty(sb.routes),
	}
	if s := f.sessions[sb.currentSession]; s != nil {
		out["session"] = f.sessionView(s)
	}
	if resumed {
		out["resumed"] = true
	}
	return out
}

func routesOrEmpty(r []route) []route {
	if r == nil {
		return []route{}
	}
	return r
}

// ---- named sandboxes --------------------------------------------------------------------------------------

type resourcesBody struct {
	VCPUs  *int `json:"vcpus,omitempty"`
	Memory *int `json:"memory,omitempty"`
}

type sourceBody struct {
	Type       string `json:"type"`
	URL        string `json:"url,omitempty"`
	Depth      *int   `json:"depth,omitempty"`
	Revision   string `json:"revision,omitempty"`
	Username   string `json:"username,omitempty"`
	Password   string `json:"password,omitempty"`
	SnapshotID string `json:"snapshotId,omitempty"`
}

type createBody struct {
	ProjectID          *string           `json:"projectId"`
	Name               *string           `json:"name"`
	Runtime            *string           `json:"runtime"`
	Image              *string           `json:"image"`
	Source             *sourceBody       `json:"source"`
	Ports              []int             `json:"ports"`
	Timeout            *int64            `json:"timeout"`
	Resources          *resourcesBody    `json:"resources"`
	Persistent         *bool             `json:"persistent"`
	Env                map[string]string `json:"env"`
	Tags               map[string]string `json:"tags"`
	NetworkPolicy      json.RawMessage   `json:"networkPolicy"`
	NetworkID          *string           `json:"networkId"`
	Region             *string           `json:"region"`
	FailoverRegions    []string          `json:"failoverRegions"`
	SnapshotExpiration *int64            `json:"snapshotExpiration"`
	KeepLastSnapshots  *keepLast         `json:"keepLastSnapshots"`
	Mounts             map[string]any    `json:"mounts"`
}

var (
	nameRE     = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	tagKeyRE   = regexp.MustCompile(`^[a-zA-Z0-9_.:-]{1,64}$`)
	runtimes   = []string{"node22", "node24", "node26", "python3.13"}
	minSnapExp = int64(24 * time.Hour / time.Millisecond)
)

func (f *Fake) checkProject(got string, field string) error {
	if got == "" {
		return badRequest("`%s` is required.", field)
	}
	if got != f.cfg.ProjectID {
		return errf(http.StatusNotFound, "not_found", "Project not found.")
	}
	return nil
}

func (f *Fake) createSandbox(w http.ResponseWriter, r *http.Request) {
	v3 := strings.HasPrefix(r.URL.Path, "/v3/")
	var body createBody
	if err := decodeBody(r, &body, false); err != nil {
		writeErr(w, err)
		return
	}
	proj := ""
	if body.ProjectID != nil {
		proj = *body.ProjectID
	}
	if err := f.checkProject(proj, "projectId"); err != nil {
		writeErr(w, err)
		return
	}
	sb, err := f.validateCreate(&body, v3)
	if err != nil {
		writeErr(w, err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, taken := f.sandboxes[sb.name]; taken {
		writeError(w, http.StatusConflict, "conflict", "A sandbox named "+strconv.Quote(sb.name)+" already exists in this project.", nil)
		return
	}
	fromSnap := ""
	if sb.source != nil && sb.source.Type == "snapshot" {
		fromSnap = sb.source.SnapshotID
		if sn := f.snapshots[fromSnap]; sn == nil || !f.alive(sn) {
			writeError(w, http.StatusNotFound, "not_found", "Snapshot not found.", nil)
			return
		}
	}
	f.sandboxes[sb.name] = sb
	if err := f.startSession(sb, fromSnap); err != nil {
		delete(f.sandboxes, sb.name)
		writeErr(w, err)
		return
	}
	if sb.policy != nil {
		f.policies = append(f.policies, PolicyRecord{Sandbox: sb.name, Via: "create", Body: sb.policy})
	}
	writeJSON(w, http.StatusOK, f.sandboxAndSession(sb, false))
}

func (f *Fake) validateCreate(b *createBody, v3 bool) (*sandbox, error) {
	now := nowMs()
	sb := &sandbox{persistent: true, vcpus: 2, timeout: 300000, createdAt: now, updatedAt: now, statusUpdated: now}
	if b.Name != nil {
		sb.name = *b.Name
		if !nameRE.MatchString(sb.name) || len(sb.name) > 128 {
			return nil, badRequest("`name` should match pattern \"^[a-zA-Z0-9_-]+$\" and have at most 128 characters.")
		}
	} else {
		sb.name = newID("sandbox-")
	}
	if b.Runtime != nil {
		if v3 {
			return nil, badRequest("should NOT have additional property `runtime`.")
		}
		if !contains(runtimes, *b.Runtime) {
			return nil, badRequest("`runtime` should be equal to one of the allowed values: %s.", strings.Join(runtimes, ", "))
		}
		sb.runtime = *b.Runtime
	}
	if b.Image != nil {
		if !v3 {
			return nil, badRequest("should NOT have additional property `image`.")
		}
		if *b.Image == "" {
			return nil, badRequest("`image` must not be empty.")
		}
		sb.image = *b.Image
	}
	if v3 && b.Image == nil && (b.Source == nil || b.Source.Type != "snapshot") {
		sb.image = "vercel/sandbox/universal@sha256:" + strings.Repeat("0", 64)
	}
	if b.Source != nil {
		if err := validateSource(b.Source); err != nil {
			return nil, err
		}
		if b.Source.Type == "snapshot" && (b.Runtime != nil || b.Image != nil) {
			return nil, badRequest("`runtime` and `image` cannot be used with a snapshot source: they come from the snapshot.")
		}
		sb.source = b.Source
	}
	if err := validatePorts(b.Ports); err != nil {
		return nil, err
	}
	sb.routes = makeRoutes(nil, b.Ports)
	if b.Timeout != nil {
		if err := f.validateTimeout(*b.Timeout); err != nil {
			return nil, err
		}
		sb.timeout = *b.Timeout
	}
	if b.Resources != nil {
		v, err := f.validateResources(b.Resources)
		if err != nil {
			return nil, err
		}
		sb.vcpus = v
	}
	if b.Persistent != nil {
		sb.persistent = *b.Persistent
	}
	if err := validateEnv(b.Env); err != nil {
		return nil, err
	}
	sb.env = copyStrings(b.Env)
	if err := validateTags(b.Tags); err != nil {
		return nil, err
	}
	sb.tags = copyStrings(b.Tags)
	if len(sb.tags) == 0 {
		sb.tags = nil
	}
	if len(b.NetworkPolicy) > 0 && string(b.NetworkPolicy) != "null" {
		if err := validatePolicy(b.NetworkPolicy); err != nil {
			return nil, err
		}
		sb.policy = append(json.RawMessage(nil), b.NetworkPolicy...)
	}
	if b.NetworkID != nil || b.Mounts != nil {
		return nil, errf(http.StatusForbidden, "forbidden", "Secure Compute networks and drives are not available for this team.")
	}
	if b.Region != nil && *b.Region != "iad1" {
		return nil, badRequest("`region` %q is not available.", *b.Region)
	}
	if b.SnapshotExpiration != nil {
		if err := validateSnapExp("snapshotExpiration", *b.SnapshotExpiration); err != nil {
			return nil, err
		}
		v := *b.SnapshotExpiration
		sb.snapshotExp = &v
	}
	if b.KeepLastSnapshots != nil {
		if err := validateKeep(b.KeepLastSnapshots); err != nil {
			return nil, err
		}
		sb.keep = b.KeepLastSnapshots
	}
	return sb, nil
}

func validateSource(s *sourceBody) error {
	switch s.Type {
	case "git":
		if s.URL == "" {
			return badRequest("`source.url` is required for a git source.")
		}
		if s.Depth != nil && *s.Depth < 1 {
			return badRequest("`source.depth` should be >= 1.")
		}
		if s.SnapshotID != "" {
			return badRequest("`source.snapshotId` is not allowed for a git source.")
		}
		if s.Password != "" && s.Username == "" {
			return badRequest("`source.username` is required with `source.password`.")
		}
	case "tarball":
		if s.URL == "" {
			return badRequest("`source.url` is required for a tarball source.")
		}
		if s.Depth != nil || s.Revision != "" || s.Username != "" || s.Password != "" || s.SnapshotID != "" {
			return badRequest("a tarball source takes only `url`.")
		}
	case "snapshot":
		if s.SnapshotID == "" {
			return badRequest("`source.snapshotId` is required for a snapshot source.")
		}
		if s.URL != "" || s.Depth != nil || s.Revision != "" || s.Username != "" || s.Password != "" {
			return badRequest("a snapshot source takes only `snapshotId`.")
		}
	default:
		return badRequest("`source.type` should be equal to one of the allowed values: git, tarball, snapshot.")
	}
	return nil
}

func validatePorts(ports []int) error {
	if len(ports) > 15 {
		return badRequest("`ports` should NOT have more than 15 items.")
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < 1024 || p > 65535 {
			return badRequest("`ports` items should be >= 1024 and <= 65535, got %d.", p)
		}
		if seen[p] {
			return badRequest("`ports` should NOT have duplicate items (%d).", p)
		}
		seen[p] = true
	}
	return nil
}

// makeRoutes keeps the routes of ports that stay and makes new ones for the others.
func makeRoutes(old []route, ports []int) []route {
	var out []route
	for _, p := range ports {
		var r *route
		for i := range old {
			if old[i].Port == p {
				r = &old[i]
			}
		}
		if r == nil {
			sub := randomSubdomain()
			r = &route{URL: "https://" + sub + ".vercel.run", Subdomain: sub, Port: p}
		}
		out = append(out, *r)
	}
	return out
}

func (f *Fake) validateTimeout(ms int64) error {
	if ms < 1000 {
		return badRequest("`timeout` should be >= 1000.")
	}
	if ms > f.cfg.MaxTimeout.Milliseconds() {
		return badRequest("`timeout` should be <= %d (the maximum of your plan).", f.cfg.MaxTimeout.Milliseconds())
	}
	return nil
}

func (f *Fake) validateResources(r *resourcesBody) (int, error) {
	if r.VCPUs == nil {
		return 0, badRequest("`resources.vcpus` is required.")
	}
	v := *r.VCPUs
	if v < 1 || (v != 1 && v%2 != 0) {
		return 0, badRequest("`resources.vcpus` must be 1 or an even number, got %d.", v)
	}
	if v > f.cfg.MaxVCPUs {
		return 0, badRequest("`resources.vcpus` should be <= %d (the maximum of your plan).", f.cfg.MaxVCPUs)
	}
	if r.Memory != nil && *r.Memory != v*2048 {
		return 0, badRequest("`resources.memory` must equal vcpus * 2048 (%d).", v*2048)
	}
	return v, nil
}

func validateEnv(env map[string]string) error {
	for k := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return badRequest("`env` has an invalid variable name.")
		}
	}
	return nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > 5 {
		return badRequest("`tags` should NOT have more than 5 properties.")
	}
	for k, v := range tags {
		if !tagKeyRE.MatchString(k) {
			return badRequest("`tags` key %q is invalid.", k)
		}
		if len(v) > 256 {
			return badRequest("`tags` values should NOT be longer than 256 characters.")
		}
	}
	return nil
}

func validateSnapExp(field string, v int64) error {
	if v != 0 && v < minSnapExp {
		return badRequest("`%s` should be 0 (never) or at least %d (one day).", field, minSnapExp)
	}
	return nil
}

func validateKeep(k *keepLast) error {
	if k.Count < 1 || k.Count > 10 {
		return badRequest("`keepLastSnapshots.count` should be between 1 and 10.")
	}
	if k.Expiration != nil {
		return validateSnapExp("keepLastSnapshots.expiration", *k.Expiration)
	}
	return nil
}

func (f *Fake) getSandbox(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := f.checkProject(q.Get("projectId"), "projectId"); err != nil {
		writeErr(w, err)
		return
	}
	resume := false
	switch q.Get("resume") {
	case "", "false":
	case "true":
		resume = true
	default:
		writeErr(w, badRequest("`resume` should be a boolean."))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if resume {
		f.resumes++
	}
	sb := f.sandboxes[r.PathValue("name")]
	if sb == nil {
		writeError(w, http.StatusNotFound, "not_found", "Vercel Sandbox not found.", nil)
		return
	}
	s := f.sessions[sb.currentSession]
	if resume && (s.status == statusStopping || s.status == statusSnapshotting) {
		if err := f.waitSession(r.Context(), s, terminal); err != nil {
			writeErr(w, err)
			return
		}
	}
	if terminal(s.status) && sb.persistent && sb.currentSnap != "" {
		if sn := f.snapshots[sb.currentSnap]; sn == nil || !f.alive(sn) {
			writeError(w, http.StatusGone, "snapshot_not_found", "The snapshot of this sandbox does not exist anymore.", nil)
			return
		}
	}
	resumed := false
	if resume && terminal(s.status) {
		from := ""
		if sb.persistent && sb.currentSnap != "" {
			from = sb.currentSnap
		} else if sb.source != nil && sb.source.Type == "snapshot" {
			from = sb.source.SnapshotID
		}
		if err := f.startSession(sb, from); err != nil {
			var ae *apiError
			if from != "" && errors.As(err, &ae) && ae.status == http.StatusNotFound {
				writeError(w, http.StatusGone, "snapshot_not_found", "The snapshot of this sandbox does not exist anymore.", nil)
				return
			}
			writeErr(w, err)
			return
		}
		resumed = true
	}
	writeJSON(w, http.StatusOK, f.sandboxAndSession(sb, resumed))
}

func (f *Fake) listSandboxes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := f.checkProject(q.Get("project"), "project"); err != nil {
		writeErr(w, err)
		return
	}
	limit, offset, err := pageParams(q)
	if err != nil {
		writeErr(w, err)
		return
	}
	sortBy := q.Get("sortBy")
	if sortBy == "" {
		sortBy = "createdAt"
	}
	if !contains([]string{"createdAt", "name", "statusUpdatedAt", "currentSnapshotId"}, sortBy) {
		writeErr(w, badRequest("`sortBy` should be one of createdAt, name, statusUpdatedAt, currentSnapshotId."))
		return
	}
	prefix := q.Get("namePrefix")
	if prefix != "" && sortBy != "name" {
		writeErr(w, badRequest("`namePrefix` can only be used with sortBy=name."))
		return
	}
	status := q.Get("status")
	if status != "" && sortBy != "createdAt" {
		writeErr(w, badRequest("`status` can only be used with sortBy=createdAt."))
		return
	}
	var tagK, tagV string
	if t := q["tags"]; len(t) > 0 {
		if len(t) > 1 {
			writeErr(w, badRequest("filtering by more than one tag is not supported."))
			return
		}
		var ok bool
		if tagK, tagV, ok = strings.Cut(t[0], ":"); !ok {
			writeErr(w, badRequest("`tags` should be key:value."))
			return
		}
	}
	desc := q.Get("sortOrder") != "asc"
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []sandboxView
	for _, sb := range f.sandboxes {
		if prefix != "" && !strings.HasPrefix(sb.name, prefix) {
			continue
		}
		if tagK != "" && sb.tags[tagK] != tagV {
			continue
		}
		v := f.sandboxView(sb)
		if status != "" && v.Status != status {
			continue
		}
		list = append(list, v)
	}
	less := func(a, b sandboxView) bool {
		switch sortBy {
		case "name":
			return a.Name < b.Name
		case "statusUpdatedAt":
			return a.StatusUpdatedAt < b.StatusUpdatedAt || (a.StatusUpdatedAt == b.StatusUpdatedAt && a.Name < b.Name)
		case "currentSnapshotId":
			return a.CurrentSnapshotID < b.CurrentSnapshotID || (a.CurrentSnapshotID == b.CurrentSnapshotID && a.Name < b.Name)
		}
		return a.CreatedAt < b.CreatedAt || (a.CreatedAt == b.CreatedAt && a.Name < b.Name)
	}
	sort.Slice(list, func(i, j int) bool {
		if desc {
			return less(list[j], list[i])
		}
		return less(list[i], list[j])
	})
	page, next := paginate(len(list), limit, offset)
	writeJSON(w, http.StatusOK, map[string]any{"sandboxes": nonNil(list[page[0]:page[1]]), "pagination": pagination(page, next)})
}

type updateBody struct {
	Persistent         *bool             `json:"persistent"`
	Resources          *resourcesBody    `json:"resources"`
	Timeout            *int64            `json:"timeout"`
	NetworkPolicy      json.RawMessage   `json:"networkPolicy"`
	NetworkID          *string           `json:"networkId"`
	Tags               map[string]string `json:"tags"`
	Ports              []int             `json:"ports"`
	SnapshotExpiration *int64            `json:"snapshotExpiration"`
	KeepLastSnapshots  json.RawMessage   `json:"keepLastSnapshots"`
	CurrentSnapshotID  *string           `json:"currentSnapshotId"`
	Region             *string           `json:"region"`
	FailoverRegions    []string          `json:"failoverRegions"`
	Mounts             map[string]any    `json:"mounts"`
	Env                map[string]string `json:"env"`
	Runtime            *string           `json:"runtime"`
}

func (f *Fake) updateSandbox(w http.ResponseWriter, r *http.Request) {
	if err := f.checkProject(r.URL.Query().Get("projectId"), "projectId"); err != nil {
		writeErr(w, err)
		return
	}
	var b updateBody
	if err := decodeBody(r, &b, true); err != nil {
		writeErr(w, err)
		return
	}
	// Validate everything before changing anything.
	var vcpus int
	if b.Resources != nil {
		v, err := f.validateResources(b.Resources)
		if err != nil {
			writeErr(w, err)
			return
		}
		vcpus = v
	}
	if b.Timeout != nil {
		if err := f.validateTimeout(*b.Timeout); err != nil {
			writeErr(w, err)
			return
		}
	}
	hasPolicy := len(b.NetworkPolicy) > 0 && string(b.NetworkPolicy) != "null"
	if hasPolicy {
		if err := validatePolicy(b.NetworkPolicy); err != nil {
			writeErr(w, err)
			return
		}
	}
	if err := validateTags(b.Tags); err != nil {
		writeErr(w, err)
		return
	}
	if err := validatePorts(b.Ports); err != nil {
		writeErr(w, err)
		return
	}
	if b.SnapshotExpiration != nil {
		if err := validateSnapExp("snapshotExpiration", *b.SnapshotExpiration); err != nil {
			writeErr(w, err)
			return
		}
	}
	var keep *keepLast
	clearKeep := string(b.KeepLastSnapshots) == "null"
	if len(b.KeepLastSnapshots) > 0 && !clearKeep {
		keep = &keepLast{}
		if err := json.Unmarshal(b.KeepLastSnapshots, keep); err != nil {
			writeErr(w, badRequest("`keepLastSnapshots` is invalid: %v", err))
			return
		}
		if err := validateKeep(keep); err != nil {
			writeErr(w, err)
			return
		}
	}
	if err := validateEnv(b.Env); err != nil {
		writeErr(w, err)
		return
	}
	if b.Runtime != nil && !contains(runtimes, *b.Runtime) {
		writeErr(w, badRequest("`runtime` should be equal to one of the allowed values: %s.", strings.Join(runtimes, ", ")))
		return
	}
	if b.NetworkID != nil || b.Mounts != nil {
		writeError(w, http.StatusForbidden, "forbidden", "Secure Compute networks and drives are not available for this team.", nil)
		return
	}
	if b.Region != nil && *b.Region != "iad1" {
		writeErr(w, badRequest("`region` %q is not available.", *b.Region))
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[r.PathValue("name")]
	if sb == nil {
		writeError(w, http.StatusNotFound, "not_found", "Vercel Sandbox not found.", nil)
		return
	}
	if b.CurrentSnapshotID != nil {
		sn := f.snapshots[*b.CurrentSnapshotID]
		if sn == nil || !f.alive(sn) {
			writeError(w, http.StatusNotFound, "not_found", "Snapshot not found.", nil)
			return
		}
		sb.currentSnap = sn.id
	}
	if b.Persistent != nil {
		sb.persistent = *b.Persistent
	}
	if vcpus > 0 {
		sb.vcpus = vcpus
	}
	if b.Timeout != nil {
		sb.timeout = *b.Timeout // the default of new sessions; a running session keeps its own
	}
	if hasPolicy {
		sb.policy = append(json.RawMessage(nil), b.NetworkPolicy...)
		f.policies = append(f.policies, PolicyRecord{Sandbox: sb.name, Via: "update", Body: sb.policy})
	}
	if b.Tags != nil {
		sb.tags = copyStrings(b.Tags)
		if len(sb.tags) == 0 {
			sb.tags = nil
		}
	}
	if b.Ports != nil {
		sb.routes = makeRoutes(sb.routes, b.Ports)
	}
	if b.SnapshotExpiration != nil {
		v := *b.SnapshotExpiration
		sb.snapshotExp = &v
	}
	if clearKeep {
		sb.keep = nil
	} else if keep != nil {
		sb.keep = keep
	}
	if b.Env != nil {
		sb.env = copyStrings(b.Env) // commands started from now on get it
	}
	if b.Runtime != nil {
		sb.runtime = *b.Runtime
	}
	sb.updatedAt = nowMs()
	out := map[string]any{"sandbox": f.sandboxView(sb)}
	if b.Ports != nil {
		out["routes"] = routesOrEmpty(sb.routes)
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Fake) deleteSandbox(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := f.checkProject(q.Get("projectId"), "projectId"); err != nil {
		writeErr(w, err)
		return
	}
	orphans := q.Get("deleteOrphanSnapshots") == "true"
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[r.PathValue("name")]
	if sb == nil {
		writeError(w, http.StatusNotFound, "not_found", "Vercel Sandbox not found.", nil)
		return
	}
	for _, s := range f.sessions {
		if s.sandbox == sb.name {
			f.stopSession(s, "delete")
		}
	}
	view := f.sandboxView(sb)
	delete(f.sandboxes, sb.name)
	if orphans {
		for _, sn := range f.snapshots {
			if sn.sandbox == sb.name && sn.status == "created" {
				f.deleteSnap(sn)
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sandbox": view})
}

// ---- sessions ---------------------------------------------------------------------------------------------

func (f *Fake) listSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := f.checkProject(q.Get("project"), "project"); err != nil {
		writeErr(w, err)
		return
	}
	limit, offset, err := pageParams(q)
	if err != nil {
		writeErr(w, err)
		return
	}
	name := q.Get("name")
	desc := q.Get("sortOrder") != "asc"
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []sessionView
	for _, s := range f.sessions {
		if f.sandboxes[s.sandbox] == nil || (name != "" && s.sandbox != name) {
			continue
		}
		list = append(list, f.sessionView(s))
	}
	sort.Slice(list, func(i, j int) bool {
		if desc {
			return list[i].CreatedAt > list[j].CreatedAt || (list[i].CreatedAt == list[j].CreatedAt && list[i].ID > list[j].ID)
		}
		return list[i].CreatedAt < list[j].CreatedAt || (list[i].CreatedAt == list[j].CreatedAt && list[i].ID < list[j].ID)
	})
	page, next := paginate(len(list), limit, offset)
	writeJSON(w, http.StatusOK, map[string]any{"sessions": nonNil(list[page[0]:page[1]]), "pagination": pagination(page, next)})
}

func (f *Fake) getSession(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.sessionFor(r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": f.sessionView(s), "routes": routesOrEmpty(f.sandboxes[s.sandbox].routes)})
}

func (f *Fake) stopSessionHandler(w http.ResponseWriter, r *http.Request) {
	if err := decodeBody(r, &struct{}{}, true); err != nil {
		writeErr(w, err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.sessionFor(r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	sb := f.sandboxes[s.sandbox]
	snap := f.stopSession(s, "stop")
	out := map[string]any{"session": f.sessionView(s), "sandbox": f.sandboxView(sb)}
	if snap != nil {
		out["snapshot"] = snapView(snap)
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Fake) extendTimeout(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Duration *int64 `json:"duration"`
	}
	if err := decodeBody(r, &b, false); err != nil {
		writeErr(w, err)
		return
	}
	if b.Duration == nil || *b.Duration <= 0 {
		writeErr(w, badRequest("`duration` should be > 0."))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.sessionFor(r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := f.runnable(r.Context(), s); err != nil {
		writeErr(w, err)
		return
	}
	if s.timeout+*b.Duration > f.cfg.MaxTimeout.Milliseconds() {
		writeErr(w, badRequest("the session timeout cannot exceed %d ms (the maximum of your plan).", f.cfg.MaxTimeout.Milliseconds()))
		return
	}
	s.timeout += *b.Duration
	s.updatedAt = nowMs()
	f.armTimeout(s)
	writeJSON(w, http.StatusOK, map[string]any{"session": f.sessionView(s)})
}

func (f *Fake) sessionNetworkPolicy(w http.ResponseWriter, r *http.Request) {
	body, err := readAllLimited(r, 1<<20)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := validatePolicy(body); err != nil {
		writeErr(w, err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.sessionFor(r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := f.runnable(r.Context(), s); err != nil {
		writeErr(w, err)
		return
	}
	s.policy = body
	s.updatedAt = nowMs()
	f.policies = append(f.policies, PolicyRecord{Sandbox: s.sandbox, Via: "session", Body: body})
	writeJSON(w, http.StatusOK, map[string]any{"session": f.sessionView(s)})
}

func (f *Fake) createSnapshot(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Expiration *int64 `json:"expiration"`
	}
	if err := decodeBody(r, &b, true); err != nil {
		writeErr(w, err)
		return
	}
	if b.Expiration != nil {
		if err := validateSnapExp("expiration", *b.Expiration); err != nil {
			writeErr(w, err)
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.sessionFor(r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := f.runnable(r.Context(), s); err != nil {
		writeErr(w, err)
		return
	}
	sb := f.sandboxes[s.sandbox]
	s.killAll(true)
	if s.timer != nil {
		s.timer.Stop()
	}
	sn := f.takeSnapshot(sb, s, "manual", b.Expiration)
	s.requestedStopAt = nowMs()
	s.stopCause = "snapshot"
	s.setStatus(statusSnapshotting)
	time.AfterFunc(f.cfg.SnapshotDelay, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if s.status == statusSnapshotting {
			now := nowMs()
			s.snapshottedAt, s.stoppedAt = now, now
			s.setStatus(statusStopped)
			_ = os.RemoveAll(s.root)
		}
	})
	writeJSON(w, http.StatusCreated, map[string]any{"snapshot": snapView(sn), "session": f.sessionView(s)})
}

// ---- snapshots --------------------------------------------------------------------------------------------

func (f *Fake) listSnapshots(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := f.checkProject(q.Get("project"), "project"); err != nil {
		writeErr(w, err)
		return
	}
	limit, offset, err := pageParams(q)
	if err != nil {
		writeErr(w, err)
		return
	}
	name := q.Get("name")
	desc := q.Get("sortOrder") != "asc"
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []snapshotView
	for _, sn := range f.snapshots {
		if !f.alive(sn) || (name != "" && sn.sandbox != name) {
			continue
		}
		list = append(list, snapView(sn))
	}
	sort.Slice(list, func(i, j int) bool {
		if desc {
			return list[i].CreatedAt > list[j].CreatedAt || (list[i].CreatedAt == list[j].CreatedAt && list[i].ID > list[j].ID)
		}
		return list[i].CreatedAt < list[j].CreatedAt || (list[i].CreatedAt == list[j].CreatedAt && list[i].ID < list[j].ID)
	})
	page, next := paginate(len(list), limit, offset)
	writeJSON(w, http.StatusOK, map[string]any{"snapshots": nonNil(list[page[0]:page[1]]), "pagination": pagination(page, next)})
}

func (f *Fake) getSnapshot(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sn := f.snapshots[r.PathValue("snapshotId")]
	if sn == nil || !f.alive(sn) {
		writeError(w, http.StatusNotFound, "not_found", "Snapshot not found.", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshot": snapView(sn)})
}

func (f *Fake) deleteSnapshot(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sn := f.snapshots[r.PathValue("snapshotId")]
	if sn == nil {
		writeError(w, http.StatusNotFound, "not_found", "Snapshot not found.", nil)
		return
	}
	if !f.alive(sn) {
		writeErr(w, badRequest("the snapshot is already deleted."))
		return
	}
	f.deleteSnap(sn)
	writeJSON(w, http.StatusOK, map[string]any{"snapshot": snapView(sn)})
}

// ---- helpers ----------------------------------------------------------------------------------------------

func pageParams(q map[string][]string) (limit, offset int, err error) {
	limit = 20
	if v := first(q["limit"]); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > 50 {
			return 0, 0, badRequest("`limit` should be between 1 and 50.")
		}
		limit = n
	}
	if c := first(q["cursor"]); c != "" {
		b, derr := base64.RawURLEncoding.DecodeString(c)
		n, perr := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
		if derr != nil || perr != nil || n < 0 {
			return 0, 0, badRequest("`cursor` is invalid.")
		}
		offset = n
	}
	return limit, offset, nil
}

func paginate(n, limit, offset int) ([2]int, string) {
	lo := min(offset, n)
	hi := min(lo+limit, n)
	next := ""
	if hi < n {
		next = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(hi)))
	}
	return [2]int{lo, hi}, next
}

func pagination(page [2]int, next string) map[string]any {
	p := map[string]any{"count": page[1] - page[0], "next": nil}
	if next != "" {
		p["next"] = next
	}
	return p
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func copyStrings(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
