package daytona

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// DefaultCommandTimeout is the timeout of a command when neither the request nor the sandbox sets one.
const DefaultCommandTimeout = 5 * time.Minute

// Engine is the Daytona engine: backend.Engine, backend.VolumeEngine, backend.SetupEngine and
// backend.WorkspaceEngine over the Daytona API. It is safe for concurrent use.
type Engine struct {
	cfg        Config
	c          *client
	cmdTimeout time.Duration

	mu       sync.Mutex
	previews map[string]string // sandbox id + "/" + port -> preview URL (stable for a sandbox's life)
}

var (
	_ backend.Engine          = (*Engine)(nil)
	_ backend.VolumeEngine    = (*Engine)(nil)
	_ backend.SetupEngine     = (*Engine)(nil)
	_ backend.WorkspaceEngine = (*Engine)(nil)
	_ backend.Identifier      = (*Engine)(nil)
)

// New returns an engine for cfg. It makes no request; a missing API key is an error that names
// DAYTONA_API_KEY (and DAYTONA_JWT_TOKEN with DAYTONA_ORGANIZATION_ID as the alternative).
func New(cfg Config) (*Engine, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, c: c, cmdTimeout: orDefault(cfg.DefaultCommandTimeout, DefaultCommandTimeout), previews: map[string]string{}}, nil
}

// Name implements backend.Engine.
func (e *Engine) Name() string { return Name }

// Identity implements backend.Identifier: setups are shared within one API URL, organization and target
// (never the credentials themselves).
func (e *Engine) Identity() string {
	id := e.c.base
	if e.cfg.OrganizationID != "" {
		id += "#org=" + e.cfg.OrganizationID
	}
	if e.cfg.Target != "" {
		id += "#target=" + e.cfg.Target
	}
	return id
}

// Capabilities implements backend.Engine. Network policies: deny_all is networkBlockAll (also sent for a nil
// policy), allow_list is the domain allow-list (plus the CIDR allow-list option), allow_all is Daytona's
// default (nothing blocked).
func (e *Engine) Capabilities() backend.Capabilities { return Capabilities }

// Capabilities is what the daytona engine can do, declared for plan-time checks that need no credentials.
// Daytona's network settings allow or block CIDRs and domains; they cannot inject credentials.
var Capabilities = backend.Capabilities{
	StopStart: true, Exec: true, Files: true, Volumes: true, Setups: true, Workspaces: true, PublicURLs: true,
	NetworkPolicies: []string{backend.PolicyDenyAll, backend.PolicyAllowAll, backend.PolicyAllowList},
}

// ValidateSpec implements backend.Engine: the options, ports, env names, volumes and policy, as the API would
// judge them, without calling out.
func (e *Engine) ValidateSpec(spec backend.SandboxSpec) error {
	_, err := e.planSandbox(spec)
	return err
}

// ---- sandbox reads ----

// getSandbox reads one sandbox; a 404 or a destroyed sandbox is an error wrapping backend.ErrNotFound.
func (e *Engine) getSandbox(ctx context.Context, idOrName string) (*sandboxDTO, error) {
	var dto sandboxDTO
	err := e.c.do(ctx, request{method: http.MethodGet, path: "/sandbox/" + url.PathEscape(idOrName), idempotent: true, out: &dto})
	if err != nil {
		return nil, err
	}
	if dto.State == stDestroyed {
		return nil, fmt.Errorf("daytona sandbox %s is destroyed: %w", idOrName, backend.ErrNotFound)
	}
	return &dto, nil
}

// listPageSize is the page size of sandbox lists (the API's maximum; tests lower it).
var listPageSize = 100

