// Package vercel implements the vercel engine: sandboxes on Vercel Sandbox, through its current REST API
// (named sandboxes with sessions: /v3 and /v2 create, /v2 for everything else; never the legacy /v1).
//
// Mapping:
//
//   - a sandbox is a named Vercel sandbox "sbx-<record id>" (FindSandbox finds it by name, a half-made one
//     included); it is also tagged as @ekairos/sandbox tags its sandboxes (ekairos=1, profile, purpose,
//     sandboxId=<record id>). Names match ^[a-zA-Z0-9_-]+$ and have at most 128 characters, so a record id that
//     cannot be part of one is refused;
//   - stop ends the current session (a persistent sandbox snapshots its files); start resumes: a new session
//     from the last snapshot. A Read (GetSandbox) never resumes (that would boot a billed VM);
//   - Exec runs the argv through the command API (ndjson stream) in a thin sh wrapper that gives it stdin and
//     sends stdout and stderr to two files of the home, read back raw (byte-exact, binary included) and then
//     removed; the stream's log lines are JSON strings, which cannot carry every byte;
//   - files are written as the gzipped tar the API expects and read back raw; relative paths are relative to
//     the home /vercel/sandbox and may not leave it, absolute paths are anywhere in the VM;
//   - the network policy is compiled to the API's form (CompilePolicy) and sent at create, on update (the
//     sandbox's default) and to the running session. The API never returns header values, so nothing of the
//     policy is read back into Sandbox.Metadata: no perpetual diff can come from it;
//   - setups (SetupEngine) are snapshots of a non-persistent builder sandbox "setup-<fingerprint>", found by
//     listing the builder's snapshots; workspaces (WorkspaceEngine) are persistent named sandboxes
//     "wks-<record id>", resumed for each command and stopped after it (which snapshots their files);
//   - volumes: none (Capabilities().Volumes is false, so the provider rejects them at plan time).
package vercel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
)

// Name prefixes of the named sandboxes this engine makes.
const (
	SandboxPrefix   = "sbx-"
	WorkspacePrefix = "wks-"
	SetupPrefix     = "setup-"
)

// DefaultHome is a session's working directory when the API does not say.
const DefaultHome = "/vercel/sandbox"

