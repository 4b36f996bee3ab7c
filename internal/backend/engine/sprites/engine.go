package sprites

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
)

// DefaultCommandTimeout is a command's timeout when neither the request nor the sandbox sets one.
const DefaultCommandTimeout = 5 * time.Minute

// DefaultSetupTimeout is a setup command's timeout when its spec sets none.
const DefaultSetupTimeout = 30 * time.Minute

// MaxVCPUs is what every sprite has (the platform gives each 8 vCPUs; there is nothing to choose).
const MaxVCPUs = 8

// URLPort is the port the sprite URL routes to.
const URLPort = 8080

// DefaultBaseEnv returns the environment every command starts from: the sprite image's PATH (with its
// language shims in /.sprite/bin), HOME, USER and LANG. It is sent in full because the exec API replaces the
// sprite's default environment as soon as one variable is sent.
func DefaultBaseEnv() map[string]string {
	return map[string]string{
		"PATH": "/.sprite/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME": HomeDir,
		"USER": "sprite",
		"LANG": "en_US.UTF-8",
	}
}

// Engine is the sprites engine (backend.Engine, backend.SetupEngine, backend.WorkspaceEngine).
type Engine struct {
	c            *Client
	baseEnv      map[string]string
	defTimeout   time.Duration
	setupTimeout time.Duration
}

var (
	_ backend.Engine          = (*Engine)(nil)
	_ backend.SetupEngine     = (*Engine)(nil)
	_ backend.WorkspaceEngine = (*Engine)(nil)

	_ backend.WorkspaceCheckpointer = (*Engine)(nil)
)

// New makes the engine. A missing token is an error naming SPRITES_API_TOKEN (and SPRITE_TOKEN,
// SPRITES_TOKEN).
func New(cfg Config) (*Engine, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{c: c, baseEnv: cfg.BaseEnv, defTimeout: cfg.DefaultTimeout, setupTimeout: cfg.SetupTimeout}
	if e.baseEnv == nil {
		e.baseEnv = DefaultBaseEnv()
	} else {
		e.baseEnv = maps.Clone(e.baseEnv)
	}
	if err := backend.CheckEnv(e.baseEnv); err != nil {
		return nil, fmt.Errorf("sprites base env: %w", err)
	}
	if e.defTimeout <= 0 {
		e.defTimeout = DefaultCommandTimeout
	}
	if e.setupTimeout <= 0 {
		e.setupTimeout = DefaultSetupTimeout
	}
	return e, nil
}

// Client returns the engine's API client.
func (e *Engine) Client() *Client { return e.c }

// Name implements backend.Engine.
func (e *Engine) Name() string { return Name }

// Capabilities implements backend.Engine. Sprites have no stop: they sleep by themselves when idle and wake
// on use, so StopStart is false. No volumes. Setups and workspaces are built from checkpoints (see the package
// documentation), and a workspace is checkpointed and restored on request (WorkspaceCheckpoints). The network policy API stores allow/deny domain rules, so all three modes are enforced
// (credential injection is not: CompilePolicy refuses credentials). Every sprite has 8 vCPUs.
func (e *Engine) Capabilities() backend.Capabilities { return Capabilities }

// Capabilities is what the sprites engine can do, declared for plan-time checks that need no credentials:
// no stop (sprites sleep by themselves), no volumes, a network policy of domain rules without credential
// injection, workspace checkpoints. Every sprite has 8 vCPUs.
var Capabilities = backend.Capabilities{
	StopStart:            false,
	Exec:                 true,
	Files:                true,
	Volumes:              false,
	Setups:               true,
	Workspaces:           true,
	PublicURLs:           true,
	NetworkPolicies:      []string{backend.PolicyDenyAll, backend.PolicyAllowAll, backend.PolicyAllowList},
	MaxPorts:             0,
	MaxVCPUs:             MaxVCPUs,
	WorkspaceCheckpoints: true,
	NoStop: "Sprites have no stop call: a sprite sleeps by itself after about 30 seconds without activity (warm, then " +
		"cold: its processes end, its files stay) and wakes on the next command or request to its URL. A cold sprite shows state = \"sleeping\"; to end a sandbox, destroy it.",
}