// listSandboxes lists the sandboxes whose labels contain all of labels, following the cursor.
func (e *Engine) listSandboxes(ctx context.Context, labels map[string]string) ([]sandboxDTO, error) {
	lb, err := json.Marshal(labels)
	if err != nil {
		return nil, fmt.Errorf("daytona: encoding the label filter: %w", err)
	}
	var out []sandboxDTO
	cursor := ""
	for page := 0; page < 10000; page++ {
		q := url.Values{"labels": {string(lb)}, "limit": {strconv.Itoa(listPageSize)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var resp listSandboxesDTO
		if err := e.c.do(ctx, request{method: http.MethodGet, path: "/sandbox", query: q, idempotent: true, out: &resp}); err != nil {
			return nil, err
		}
		for _, s := range resp.Items {
			if s.State != stDestroyed {
				out = append(out, s)
			}
		}
		if resp.NextCursor == nil || *resp.NextCursor == "" || *resp.NextCursor == cursor {
			return out, nil
		}
		cursor = *resp.NextCursor
	}
	return nil, errors.New("daytona: listing sandboxes: too many pages")
}

// stateOf maps a Daytona state to an engine state.
func stateOf(d *sandboxDTO) string {
	switch d.State {
	case stStarted:
		return backend.StateRunning
	case stStopped, stPaused:
		return backend.StateStopped
	case stArchived:
		return backend.StateArchived
	case stCreating, stPendingBuild, stBuildingSnapshot, stPullingSnapshot, stStarting, stRestoring, stResuming:
		return backend.StateStarting
	case stStopping, stArchiving, stPausing, stDestroying:
		return backend.StateStopping
	case stResizing, stSnapshotting, stForking:
		if d.DesiredState == stStopped || d.DesiredState == stArchived {
			return backend.StateStopped
		}
		return backend.StateRunning
	}
	return backend.StateUnknown
}

func transitional(s string) bool {
	switch s {
	case stCreating, stRestoring, stDestroying, stStarting, stStopping, stPendingBuild, stBuildingSnapshot, stUnknown,
		stPullingSnapshot, stArchiving, stResizing, stSnapshotting, stForking, stPausing, stResuming, "":
		return true
	}
	return false
}

func failed(s string) bool { return s == stError || s == stBuildFailed }

func failure(d *sandboxDTO) error {
	msg := fmt.Sprintf("daytona sandbox %s is in state %s", d.ID, d.State)
	if d.ErrorReason != "" {
		msg += ": " + d.ErrorReason
	}
	if d.Recoverable {
		msg += " (recoverable: POST /sandbox/{id}/recover)"
	}
	return errors.New(msg)
}

// isEphemeral reports whether a sandbox is deleted as soon as it stops.
func isEphemeral(d *sandboxDTO) bool {
	return (d.AutoDeleteInterval != nil && *d.AutoDeleteInterval == 0) || d.Labels[LabelEphemeral] == "1"
}

// view turns a sandbox into the engine's view; withURLs fetches the preview URL of every labelled port that
// is not cached yet.
func (e *Engine) view(ctx context.Context, d *sandboxDTO, withURLs bool) (*backend.Sandbox, error) {
	sb := &backend.Sandbox{
		ExternalID: d.ID,
		RecordID:   d.Labels[LabelRecordID],
		State:      stateOf(d),
		Metadata:   map[string]any{"ephemeral": isEphemeral(d), "sandboxName": d.Name},
	}
	if t, err := time.Parse(time.RFC3339Nano, d.CreatedAt); err == nil {
		sb.CreatedAt = t
	}
	ports := portsOf(d.Labels)
	if len(ports) > 0 {
		sb.URLs = map[int]string{}
	}
	for _, p := range ports {
		u, tok, err := e.previewURL(ctx, d.ID, p, withURLs)
		if err != nil {
			return nil, err
		}
		if u != "" {
			sb.URLs[p] = u
			if sb.URL == "" {
				sb.URL = u
			}
		}
		if tok != "" {
			if sb.URLTokens == nil {
				sb.URLTokens = map[int]string{}
			}
			sb.URLTokens[p] = tok
		}
	}
	return sb, nil
}

func portsOf(labels map[string]string) []int {
	var ports []int
	for _, s := range strings.Split(labels[LabelPorts], ",") {
		if p, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && p > 0 && p <= 65535 {
			ports = append(ports, p)
		}
	}
	sort.Ints(ports)
	return ports
}

// previewURL returns a port's preview URL and token. Without fetch it gives the cached URL only (lists); with
// fetch it asks the API every time, since the token changes whenever the sandbox restarts (inside Terraform or
// not). The token is a secret: it goes only into Sandbox.URLTokens, never into the cache, Metadata or errors.
func (e *Engine) previewURL(ctx context.Context, id string, port int, fetch bool) (string, string, error) {
	key := id + "/" + strconv.Itoa(port)
	if !fetch {
		e.mu.Lock()
		u := e.previews[key]
		e.mu.Unlock()
		return u, "", nil
	}
	p, err := e.preview(ctx, id, port)
	if err != nil {
		return "", "", err
	}
	e.mu.Lock()
	e.previews[key] = p.URL
	e.mu.Unlock()
	return p.URL, p.Token, nil
}

func (e *Engine) preview(ctx context.Context, id string, port int) (*previewURLDTO, error) {
	var p previewURLDTO
	err := e.c.do(ctx, request{method: http.MethodGet, path: fmt.Sprintf("/sandbox/%s/ports/%d/preview-url", url.PathEscape(id), port), idempotent: true, out: &p})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// PreviewToken returns the token that private preview URLs need (header x-daytona-preview-token). It is a
// secret: it is never put in Metadata or records. It changes when the sandbox restarts. The provider can
// expose it as a sensitive (or ephemeral) attribute read at apply time.
func (e *Engine) PreviewToken(ctx context.Context, externalID string, port int) (string, error) {
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("port %d is outside 1..65535", port)
	}
	p, err := e.preview(ctx, externalID, port)
	if err != nil {
		return "", err
	}
	return p.Token, nil
}

// GetSandbox implements backend.Engine.
func (e *Engine) GetSandbox(ctx context.Context, externalID string) (*backend.Sandbox, error) {
	d, err := e.getSandbox(ctx, externalID)
	if err != nil {
		return nil, err
	}
	return e.view(ctx, d, true)
}

// FindSandbox implements backend.Engine: the sandbox labelled with the record id (label filter with cursor
// pagination), or, since the list is eventually consistent, the one named after the record.
func (e *Engine) FindSandbox(ctx context.Context, recordID string) (*backend.Sandbox, error) {
	d, err := e.findByRecord(ctx, LabelRecordID, recordID, sandboxName(recordID))
	if err != nil {
		return nil, err
	}
	return e.view(ctx, d, true)
}

func (e *Engine) findByRecord(ctx context.Context, label, recordID, name string) (*sandboxDTO, error) {
	if recordID == "" {
		return nil, fmt.Errorf("daytona: no record id to look for: %w", backend.ErrNotFound)
	}
	list, err := e.listSandboxes(ctx, map[string]string{label: recordID})
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].State != stDestroying {
			return e.getSandbox(ctx, list[i].ID)
		}
	}
	d, err := e.getSandbox(ctx, name)
	if err == nil && d.Labels[label] == recordID {
		return d, nil
	}
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return nil, err
	}
	return nil, fmt.Errorf("daytona: no sandbox labelled %s=%s: %w", label, recordID, backend.ErrNotFound)
}