// Profiles, as @ekairos/sandbox infers them from the purpose: they give the default timeout and vCPUs.
const (
	ProfileEphemeral   = "ephemeral"    // 5 minutes, 1 vCPU
	ProfileCodingAgent = "coding-agent" // 20 minutes, 2 vCPUs (a purpose mentioning codex, coding-agent or agent)
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Engine is the vercel engine. It implements backend.Engine, backend.SetupEngine and backend.WorkspaceEngine.
type Engine struct {
	c    *Client
	poll time.Duration
	now  func() time.Time

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per workspace: one command at a time in this process
}

var (
	_ backend.Engine          = (*Engine)(nil)
	_ backend.SetupEngine     = (*Engine)(nil)
	_ backend.WorkspaceEngine = (*Engine)(nil)
)

// New makes the engine. It does not call the API. A missing token is an error wrapping ErrMissingToken, whose
// message names VERCEL_TOKEN and VERCEL_OIDC_TOKEN.
func New(cfg Config) (*Engine, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	poll := cfg.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	return &Engine{c: c, poll: poll, now: time.Now, locks: map[string]*sync.Mutex{}}, nil
}

// Client is the engine's API client.
func (e *Engine) Client() *Client { return e.c }

// Name implements backend.Engine.
func (e *Engine) Name() string { return Name }

// Capabilities implements backend.Engine.
func (e *Engine) Capabilities() backend.Capabilities { return Capabilities }

// Capabilities is what the vercel engine can do, declared for plan-time checks that need no credentials: no
// volumes; credentials injected by the firewall's header transforms; a sandbox starts from a source (git,
// tarball, snapshot) or from a setup, not both.
var Capabilities = backend.Capabilities{
	StopStart:         true,
	Exec:              true,
	Files:             true,
	Volumes:           false,
	Setups:            true,
	Workspaces:        true,
	PublicURLs:        true,
	NetworkPolicies:   []string{backend.PolicyDenyAll, backend.PolicyAllowAll, backend.PolicyAllowList},
	MaxPorts:          MaxPorts,
	MaxVCPUs:          MaxVCPUs,
	PolicyCredentials: true,
}

// SandboxName is the name of a record's sandbox.
func SandboxName(recordID string) string { return SandboxPrefix + recordID }

// WorkspaceName is the name of a workspace record's sandbox.
func WorkspaceName(recordID string) string { return WorkspacePrefix + recordID }

// SetupName is the name of the builder sandbox of a setup fingerprint: the fingerprint itself when it can be
// part of a name (at most 100 characters of [a-zA-Z0-9_-]), else "h" and its SHA-256.
func SetupName(fingerprint string) string {
	if len(fingerprint) <= 100 && nameRE.MatchString(fingerprint) {
		return SetupPrefix + fingerprint
	}
	sum := sha256.Sum256([]byte(fingerprint))
	return SetupPrefix + "h" + hex.EncodeToString(sum[:])
}

func checkRecordID(id string) error {
	if !nameRE.MatchString(id) || len(SandboxPrefix+id) > 128 {
		return fmt.Errorf("record id %q cannot be part of a vercel sandbox name (^[a-zA-Z0-9_-]+$, at most 124 characters)", id)
	}
	return nil
}

// profileOf infers the profile from the purpose, as @ekairos/sandbox does.
func profileOf(purpose string) string {
	p := strings.ToLower(purpose)
	if strings.Contains(p, "codex") || strings.Contains(p, "coding-agent") || strings.Contains(p, "agent") {
		return ProfileCodingAgent
	}
	return ProfileEphemeral
}

func defaults(spec backend.SandboxSpec) (time.Duration, int) {
	timeout, vcpus := spec.Timeout, spec.VCPUs
	coding := profileOf(spec.Purpose) == ProfileCodingAgent
	if timeout == 0 {
		timeout = 5 * time.Minute
		if coding {
			timeout = 20 * time.Minute
		}
	}
	if vcpus == 0 {
		vcpus = 1
		if coding {
			vcpus = 2
		}
	}
	return timeout, vcpus
}

// ValidateSpec implements backend.Engine. Errors about one attribute (runtime, vcpus, timeout, ports, env,
// volume, policy) are *backend.AttrError, so that the plan-time error points at it.
func (e *Engine) ValidateSpec(spec backend.SandboxSpec) error {
	_, err := validateSandboxSpec(spec)
	return err
}

func validateSandboxSpec(spec backend.SandboxSpec) (sandboxOptions, error) {
	if spec.RecordID != "" {
		if err := checkRecordID(spec.RecordID); err != nil {
			return sandboxOptions{}, err
		}
	}
	if err := backend.CheckSandboxSpec(spec); err != nil {
		return sandboxOptions{}, err
	}
	if err := checkRuntime(spec.Runtime); err != nil {
		return sandboxOptions{}, &backend.AttrError{Path: []string{"runtime"}, Err: err}
	}
	if err := checkVCPUs(spec.VCPUs); err != nil {
		return sandboxOptions{}, &backend.AttrError{Path: []string{"vcpus"}, Err: err}
	}
	if err := checkTimeout(spec.Timeout); err != nil {
		return sandboxOptions{}, &backend.AttrError{Path: []string{"timeout"}, Err: err}
	}
	if err := checkPorts(spec.Ports); err != nil {
		return sandboxOptions{}, &backend.AttrError{Path: []string{"ports"}, Err: err}
	}
	if len(spec.Volumes) > 0 {
		return sandboxOptions{}, &backend.AttrError{Path: []string{"volume"}, Err: errors.New("the vercel engine has no volumes: keep files in a workspace (sandbox_workspace) or a setup snapshot instead")}
	}
	if spec.Workspace != "" {
		return sandboxOptions{}, errors.New("on vercel a workspace is its own persistent sandbox: run commands in the workspace itself instead of attaching it to a sandbox")
	}
	if err := spec.Policy.Validate(); err != nil {
		return sandboxOptions{}, &backend.AttrError{Path: []string{"policy"}, Err: fmt.Errorf("network policy: %w", err)}
	}
	opts, err := parseSandboxOptions(spec.Options)
	if err != nil {
		return opts, err
	}
	if opts.source != nil && spec.Setup != "" {
		return opts, backend.NewAttrError(errSourceAndSetup, Name, OptionSource)
	}
	if opts.source != nil && opts.source.Type == "snapshot" && spec.Runtime != "" {
		return opts, fmt.Errorf("a snapshot source sets the runtime: leave runtime empty (got %q)", spec.Runtime)
	}
	return opts, nil
}

// tags are the tags of a sandbox, those @ekairos/sandbox puts (at most 5).
func sandboxTags(spec backend.SandboxSpec) map[string]string {
	t := map[string]string{"ekairos": "1", "profile": profileOf(spec.Purpose), "sandboxId": spec.RecordID}
	if spec.Purpose != "" {
		t["purpose"] = clip(spec.Purpose, 128)
	}
	return t
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (e *Engine) createRequest(spec backend.SandboxSpec, opts sandboxOptions) (CreateSandboxRequest, error) {
	timeout, vcpus := defaults(spec)
	policy, err := CompilePolicy(spec.Policy)
	if err != nil {
		return CreateSandboxRequest{}, err
	}
	persistent := opts.persistent == nil || *opts.persistent
	req := CreateSandboxRequest{
		Name:          SandboxName(spec.RecordID),
		Runtime:       spec.Runtime,
		Source:        opts.source,
		Ports:         spec.Ports,
		Timeout:       timeout.Milliseconds(),
		Resources:     &Resources{VCPUs: vcpus},
		Persistent:    &persistent,
		Env:           spec.Env,
		Tags:          sandboxTags(spec),
		NetworkPolicy: policy,
	}
	if opts.snapshotExpiration != nil {
		ms := opts.snapshotExpiration.Milliseconds()
		req.SnapshotExpiration = &ms
	}
	if spec.Setup != "" {
		// The setup snapshot gives the runtime: the API refuses a runtime with a snapshot source.
		req.Source = &Source{Type: "snapshot", SnapshotID: spec.Setup}
		req.Runtime = ""
	}
	return req, nil
}

// CreateSandbox implements backend.Engine. It waits until the sandbox's session runs.
func (e *Engine) CreateSandbox(ctx context.Context, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	if spec.RecordID == "" {
		return nil, errors.New("vercel: a sandbox needs its record id (it names the sandbox)")
	}
	opts, err := validateSandboxSpec(spec)
	if err != nil {
		return nil, err
	}
	req, err := e.createRequest(spec, opts)
	if err != nil {
		return nil, err
	}
	first, err := e.create(ctx, req, spec.RecordID, "sandboxId")
	if err != nil {
		return nil, err
	}
	r, err := e.waitRunningFrom(ctx, req.Name, first)
	if err != nil {
		return nil, err
	}
	return e.view(r), nil
}

// create posts a create; a 409 (the name exists: an earlier attempt of this create, or a create interrupted
// by a killed apply) is resolved by adopting the sandbox when its tag names the same record, then starting it.
// It returns the create's answer (nil after an adoption), the first observation of the wait that follows.
func (e *Engine) create(ctx context.Context, req CreateSandboxRequest, recordID, tag string) (*SandboxResponse, error) {
	r, err := e.c.CreateSandbox(ctx, req)
	if StatusOf(err) != http.StatusConflict {
		return r, err
	}
	got, gerr := e.getSandbox(ctx, req.Name)
	if gerr != nil {
		return nil, fmt.Errorf("%w (and reading the existing sandbox failed: %w)", err, gerr)
	}
	if got.Sandbox.Tags[tag] != recordID {
		return nil, fmt.Errorf("%w: the existing sandbox %s is not tagged %s=%s", err, req.Name, tag, recordID)
	}
	return nil, e.start(ctx, req.Name)
}

// getSandbox reads a sandbox without resuming it. A missing sandbox, or one whose snapshot is gone (410
// snapshot_not_found: its files cannot come back), is an error wrapping backend.ErrNotFound, once the project
// itself is known to be reachable (a wrong project id must not make every sandbox look gone).
func (e *Engine) getSandbox(ctx context.Context, name string) (*SandboxResponse, error) {
	r, err := e.c.GetSandbox(ctx, name)
	switch {
	case err == nil:
		return r, nil
	case StatusOf(err) == http.StatusGone && CodeOf(err) == "snapshot_not_found":
		return nil, fmt.Errorf("vercel sandbox %s: its snapshot expired or was deleted, its files are gone: %w (%w)", name, backend.ErrNotFound, err)
	case errors.Is(err, backend.ErrNotFound):
		if lerr := e.c.ProbeProject(ctx); lerr != nil {
			return nil, fmt.Errorf("vercel sandbox %s: not found, and the project %s cannot be listed either (check the team and project ids): %w", name, e.c.ProjectID(), lerr)
		}
		return nil, fmt.Errorf("vercel sandbox %s: %w", name, err)
	}
	return nil, err
}

// GetSandbox implements backend.Engine. It never resumes a stopped sandbox.
func (e *Engine) GetSandbox(ctx context.Context, externalID string) (*backend.Sandbox, error) {
	r, err := e.getSandbox(ctx, externalID)
	if err != nil {
		return nil, err
	}
	return e.view(r), nil
}

// FindSandbox implements backend.Engine: the sandbox is found by its name.
func (e *Engine) FindSandbox(ctx context.Context, recordID string) (*backend.Sandbox, error) {
	if checkRecordID(recordID) != nil {
		return nil, fmt.Errorf("no vercel sandbox can be named after record %q: %w", recordID, backend.ErrNotFound)
	}
	return e.GetSandbox(ctx, SandboxName(recordID))
}

// ListSandboxes implements backend.Engine: every sandbox named "sbx-<record id>".
func (e *Engine) ListSandboxes(ctx context.Context) ([]*backend.Sandbox, error) {
	list, err := e.c.ListSandboxes(ctx, ListOptions{NamePrefix: SandboxPrefix})
	if err != nil {
		return nil, err
	}
	var out []*backend.Sandbox
	for i := range list {
		sb := &list[i]
		id := strings.TrimPrefix(sb.Name, SandboxPrefix)
		if !strings.HasPrefix(sb.Name, SandboxPrefix) || checkRecordID(id) != nil {
			continue
		}
		out = append(out, e.view(&SandboxResponse{Sandbox: *sb}))
	}
	return out, nil
}

// UpdateSandbox implements backend.Engine: timeout, vCPUs, ports, env, persistence, snapshot expiration, tags
// and the network policy are changed in place (PATCH); a running session gets the new policy at once and a
// longer timeout through extend-timeout, while vCPUs, a shorter timeout and env apply from the next session on
// (env: the API applies it to the sandbox's default env; whether a running session sees it at once is not
// documented). runtime, source and setup cannot change: the provider replaces the sandbox for them.
func (e *Engine) UpdateSandbox(ctx context.Context, externalID string, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	opts, err := validateSandboxSpec(spec)
	if err != nil {
		return nil, err
	}
	timeout, vcpus := defaults(spec)
	policy, err := CompilePolicy(spec.Policy)
	if err != nil {
		return nil, err
	}
	ms := timeout.Milliseconds()
	ports := append([]int{}, spec.Ports...)
	env := map[string]string{}
	for k, v := range spec.Env {
		env[k] = v
	}
	persistent := opts.persistent == nil || *opts.persistent // always sent: removing the option restores the default
	patch := UpdateSandboxRequest{
		Resources:     &Resources{VCPUs: vcpus},
		Timeout:       &ms,
		NetworkPolicy: policy,
		Ports:         &ports,
		Env:           &env,
		Persistent:    &persistent,
	}
	if spec.RecordID != "" {
		patch.Tags = sandboxTags(spec)
	}
	if opts.snapshotExpiration != nil {
		exp := opts.snapshotExpiration.Milliseconds()
		patch.SnapshotExpiration = &exp
	}
	if _, err := e.c.UpdateSandbox(ctx, externalID, patch); err != nil {
		return nil, err
	}
	r, err := e.getSandbox(ctx, externalID)
	if err != nil {
		return nil, err
	}
	if r.Session != nil && r.Session.Status == StatusRunning {
		if err := e.applyToSession(ctx, r.Session, timeout, policy); err != nil {
			return nil, err
		}
		if r, err = e.getSandbox(ctx, externalID); err != nil {
			return nil, err
		}
	}
	return e.view(r), nil
}

// applyToSession gives a running session the policy and, when it grew, the timeout.
func (e *Engine) applyToSession(ctx context.Context, s *Session, timeout time.Duration, policy *NetworkPolicy) error {
	if _, err := e.c.SetSessionNetworkPolicy(ctx, s.ID, policy); err != nil && !sessionEnded(err) {
		return fmt.Errorf("applying the network policy to the running session %s: %w", s.ID, err)
	}
	if grow := timeout - time.Duration(s.Timeout)*time.Millisecond; grow > 0 {
		if _, err := e.c.ExtendTimeout(ctx, s.ID, grow); err != nil && !sessionEnded(err) {
			return fmt.Errorf("extending the running session %s by %s: %w", s.ID, grow, err)
		}
	}
	return nil
}

// sessionEnded reports whether an error says that the session stopped (or is stopping) meanwhile.
func sessionEnded(err error) bool {
	switch StatusOf(err) {
	case http.StatusGone:
		return true
	case http.StatusUnprocessableEntity:
		c := CodeOf(err)
		return c == "sandbox_stopping" || c == "sandbox_snapshotting"
	}
	return false
}

// StartSandbox implements backend.Engine: a stopped sandbox is resumed (a new session, from its last snapshot
// when it is persistent) and the call waits until it runs.
func (e *Engine) StartSandbox(ctx context.Context, externalID string) error {
	if err := e.start(ctx, externalID); err != nil {
		return err
	}
	_, err := e.waitRunning(ctx, externalID)
	return err
}

// start resumes a sandbox unless its session is pending or running.
func (e *Engine) start(ctx context.Context, name string) error {
	r, err := e.getSandbox(ctx, name)
	if err != nil {
		return err
	}
	switch status(r) {
	case StatusRunning, StatusPending:
		return nil
	case StatusStopping, StatusSnapshotting:
		if err := e.waitStopped(ctx, name); err != nil {
			return err
		}
	}
	if _, err := e.c.ResumeSandbox(ctx, name); err != nil {
		if StatusOf(err) == http.StatusGone && CodeOf(err) == "snapshot_not_found" {
			return fmt.Errorf("vercel sandbox %s cannot resume: its snapshot expired or was deleted: %w (%w)", name, backend.ErrNotFound, err)
		}
		return fmt.Errorf("resuming vercel sandbox %s: %w", name, err)
	}
	return nil
}

// StopSandbox implements backend.Engine: the current session ends (a persistent sandbox snapshots its files)
// and the call waits until it has stopped.
func (e *Engine) StopSandbox(ctx context.Context, externalID string) error {
	r, err := e.getSandbox(ctx, externalID)
	if err != nil {
		return err
	}
	if st := status(r); (st == StatusRunning || st == StatusPending) && r.Session != nil {
		if _, err := e.c.StopSession(ctx, r.Session.ID); err != nil && !sessionEnded(err) {
			return fmt.Errorf("stopping vercel sandbox %s: %w", externalID, err)
		}
	}
	return e.waitStopped(ctx, externalID)
}

// DeleteSandbox implements backend.Engine. The sandbox's own snapshots are deleted with it.
func (e *Engine) DeleteSandbox(ctx context.Context, externalID string) error {
	return e.deleteNamed(ctx, externalID)
}

func (e *Engine) deleteNamed(ctx context.Context, name string) error {
	if err := e.c.DeleteSandbox(ctx, name, true); err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("deleting vercel sandbox %s: %w", name, err)
	}
	err := httpapi.Poll(ctx, "vercel sandbox "+name+" to be deleted", e.poll, 4*e.poll, func() (bool, error) {
		_, err := e.c.GetSandbox(ctx, name)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			return true, nil
		case err != nil && StatusOf(err) != http.StatusGone:
			return false, fmt.Errorf("waiting for vercel sandbox %s to be deleted: %w", name, err)
		}
		return false, nil
	}, nil)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("vercel sandbox %s is still there after its delete: %w", name, err)
	}
	return err
}