// ValidateSpec implements backend.Engine.
func (e *Engine) ValidateSpec(spec backend.SandboxSpec) error {
	if err := backend.CheckSandboxSpec(spec); err != nil {
		return err
	}
	if spec.VCPUs > MaxVCPUs {
		return fmt.Errorf("vcpus = %d: every sprite has %d vCPUs; the sprites engine cannot give more", spec.VCPUs, MaxVCPUs)
	}
	if err := checkRuntime(spec.Runtime); err != nil {
		return err
	}
	seen := map[int]bool{}
	for _, p := range spec.Ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("port %d is outside 1..65535", p)
		}
		if seen[p] {
			return fmt.Errorf("port %d is listed twice", p)
		}
		seen[p] = true
	}
	if len(spec.Volumes) > 0 {
		return errors.New("the sprites engine has no volumes: a sprite's own disk persists for its lifetime; use a workspace for files that outlive a sandbox")
	}
	if spec.Workspace != "" {
		return errors.New("the sprites engine cannot attach a workspace to a sandbox: a sprites workspace is its own long-lived sprite; run commands in it through the workspace instead")
	}
	if _, err := CompilePolicy(spec.Policy); err != nil {
		return err
	}
	o, err := parseOptions(spec.Options, true)
	if err != nil {
		return err
	}
	if spec.RecordID != "" {
		if err := checkRecordID(spec.RecordID); err != nil {
			return err
		}
		if o.name == "" {
			if err := ValidateName(DefaultSandboxName(spec.RecordID)); err != nil {
				return fmt.Errorf("the default sprite name: %w", err)
			}
		}
	}
	return nil
}

// checkRuntime accepts the Sprites runtimes ("default", "dev") or none.
func checkRuntime(r string) error {
	switch r {
	case "", "default", "dev":
		return nil
	}
	return fmt.Errorf("runtime %q is not a sprites runtime (want \"default\" or \"dev\", or none: every sprite has the same image with its language toolchains)", r)
}

// stateOf maps a sprite status to an engine state: running and warm (suspended with its memory and processes)
// are ready; cold (VM stopped, processes gone) is sleeping, which is not gone: it wakes on the next use.
func stateOf(status string) string {
	switch status {
	case StatusRunning, StatusWarm:
		return backend.StateRunning
	case StatusCold:
		return backend.StateSleeping
	}
	return backend.StateUnknown
}

// recordOf returns the record id a sprite belongs to: its label, or for a sprite @ekairos/sandbox made, the
// id in its default name.
func recordOf(s *Sprite, own owner, kind string) string {
	if own.recordID != "" {
		return own.recordID
	}
	if !own.managed && kind == kindSandbox && len(s.Name) > len(sandboxNamePrefix) && s.Name[:len(sandboxNamePrefix)] == sandboxNamePrefix {
		return s.Name[len(sandboxNamePrefix):]
	}
	return ""
}

// metadata is what goes to params.sprites, with @ekairos/sandbox's keys (id, name, url, urlSettings,
// deleteOnStop). Never the token or env.
func metadata(s *Sprite, own owner) map[string]any {
	m := map[string]any{
		"id":           s.ID,
		"name":         s.Name,
		"url":          s.URL,
		"deleteOnStop": true,
	}
	if s.URLSettings != nil && s.URLSettings.Auth != "" {
		m["urlSettings"] = map[string]any{"auth": s.URLSettings.Auth}
	}
	if own.setupCP != "" {
		m["setupCheckpointId"] = own.setupCP
	}
	return m
}

func (e *Engine) toSandbox(s *Sprite) *backend.Sandbox {
	own := readLabels(s.Labels)
	sb := &backend.Sandbox{
		ExternalID: s.Name,
		RecordID:   recordOf(s, own, kindSandbox),
		State:      stateOf(s.Status),
		URL:        s.URL,
		Metadata:   metadata(s, own),
		CreatedAt:  s.Created(),
	}
	if s.URL != "" {
		sb.URLs = map[int]string{URLPort: s.URL}
	}
	return sb
}