// ListSandboxes implements backend.Engine: the plain sandboxes this provider made (not workspace or setup
// builder sandboxes). URLs are given only where already known.
func (e *Engine) ListSandboxes(ctx context.Context) ([]*backend.Sandbox, error) {
	list, err := e.listSandboxes(ctx, map[string]string{LabelManagedBy: ManagedBy, LabelKind: KindSandbox})
	if err != nil {
		return nil, err
	}
	out := make([]*backend.Sandbox, 0, len(list))
	for i := range list {
		sb, err := e.view(ctx, &list[i], false)
		if err != nil {
			return nil, err
		}
		out = append(out, sb)
	}
	return out, nil
}

// ---- sandbox lifecycle ----

// CreateSandbox implements backend.Engine. The sandbox is named after the record and labelled with it, so a
// create retried after a lost answer, or by a later apply, adopts it instead of making a second one.
func (e *Engine) CreateSandbox(ctx context.Context, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	if spec.RecordID == "" {
		return nil, errors.New("daytona: CreateSandbox needs the record id")
	}
	p, err := e.planSandbox(spec)
	if err != nil {
		return nil, err
	}
	created, err := e.createFromPlan(ctx, p, LabelRecordID, spec.RecordID)
	if err != nil {
		return nil, err
	}
	// The create's answer is the first observation: the wait reads the sandbox only after its first pause, as
	// the official client does (POST, then GETs until started: 3 requests on the fakes' timing).
	d, err := e.ensureStartedFrom(ctx, created.ID, created)
	if err != nil {
		return nil, fmt.Errorf("daytona sandbox %s (record %s) was created but did not start: %w", created.ID, spec.RecordID, err)
	}
	return e.view(ctx, d, true)
}