// status is the status of a sandbox's current session (the sandbox's own when no session came with it).
func status(r *SandboxResponse) string {
	if r.Session != nil && r.Session.Status != "" {
		return r.Session.Status
	}
	return r.Sandbox.Status
}

func terminal(st string) bool {
	return st == StatusStopped || st == StatusFailed || st == StatusAborted
}

// waitRunning polls until the sandbox's current session runs. A session that ends instead is an error.
func (e *Engine) waitRunning(ctx context.Context, name string) (*SandboxResponse, error) {
	return e.waitRunningFrom(ctx, name, nil)
}

// waitRunningFrom is waitRunning with a first observation (the answer of the create that started the
// session; nil = read first), so that the first read comes only after the first pause. It polls with the
// hosted clients' one poller (httpapi.Poll): from PollInterval, backing off to four times it.
func (e *Engine) waitRunningFrom(ctx context.Context, name string, first *SandboxResponse) (*SandboxResponse, error) {
	st := ""
	var out *SandboxResponse
	err := httpapi.Poll(ctx, "vercel sandbox "+name+" to run", e.poll, 4*e.poll, func() (bool, error) {
		r := first
		if r != nil && r.Sandbox.Name != "" && r.Sandbox.Name != name {
			r = nil
		}
		first = nil
		if r == nil {
			var err error
			if r, err = e.getSandbox(ctx, name); err != nil {
				return false, stillErr(ctx, name, st, err)
			}
		}
		st = status(r)
		switch {
		case st == StatusRunning:
			out = r
			return true, nil
		case terminal(st):
			return false, fmt.Errorf("vercel sandbox %s: its session is %s instead of running (a source that failed to fetch, or a boot failure)", name, st)
		}
		return false, nil
	}, func() string { return st })
	if err != nil && out == nil && ctx.Err() != nil && st != "" && !strings.Contains(err.Error(), "is still") {
		return nil, fmt.Errorf("vercel sandbox %s is still %s: %w", name, st, ctx.Err())
	}
	return out, err
}