// belongs reports whether a sprite is the kind-object of a record: by its labels, or (for a sandbox
// @ekairos/sandbox made, which has none) by its default name.
func belongs(s *Sprite, kind, recordID string) bool {
	own := readLabels(s.Labels)
	if own.managed {
		return own.kind == kind && own.recordID == recordID
	}
	return kind == kindSandbox && s.Name == DefaultSandboxName(recordID)
}

// ensureSprite creates the sprite of a record, or adopts it. The create is sent first, as the official client
// does, and a conflict answers the existence probe: an existing sprite of the same name is adopted only when
// it belongs to the record (a create that an interrupted apply left behind, or the library's own sprite for
// the record); one that belongs to anything else is an error, never taken over. A sprite this call made
// (adopted = false) has the API's defaults: no state file and the empty network policy.
func (e *Engine) ensureSprite(ctx context.Context, name, kind, recordID string, o spriteOptions) (*Sprite, bool, error) {
	wait := o.waitForCapacity
	req := CreateSpriteRequest{
		Name:            name,
		URLSettings:     &URLSettings{Auth: o.urlAuth},
		Labels:          managedLabels(kind, recordID, "", o.labels),
		WaitForCapacity: &wait,
	}
	s, err := e.c.CreateSprite(ctx, req)
	if nameTaken(err) {
		// Taken: by this record (an interrupted create, or our own create that answered 5xx after it went
		// through and was retried), or by something else.
		got, gerr := e.c.GetSprite(ctx, name)
		switch {
		case gerr == nil && belongs(got, kind, recordID):
			return got, true, nil
		case gerr == nil:
			return nil, false, fmt.Errorf("a sprite named %s already exists and does not belong to %s record %s; choose another name", name, kind, recordID)
		}
		return nil, false, fmt.Errorf("creating sprite %s: %w", name, err)
	}
	if err != nil {
		return nil, false, fmt.Errorf("creating sprite %s: %w", name, err)
	}
	return s, false, nil
}

// applyPolicy compiles and sets a network policy (nil = deny_all).
func (e *Engine) applyPolicy(ctx context.Context, name string, p *backend.NetworkPolicy) error {
	rules, err := CompilePolicy(p)
	if err != nil {
		return err
	}
	return e.c.SetNetworkPolicy(ctx, name, rules)
}

// updateLabels and url settings when they differ.
func (e *Engine) updateSprite(ctx context.Context, s *Sprite, labels []string, urlAuth string) (*Sprite, error) {
	cur := ""
	if s.URLSettings != nil {
		cur = s.URLSettings.Auth
	}
	want := slices.Clone(labels)
	have := slices.Clone(s.Labels)
	slices.Sort(want)
	slices.Sort(have)
	if cur == urlAuth && slices.Equal(want, have) {
		return s, nil
	}
	up, err := e.c.UpdateSprite(ctx, s.Name, UpdateSpriteRequest{URLSettings: &URLSettings{Auth: urlAuth}, Labels: labels})
	if err != nil {
		return nil, fmt.Errorf("updating sprite %s: %w", s.Name, err)
	}
	return up, nil
}