// createFromPlan waits for the plan's volumes to be ready and creates the sandbox; a name conflict with a
// sandbox carrying label=owner adopts it.
func (e *Engine) createFromPlan(ctx context.Context, p *sandboxPlan, label, owner string) (*sandboxDTO, error) {
	for _, v := range p.volumes {
		if _, err := e.waitVolumeReady(ctx, v.VolumeID); err != nil {
			return nil, fmt.Errorf("volume %s for %s: %w", v.VolumeID, v.MountPath, err)
		}
	}
	var d sandboxDTO
	err := e.c.do(ctx, request{method: http.MethodPost, path: "/sandbox", body: p.createBody(), idempotent: true, out: &d})
	if statusOf(err) == http.StatusConflict {
		existing, gerr := e.getSandbox(ctx, p.name)
		if gerr != nil {
			return nil, fmt.Errorf("%w (and reading the existing sandbox: %w)", err, gerr)
		}
		if existing.Labels[label] != owner {
			return nil, fmt.Errorf("%w: a sandbox named %s exists but is not labelled %s=%s", err, p.name, label, owner)
		}
		return existing, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// drive polls a sandbox until done says so, calling act whenever act applies to its state. A missing sandbox
// is passed to done as nil. first, when set, is a fresh observation (the answer of the call that made or
// changed the sandbox) used instead of the first read.
func (e *Engine) drive(ctx context.Context, id, what string, first *sandboxDTO, done func(*sandboxDTO) (bool, error), act func(*sandboxDTO) error) (*sandboxDTO, error) {
	var last *sandboxDTO
	lastState := "not read yet"
	err := e.c.poll(ctx, what, func() (bool, error) {
		d, err := first, error(nil)
		if first != nil {
			first = nil
		} else {
			d, err = e.getSandbox(ctx, id)
		}
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			if ctx.Err() != nil {
				// The deadline passed during a read: say where the sandbox was, as a deadline between reads does.
				return false, fmt.Errorf("waiting for %s: still %s when the deadline passed: %w", what, lastState, err)
			}
			return false, err
		}
		last = d
		if d != nil {
			lastState = d.State
		} else {
			lastState = "gone"
		}
		ok, err := done(d)
		if err != nil || ok || d == nil || act == nil {
			return ok, err
		}
		return false, act(d)
	}, func() string { return lastState })
	return last, err
}

// ensureStarted starts a sandbox if needed and waits until it has started.
func (e *Engine) ensureStarted(ctx context.Context, id string) (*sandboxDTO, error) {
	return e.ensureStartedFrom(ctx, id, nil)
}

// ensureStartedFrom is ensureStarted with a first observation of the sandbox (see drive).
func (e *Engine) ensureStartedFrom(ctx context.Context, id string, first *sandboxDTO) (*sandboxDTO, error) {
	if first != nil && first.ID != id {
		first = nil
	}
	return e.drive(ctx, id, "sandbox "+id+" to start", first,
		func(d *sandboxDTO) (bool, error) {
			switch {
			case d == nil:
				return false, fmt.Errorf("daytona sandbox %s is gone: %w", id, backend.ErrNotFound)
			case d.State == stStarted:
				return true, nil
			case failed(d.State):
				return false, failure(d)
			}
			return false, nil
		},
		func(d *sandboxDTO) error {
			if d.State != stStopped && d.State != stArchived && d.State != stPaused {
				return nil
			}
			err := e.action(ctx, d.ID, "start")
			if statusOf(err) == http.StatusConflict {
				return nil // a state change is in progress: keep waiting
			}
			return err
		})
}

func (e *Engine) action(ctx context.Context, id, what string) error {
	var q url.Values
	if what == "stop" {
		q = url.Values{"force": {"false"}}
	}
	err := e.c.do(ctx, request{method: http.MethodPost, path: "/sandbox/" + url.PathEscape(id) + "/" + what, query: q, idempotent: true})
	return err
}

// StartSandbox implements backend.Engine: stopped, archived and paused sandboxes are started; a started one is
// left alone.
func (e *Engine) StartSandbox(ctx context.Context, externalID string) error {
	_, err := e.ensureStarted(ctx, externalID)
	return err
}

// StopSandbox implements backend.Engine: it waits for stopped (an archived sandbox counts as stopped). An
// ephemeral sandbox is deleted by Daytona when it stops; that is reported as an error wrapping
// backend.ErrNotFound.
func (e *Engine) StopSandbox(ctx context.Context, externalID string) error {
	_, err := e.drive(ctx, externalID, "sandbox "+externalID+" to stop", nil,
		func(d *sandboxDTO) (bool, error) {
			switch {
			case d == nil:
				return false, fmt.Errorf("daytona sandbox %s is gone (an ephemeral sandbox is deleted when it stops): %w", externalID, backend.ErrNotFound)
			case d.State == stStopped || d.State == stArchived:
				return true, nil
			case failed(d.State):
				return false, failure(d)
			}
			return false, nil
		},
		func(d *sandboxDTO) error {
			if d.State != stStarted && d.State != stPaused {
				return nil
			}
			err := e.action(ctx, d.ID, "stop")
			if s := statusOf(err); s == http.StatusConflict || s == http.StatusBadRequest {
				return nil // in progress, or already stopping: the next read tells
			}
			return err
		})
	return err
}

// DeleteSandbox implements backend.Engine: it waits for a transition in progress, deletes, and waits until the
// sandbox is destroyed. A missing sandbox is not an error.
func (e *Engine) DeleteSandbox(ctx context.Context, externalID string) error {
	_, err := e.drive(ctx, externalID, "sandbox "+externalID+" to be deleted", nil,
		func(d *sandboxDTO) (bool, error) { return d == nil, nil },
		func(d *sandboxDTO) error {
			if transitional(d.State) && d.State != stPendingBuild {
				return nil
			}
			err := e.c.do(ctx, request{method: http.MethodDelete, path: "/sandbox/" + url.PathEscape(d.ID), idempotent: true})
			if errors.Is(err, backend.ErrNotFound) || statusOf(err) == http.StatusConflict {
				return nil
			}
			return err
		})
	e.forget(externalID)
	return err
}

func (e *Engine) forget(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.previews {
		if strings.HasPrefix(k, id+"/") {
			delete(e.previews, k)
		}
	}
}

// UpdateSandbox implements backend.Engine. In place: labels (the labels option, ports, the default command
// timeout), public, auto-stop/archive/delete intervals, ephemeral, network settings and env. What the sandbox
// was created from (image, snapshot, setup, resources, target, volumes) cannot change: the provider replaces
// the sandbox for those. Env and network changes need the sandbox running: a stopped one is started for them
// and stopped again.
func (e *Engine) UpdateSandbox(ctx context.Context, externalID string, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	p, err := e.planSandbox(spec)
	if err != nil {
		return nil, err
	}
	d, err := e.getSandbox(ctx, externalID)
	if err != nil {
		return nil, err
	}
	if spec.RecordID == "" {
		p.labels[LabelRecordID] = d.Labels[LabelRecordID]
	}
	d, err = e.applyPlan(ctx, d, p)
	if err != nil {
		return nil, err
	}
	e.forget(externalID)
	return e.view(ctx, d, true)
}

// applyPlan changes what can change in place.
func (e *Engine) applyPlan(ctx context.Context, d *sandboxDTO, p *sandboxPlan) (*sandboxDTO, error) {
	id := d.ID
	path := "/sandbox/" + url.PathEscape(id)
	post := func(suffix string, body any) error {
		return e.c.do(ctx, request{method: http.MethodPost, path: path + suffix, body: body, idempotent: true})
	}
	envAction := envChange(d, p.env)
	netChanged := d.NetworkBlockAll != p.net.blockAll || d.NetworkAllowList != p.net.cidrs || d.DomainAllowList != p.net.domains
	if envAction != envNone || netChanged {
		wasRunning := d.State == stStarted
		if !wasRunning {
			if _, err := e.ensureStarted(ctx, id); err != nil {
				return nil, fmt.Errorf("starting sandbox %s to change its env or network settings: %w", id, err)
			}
		}
		if netChanged {
			ns := networkSettingsDTO{NetworkBlockAll: &p.net.blockAll, NetworkAllowList: &p.net.cidrs, DomainAllowList: &p.net.domains}
			if err := post("/network-settings", ns); err != nil {
				return nil, err
			}
		}
		if envAction != envNone {
			if err := e.writeEnvFile(ctx, id, d.Env, p.env, envAction == envRemove); err != nil {
				return nil, err
			}
		}
		if !wasRunning {
			if err := e.StopSandbox(ctx, id); err != nil {
				return nil, fmt.Errorf("stopping sandbox %s again after changing its env or network settings: %w", id, err)
			}
		}
	}
	switch envAction {
	case envWrite:
		p.labels[LabelEnvFile] = "1"
	case envNone:
		if d.Labels[LabelEnvFile] != "" {
			p.labels[LabelEnvFile] = d.Labels[LabelEnvFile]
		}
	}
	if d.Public != p.public {
		if err := post("/public/"+strconv.FormatBool(p.public), nil); err != nil {
			return nil, err
		}
	}
	setInterval := func(kind string, want, have *int) error {
		if want == nil || (have != nil && *have == *want) {
			return nil
		}
		return post("/"+kind+"/"+strconv.Itoa(*want), nil)
	}
	if err := setInterval("autostop", p.autoStop, d.AutoStopInterval); err != nil {
		return nil, err
	}
	if err := setInterval("autoarchive", p.autoArchive, d.AutoArchiveInterval); err != nil {
		return nil, err
	}
	autoDelete := p.autoDelete
	switch {
	case p.ephemeral:
		zero := 0
		autoDelete = &zero
	case autoDelete == nil && d.AutoDeleteInterval != nil && *d.AutoDeleteInterval == 0:
		never := -1
		autoDelete = &never
	}
	if err := setInterval("autodelete", autoDelete, d.AutoDeleteInterval); err != nil {
		return nil, err
	}
	if !sameLabels(d.Labels, p.labels) {
		if err := e.c.do(ctx, request{method: http.MethodPut, path: path + "/labels", body: labelsDTO{Labels: p.labels}, idempotent: true}); err != nil {
			return nil, err
		}
	}
	return e.getSandbox(ctx, id)
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// ValidatePolicy checks a network policy as every create (sandbox, setup builder, workspace) would, without
// calling out: Daytona cannot inject credentials, so a policy with credentials is a *backend.AttrError on
// policy.credentials_wo. The provider calls it at plan time.
func (e *Engine) ValidatePolicy(p *backend.NetworkPolicy) error {
	_, err := networkFor(p, &options{})
	return err
}