// waitStopped polls until the sandbox's current session has ended.
func (e *Engine) waitStopped(ctx context.Context, name string) error {
	st := ""
	err := httpapi.Poll(ctx, "vercel sandbox "+name+" to stop", e.poll, 4*e.poll, func() (bool, error) {
		r, err := e.getSandbox(ctx, name)
		if err != nil {
			return false, stillErr(ctx, name, st, err)
		}
		st = status(r)
		return terminal(st), nil
	}, func() string { return st })
	if err != nil && ctx.Err() != nil && st != "" && !strings.Contains(err.Error(), "is still") {
		return fmt.Errorf("vercel sandbox %s is still %s: %w", name, st, ctx.Err())
	}
	return err
}

// stillErr words an error that ended a wait: with the status last seen when the context ended it.
func stillErr(ctx context.Context, name, last string, err error) error {
	if ctx.Err() == nil || last == "" {
		return err
	}
	return fmt.Errorf("vercel sandbox %s is still %s: %w", name, last, err)
}

// State maps a session status to a backend state.
func State(status string) string {
	switch status {
	case StatusRunning:
		return backend.StateRunning
	case StatusPending:
		return backend.StateStarting
	case StatusStopping, StatusSnapshotting:
		return backend.StateStopping
	case StatusStopped, StatusFailed, StatusAborted:
		return backend.StateStopped // a new session can start (resume) from any of them
	}
	return backend.StateUnknown
}