// CreateSandbox implements backend.Engine: it makes (or adopts, see ensureSprite) the sprite named by the
// name option or "ekairos-<record id>", labelled with the record id; runs the setup in it and checkpoints it
// when spec.Setup is set (see the package documentation); writes the state file; applies the network policy
// (nil = deny_all); and returns the sprite as it then is.
func (e *Engine) CreateSandbox(ctx context.Context, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	if spec.RecordID == "" {
		return nil, errors.New("sprites: CreateSandbox needs the record id")
	}
	if err := e.ValidateSpec(spec); err != nil {
		return nil, err
	}
	o, _ := parseOptions(spec.Options, true)
	name := o.name
	if name == "" {
		name = DefaultSandboxName(spec.RecordID)
	}
	var recipe *setupRecipe
	if spec.Setup != "" {
		r, err := e.loadRecipe(ctx, spec.Setup)
		if err != nil {
			return nil, err
		}
		recipe = r
	}
	s, adopted, err := e.ensureSprite(ctx, name, kindSandbox, spec.RecordID, o)
	if err != nil {
		return nil, err
	}
	st := &spriteState{}
	if adopted {
		if st, err = e.readState(ctx, name); err != nil {
			return nil, err
		}
	}
	s, err = e.configure(ctx, s, !adopted, kindSandbox, spec.RecordID, o, st, spec.Env, spec.Timeout, spec.Policy, spec.Setup, recipe)
	if err != nil {
		return nil, err
	}
	return e.toSandbox(s), nil
}

// configure brings a sprite to its declared configuration: the setup (run once, then checkpointed, when the
// state says it has not run), labels and URL auth, the state file, then the network policy.
//
// fresh says the sprite was just made by this engine with the API's defaults (no state file, the empty
// network policy), so that only what differs from them is sent: a sprite without env, timeout or setup needs
// no state file, and one whose policy is allow_all no policy call. A create then costs the requests listed
// in BENCHMARKS.md ("Requests per hosted create").
func (e *Engine) configure(ctx context.Context, s *Sprite, fresh bool, kind, recordID string, o spriteOptions, st *spriteState,
	env map[string]string, timeout time.Duration, policy *backend.NetworkPolicy, setup string, recipe *setupRecipe) (*Sprite, error) {
	name := s.Name
	if st.Setup != "" && setup != st.Setup {
		return nil, fmt.Errorf("sprite %s was made from setup %s; its setup cannot change in place (replace it)", name, st.Setup)
	}
	if setup != "" && st.SetupCheckpoint == "" {
		if recipe == nil {
			r, err := e.loadRecipe(ctx, setup)
			if err != nil {
				return nil, err
			}
			recipe = r
		}
		// The command's output is not put in the error: it may echo the setup's env, and errors reach records.
		cp, _, err := e.runSetupAndCheckpoint(ctx, name, setup, recipe)
		if err != nil {
			return nil, fmt.Errorf("setup %s: %w", setup, err)
		}
		st.Setup, st.SetupCheckpoint = setup, cp
	}
	up, err := e.updateSprite(ctx, s, managedLabels(kind, recordID, st.SetupCheckpoint, o.labels), o.urlAuth)
	if err != nil {
		return nil, err
	}
	woke := false // whether a call served inside the sprite woke it
	// The state file is needed for what the API cannot hold (env, timeout, setup), and is kept up to date once
	// it exists.
	if st.Kind != "" || len(env) > 0 || timeout > 0 || st.Setup != "" {
		st.Kind, st.RecordID = kind, recordID
		st.Env = maps.Clone(env)
		st.TimeoutMs = timeout.Milliseconds()
		st.Policy = policy
		if err := e.writeState(ctx, name, st); err != nil {
			return nil, err
		}
		woke = true
	}
	rules, err := CompilePolicy(policy)
	if err != nil {
		return nil, err
	}
	if !fresh || len(rules.Rules) > 0 || setup != "" {
		if err := e.c.SetNetworkPolicy(ctx, name, rules); err != nil {
			return nil, err
		}
		woke = true
	}
	if setup != "" || woke {
		// Any call that needs the VM wakes a sprite (the API's lifecycle): it is running now, which a read would
		// say too.
		cp := *up
		cp.Status = StatusRunning
		up = &cp
	}
	return up, nil
}

// GetSandbox implements backend.Engine. It reads the control plane only, so it never wakes a sleeping sprite.
func (e *Engine) GetSandbox(ctx context.Context, externalID string) (*backend.Sandbox, error) {
	s, err := e.c.GetSprite(ctx, externalID)
	if err != nil {
		return nil, fmt.Errorf("reading sprite %s: %w", externalID, err)
	}
	return e.toSandbox(s), nil
}

// find returns the sprite of a kind made for a record: by its default name first, then by its labels.
func (e *Engine) find(ctx context.Context, kind, recordID, defaultName string) (*Sprite, error) {
	if ValidateName(defaultName) == nil {
		s, err := e.c.GetSprite(ctx, defaultName)
		switch {
		case err == nil && belongs(s, kind, recordID):
			return s, nil
		case err != nil && !errors.Is(err, backend.ErrNotFound):
			return nil, fmt.Errorf("looking for the sprite of %s record %s: %w", kind, recordID, err)
		}
	}
	all, err := e.listKind(ctx, kind)
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if readLabels(s.Labels).recordID == recordID {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no sprite belongs to %s record %s: %w", kind, recordID, backend.ErrNotFound)
}

// listKind lists the sprites this engine made of one kind. List entries that carry no labels are read one by
// one.
func (e *Engine) listKind(ctx context.Context, kind string) ([]*Sprite, error) {
	all, err := e.c.ListSprites(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("listing sprites: %w", err)
	}
	var out []*Sprite
	for _, s := range all {
		if !s.labelsKnown {
			full, err := e.c.GetSprite(ctx, s.Name)
			if errors.Is(err, backend.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("reading sprite %s: %w", s.Name, err)
			}
			s = full
		}
		own := readLabels(s.Labels)
		if own.managed && own.kind == kind {
			out = append(out, s)
		}
	}
	return out, nil
}

// FindSandbox implements backend.Engine: GET "ekairos-<record id>", else the sprite labelled with the record
// id (a custom name).
func (e *Engine) FindSandbox(ctx context.Context, recordID string) (*backend.Sandbox, error) {
	s, err := e.find(ctx, kindSandbox, recordID, DefaultSandboxName(recordID))
	if err != nil {
		return nil, err
	}
	return e.toSandbox(s), nil
}

// ListSandboxes implements backend.Engine: the sprites labelled as this provider's sandboxes.
func (e *Engine) ListSandboxes(ctx context.Context) ([]*backend.Sandbox, error) {
	all, err := e.listKind(ctx, kindSandbox)
	if err != nil {
		return nil, err
	}
	out := make([]*backend.Sandbox, 0, len(all))
	for _, s := range all {
		out = append(out, e.toSandbox(s))
	}
	return out, nil
}

// UpdateSandbox implements backend.Engine: labels and URL auth, env, timeout and network policy change in
// place; the name cannot. It also completes a create that an interrupted apply left half-made (a setup that
// has not run yet runs now). An empty spec.Setup keeps the setup the sprite was made from (the lifecycle
// sends none on an in-place update, since setup_id replaces); another setup is refused.
func (e *Engine) UpdateSandbox(ctx context.Context, externalID string, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	if err := e.ValidateSpec(spec); err != nil {
		return nil, err
	}
	o, _ := parseOptions(spec.Options, true)
	if o.name != "" && o.name != externalID {
		return nil, fmt.Errorf("sprite %s cannot be renamed to %s in place (replace the sandbox)", externalID, o.name)
	}
	s, err := e.c.GetSprite(ctx, externalID)
	if err != nil {
		return nil, fmt.Errorf("reading sprite %s: %w", externalID, err)
	}
	recordID := spec.RecordID
	if recordID == "" {
		recordID = recordOf(s, readLabels(s.Labels), kindSandbox)
	}
	if err := checkRecordID(recordID); err != nil {
		return nil, err
	}
	st, err := e.readState(ctx, externalID)
	if err != nil {
		return nil, err
	}
	s, err = e.configure(ctx, s, false, kindSandbox, recordID, o, st, spec.Env, spec.Timeout, spec.Policy, keptSetup(spec.Setup, st), nil)
	if err != nil {
		return nil, err
	}
	return e.toSandbox(s), nil
}

// StartSandbox implements backend.Engine. A sprite cannot be stopped, only left to sleep: starting one wakes
// it by running "true" in it, and returns once that ran.
func (e *Engine) StartSandbox(ctx context.Context, externalID string) error {
	if _, err := e.c.GetSprite(ctx, externalID); err != nil {
		return fmt.Errorf("reading sprite %s: %w", externalID, err)
	}
	res, err := e.c.Exec(ctx, externalID, ExecOptions{Argv: []string{"true"}, Env: e.baseEnv, Timeout: time.Minute})
	if err != nil {
		return fmt.Errorf("waking sprite %s: %w", externalID, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("waking sprite %s: \"true\" exited with %d", externalID, res.ExitCode)
	}
	return nil
}

// ErrNoStop is wrapped by StopSandbox: Sprites has no stop call.
var ErrNoStop = fmt.Errorf("sprites cannot be stopped: a sprite sleeps by itself when idle (its processes end once it goes cold, its files stay) and wakes on the next use; there is no stop call: %w", errors.ErrUnsupported)

// StopSandbox implements backend.Engine: always an error wrapping ErrNoStop (and errors.ErrUnsupported);
// Capabilities().StopStart is false so that the provider refuses desired_state = "stopped" at plan time.
func (e *Engine) StopSandbox(_ context.Context, externalID string) error {
	return fmt.Errorf("stopping sprite %s: %w", externalID, ErrNoStop)
}

// DeleteSandbox implements backend.Engine: it deletes the sprite (and with it its checkpoints) and waits until
// the API no longer has it. A missing sprite is not an error.
func (e *Engine) DeleteSandbox(ctx context.Context, externalID string) error {
	return e.deleteSprite(ctx, externalID)
}

func (e *Engine) deleteSprite(ctx context.Context, name string) error {
	if err := e.c.DeleteSprite(ctx, name); err != nil && !errors.Is(err, backend.ErrNotFound) {
		return fmt.Errorf("deleting sprite %s: %w", name, err)
	}
	// The one poller of the hosted clients: from 100 ms, backing off to 2 s.
	return httpapi.Poll(ctx, "sprite "+name+" to be deleted", 100*time.Millisecond, 2*time.Second, func() (bool, error) {
		_, err := e.c.GetSprite(ctx, name)
		if errors.Is(err, backend.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("waiting for sprite %s to be deleted: %w", name, err)
		}
		return false, nil
	}, nil)
}

// Exec implements backend.Engine: it runs argv (no shell) with the base env, the sandbox's env and the
// request's env, in that order of precedence, in Cwd (relative to /home/sprite), killing it at the request's
// timeout, else the sandbox's, else the engine's default.
func (e *Engine) Exec(ctx context.Context, externalID string, req backend.ExecRequest) (*backend.ExecResult, error) {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, errors.New("sprites exec: empty argv")
	}
	if err := backend.CheckEnv(req.Env); err != nil {
		return nil, err
	}
	dir := HomeDir
	if req.Cwd != "" {
		d, err := sandboxPath(req.Cwd)
		if err != nil {
			return nil, fmt.Errorf("sprite %s: working directory: %w", externalID, err)
		}
		dir = d
	}
	st, err := e.readState(ctx, externalID)
	if err != nil {
		return nil, fmt.Errorf("sprite %s: %w", externalID, err)
	}
	timeout := backend.CommandTimeout(req.Timeout, st.timeout(), e.defTimeout)
	r, err := e.c.Exec(ctx, externalID, ExecOptions{
		Argv:    req.Argv,
		Env:     mergeEnv(e.baseEnv, st.Env, req.Env),
		Dir:     dir,
		Stdin:   req.Stdin,
		Timeout: timeout,
	})
	if err != nil {
		return nil, err
	}
	return &backend.ExecResult{ExitCode: r.ExitCode, Stdout: r.Stdout, Stderr: r.Stderr, TimedOut: r.TimedOut, Duration: r.Duration}, nil
}

// WriteFile implements backend.Engine through the filesystem API: the path is relative to /home/sprite (and
// may not leave it) or absolute in the sprite; missing parents are made; the file is written 0644.
func (e *Engine) WriteFile(ctx context.Context, externalID, p string, data []byte) error {
	abs, err := sandboxPath(p)
	if err != nil {
		return fmt.Errorf("sprite %s: %w", externalID, err)
	}
	if err := e.c.WriteFile(ctx, externalID, abs, data, 0o644); err != nil {
		return fmt.Errorf("writing %s in sprite %s: %w", p, externalID, err)
	}
	return nil
}

// ReadFile implements backend.Engine through the filesystem API, with WriteFile's path rules. A missing file
// is an error wrapping fs.ErrNotExist (not backend.ErrNotFound, which means the sprite is gone).
func (e *Engine) ReadFile(ctx context.Context, externalID, p string) ([]byte, error) {
	abs, err := sandboxPath(p)
	if err != nil {
		return nil, fmt.Errorf("sprite %s: %w", externalID, err)
	}
	b, err := e.c.ReadFile(ctx, externalID, abs)
	if err != nil {
		return nil, fmt.Errorf("reading %s in sprite %s: %w", p, externalID, err)
	}
	return b, nil
}

// Checkpoint checkpoints a sandbox's or a workspace's sprite and returns the checkpoint id. The checkpoint
// holds the sprite's disk (not its memory) and belongs to that sprite only.
func (e *Engine) Checkpoint(ctx context.Context, externalID, comment string) (string, error) {
	id, err := e.c.CreateCheckpoint(ctx, externalID, comment)
	if err != nil {
		return "", fmt.Errorf("checkpointing sprite %s: %w", externalID, err)
	}
	return id, nil
}

// Restore restores a sandbox's or a workspace's sprite to one of its checkpoints. The restore replaces the
// sprite's files and ends its running commands; the provider's state file (env, timeout, policy, setup) is
// put back as it was before the restore and the network policy applied again, so that a restore rolls back
// files, never configuration. A missing sprite or checkpoint is an error wrapping backend.ErrNotFound.
func (e *Engine) Restore(ctx context.Context, externalID, checkpointID string) error {
	st, err := e.readState(ctx, externalID)
	if err != nil {
		return fmt.Errorf("sprite %s: %w", externalID, err)
	}
	// A sprite without a state file keeps its policy only in the policy API, which is served inside the sprite:
	// read it before the restore to put it back after.
	var rules *NetworkRules
	if st.Kind == "" {
		r, err := e.c.GetNetworkPolicy(ctx, externalID)
		if err != nil {
			return fmt.Errorf("sprite %s: reading its network policy: %w", externalID, err)
		}
		rules = &r
	}
	if err := e.c.RestoreCheckpoint(ctx, externalID, checkpointID); err != nil {
		return fmt.Errorf("restoring sprite %s to checkpoint %s: %w", externalID, checkpointID, err)
	}
	if st.Kind != "" {
		if err := e.writeState(ctx, externalID, st); err != nil {
			return fmt.Errorf("after restoring sprite %s to %s: %w", externalID, checkpointID, err)
		}
		if err := e.applyPolicy(ctx, externalID, st.Policy); err != nil {
			return fmt.Errorf("after restoring sprite %s to %s: %w", externalID, checkpointID, err)
		}
	} else if err := e.c.SetNetworkPolicy(ctx, externalID, *rules); err != nil {
		return fmt.Errorf("after restoring sprite %s to %s: %w", externalID, checkpointID, err)
	}
	return nil
}

// keptSetup is the setup an in-place update applies: the spec's, or when it names none the one the sprite
// was made from (an update never removes a setup: that takes a new sprite).
func keptSetup(setup string, st *spriteState) string {
	if setup == "" {
		return st.Setup
	}
	return setup
}

// nameTaken reports whether a create failed because the name is taken: 409, or the 400 "already exists" of
// the newer API page (the API documents both).
func nameTaken(err error) bool {
	if errors.Is(err, ErrConflict) {
		return true
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		return false
	}
	msg := strings.ToLower(apiErr.Code + " " + apiErr.Message)
	return strings.Contains(msg, "already exists") || strings.Contains(msg, "already taken")
}