// view is the engine's view of a sandbox.
func (e *Engine) view(r *SandboxResponse) *backend.Sandbox {
	sb := r.Sandbox
	out := &backend.Sandbox{
		ExternalID: sb.Name,
		RecordID:   sb.Tags["sandboxId"],
		State:      State(status(r)),
		Metadata:   Metadata(r),
		CreatedAt:  time.UnixMilli(sb.CreatedAt),
	}
	if out.RecordID == "" && strings.HasPrefix(sb.Name, SandboxPrefix) {
		out.RecordID = strings.TrimPrefix(sb.Name, SandboxPrefix)
	}
	if len(r.Routes) > 0 {
		out.URLs = map[int]string{}
		for _, rt := range r.Routes {
			out.URLs[rt.Port] = rt.URL
		}
		out.URL = r.Routes[0].URL
	}
	return out
}

// Metadata is what goes under params.vercel of a sandbox's record: the keys @ekairos/sandbox's
// safeVercelConfigForRecord writes (profile, runtime, timeoutMs, vcpus, ports, persistent, deleteOnStop,
// reuse, name, snapshotExpirationMs, tags), read from the API's answer so that a read gives the same values as
// the create. Never the token, the env or the network policy.
func Metadata(r *SandboxResponse) map[string]any {
	sb := r.Sandbox
	ports := []int{}
	for _, rt := range r.Routes {
		ports = append(ports, rt.Port)
	}
	md := map[string]any{
		"name":         sb.Name,
		"timeoutMs":    sb.Timeout,
		"vcpus":        sb.VCPUs,
		"persistent":   sb.Persistent,
		"deleteOnStop": false, // stopping never deletes: DeleteSandbox does
		"reuse":        false,
	}
	if r.Routes != nil || r.Session != nil {
		md["ports"] = ports // a list answer carries no routes
	}
	switch {
	case sb.Runtime != "":
		md["runtime"] = sb.Runtime
	case sb.Image != "":
		md["image"] = sb.Image
	}
	if p := sb.Tags["profile"]; p != "" {
		md["profile"] = p
	}
	if sb.SnapshotExpiration != nil {
		md["snapshotExpirationMs"] = *sb.SnapshotExpiration
	}
	if len(sb.Tags) > 0 {
		tags := map[string]any{}
		for k, v := range sb.Tags {
			tags[k] = v
		}
		md["tags"] = tags
	}
	return md
}
