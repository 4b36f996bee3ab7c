package backend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Reserved top-level keys of a sandbox record's params. The caller's own params sit beside them, as
// @ekairos/sandbox keeps them; a caller may not use these names.
const (
	ParamsError     = "error"     // the provisioning error message
	ParamsTerraform = "terraform" // this provider's bookkeeping: owner, config hash, scope, confirmed
)

// Keys of the provider's bookkeeping (params.terraform of a sandbox record, metadata.terraform of a process
// record).
const (
	// BookOwner is the provider process that made (or took over) the record: {host, pid}.
	BookOwner = "owner"
	// BookConfigHash is the hash of the configuration the record was made for (ConfigHash, CommandHash).
	BookConfigHash = "configHash"
	// BookScope is the configuration (the provider's scope) the record belongs to.
	BookScope = "scope"
	// BookConfirmed is true once Terraform handed the record back (a plan or refresh read it from a state):
	// the record is then in a state, and no later create may adopt it.
	BookConfirmed = "confirmed"
)

// ReservedParamKeys are the params keys the caller may not set: error, terraform, volumes, policy, labels and
// the names of the engines (engine metadata goes under params.<engine>).
func ReservedParamKeys(engineNames []string) []string {
	return append([]string{ParamsError, ParamsTerraform, ParamsVolumes, ParamsPolicy, ParamsLabels, "ekairos"}, engineNames...)
}

// ParamsPolicy is the params key of a sandbox record holding its redacted network policy.
const ParamsPolicy = "policy"

// Desired states of a sandbox as declared in configuration.
const (
	DesiredRunning = "running"
	DesiredStopped = "stopped"
)

// SandboxRequest is a sandbox as declared.
type SandboxRequest struct {
	Backend      string
	Spec         SandboxSpec    // RecordID is filled in by the lifecycle
	Params       map[string]any // the caller's own params; must not use ReservedParamKeys
	DesiredState string         // DesiredRunning (default) or DesiredStopped
	// SetupID is the record id of a setup to start from ("" = none). Spec.Volumes name volume record ids in
	// VolumeID; the lifecycle resolves both to the engine's ids.
	SetupID string
	// Bookkeeping is what the configuration said that the record's own fields do not say exactly (the spelling
	// of durations, which engine options were set, ...), kept under params.terraform so that an import can
	// rebuild the configuration. Never secrets. Not part of ConfigHash.
	Bookkeeping map[string]any
}

// SandboxResult is a sandbox as the record and the engine see it.
type SandboxResult struct {
	Record  *Record
	Sandbox *Sandbox // nil when the engine object is gone or was never made
}

// ID is the record id.
func (r *SandboxResult) ID() string {
	if r == nil || r.Record == nil {
		return ""
	}
	return r.Record.ID
}

// Lifecycle is the record-first lifecycle, written once above every engine and store: no engine object exists
// without a record naming it, and the record id is known (and in Terraform state) before the engine is asked
// for anything.
type Lifecycle struct {
	Store   Store
	Engines EngineSource
	Now     func() time.Time
	// Retries of transient engine errors on reads before giving up (not flipping the record). Default 3.
	ReadRetries int
	// RefreshWindow < 0 reads every sandbox with a GET; otherwise ReadSandbox is served from one list per
	// engine that implements RefreshLister (see listed), and RefreshWindow is how long a list that failed is
	// remembered before a read asks again (0 = DefaultRefreshWindow).
	RefreshWindow time.Duration
	listState
	// DeleteRecords deletes records on destroy instead of keeping them as history with status shutdown.
	DeleteRecords bool
	// Host identifies this machine in a creating record's owner; default os.Hostname().
	Host string
	// Scope names the configuration this provider process works for (the provider's scope: by default its
	// working directory and workspace). Every record it makes carries it (params.terraform.scope), a create
	// adopts only records of its own scope, and sweep removes only records of the scopes of its states.
	Scope string

	// adoptMu makes adoptInterrupted's look-up and take-over one step within this process: Terraform creates
	// resources concurrently, and sandboxes of one for_each share a configuration hash, so without it every
	// concurrent create would take over the same abandoned record (one record and one engine object in
	// several resources' state). Once a create has taken a record over, its owner is this live process and
	// the next look-up skips it.
	adoptMu sync.Mutex
	// cands are the adoptable sandbox records per engine, loaded at most every candidatesTTL.
	cands map[string]*candidates
}

// candidatesTTL is how long a create reuses the list of adoptable records that an earlier create of this
// process loaded: the creates of one apply share one look-up instead of each listing the engine's records.
const candidatesTTL = 2 * time.Second

type candidates struct {
	at   time.Time
	recs []*Record
}

func (l *Lifecycle) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Lifecycle) host() string {
	if l.Host != "" {
		return l.Host
	}
	h, _ := os.Hostname()
	return h
}

// ConfigHash is a stable hash of what a sandbox request asks the engine for, without its env (which may hold
// secrets and is never hashed into a record).
func ConfigHash(req SandboxRequest) string {
	shape := map[string]any{
		"backend": req.Backend,
		"runtime": req.Spec.Runtime,
		"timeout": req.Spec.Timeout.Milliseconds(),
		"vcpus":   req.Spec.VCPUs,
		"ports":   req.Spec.Ports,
		"purpose": req.Spec.Purpose,
		"options": req.Spec.Options,
		"volumes": req.Spec.Volumes,
		"setup":   req.SetupID,
		"policy":  req.Spec.Policy.Redacted(),
		"params":  req.Params,
	}
	if ls := labelsShape(req.Spec.Labels); ls != nil {
		shape["labels"] = ls
	}
	b, _ := json.Marshal(shape) // map keys are sorted by encoding/json
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (l *Lifecycle) sandboxAttrs(req SandboxRequest) (Attrs, map[string]any) {
	params := map[string]any{}
	for k, v := range req.Params {
		params[k] = v
	}
	if req.Spec.Options != nil {
		params[req.Backend] = req.Spec.Options
	} else {
		params[req.Backend] = map[string]any{}
	}
	ports := make([]any, 0, len(req.Spec.Ports))
	for _, p := range req.Spec.Ports {
		ports = append(ports, p)
	}
	if len(req.Spec.Volumes) > 0 {
		mounts := make([]any, 0, len(req.Spec.Volumes))
		for _, m := range req.Spec.Volumes {
			mounts = append(mounts, map[string]any{"volumeId": m.VolumeID, "mountPath": m.MountPath})
		}
		params[ParamsVolumes] = mounts
	}
	if req.Spec.Policy != nil {
		params[ParamsPolicy] = req.Spec.Policy.Redacted()
	}
	withLabels(params, req.Spec.Labels)
	tf := copyMap(req.Bookkeeping)
	if req.SetupID != "" {
		tf["setupId"] = req.SetupID
	}
	if len(tf) > 0 {
		params[ParamsTerraform] = tf
	}
	a := Attrs{
		"provider": req.Backend,
		"ports":    ports,
		"params":   params,
	}
	if req.Spec.Runtime != "" {
		a["runtime"] = req.Spec.Runtime
	}
	if req.Spec.Timeout > 0 {
		a["timeout"] = req.Spec.Timeout.Milliseconds()
	}
	if req.Spec.VCPUs > 0 {
		a["vcpus"] = req.Spec.VCPUs
	}
	if req.Spec.Purpose != "" {
		a["purpose"] = req.Spec.Purpose
	}
	return a, params
}

// CreatingRecord is the record that step (1) of CreateSandbox writes for req: status creating, owned by the
// process ownerPID of this machine (lifecycletest.SimulateInterruptedCreate writes it for a dead owner).
func (l *Lifecycle) CreatingRecord(req SandboxRequest, ownerPID int) Attrs {
	now := NowMillis(l.now())
	attrs, params := l.sandboxAttrs(req)
	attrs["status"] = StatusCreating
	attrs["createdAt"] = now
	attrs["updatedAt"] = now
	params[ParamsTerraform] = mergeMaps(toMap(params[ParamsTerraform]), l.book(ConfigHash(req), ownerPID))
	return attrs
}

// CheckParams rejects caller params that use a reserved key (ReservedParamKeys of engineNames).
func CheckParams(params map[string]any, engineNames []string) error {
	reserved := ReservedParamKeys(engineNames)
	for _, k := range reserved {
		if _, ok := params[k]; ok {
			return fmt.Errorf("params key %q is reserved (reserved keys: %v)", k, reserved)
		}
	}
	return nil
}

// engineNames are the engines whose names are reserved params keys: those the engine source names
// (EngineLister), and always the request's own.
func (l *Lifecycle) engineNames(backend string) []string {
	var names []string
	if el, ok := l.Engines.(EngineLister); ok {
		names = el.EngineNames()
	}
	for _, n := range names {
		if n == backend {
			return names
		}
	}
	return append(names, backend)
}

// CreateSandbox runs the record-first create. The returned result carries the record id whenever a record was
// written, also with an error: the caller must put that id in state so that a half-made sandbox is destroyed
// through its record on the next apply.
func (l *Lifecycle) CreateSandbox(ctx context.Context, req SandboxRequest) (*SandboxResult, error) {
	defer l.forgetLists() // reads after this change must not be served from a list made before it
	if err := CheckParams(req.Params, l.engineNames(req.Backend)); err != nil {
		return nil, err
	}
	eng, err := l.Engines.Engine(req.Backend)
	if err != nil {
		return nil, err
	}
	hash := ConfigHash(req)

	// Resume a create that a killed apply on this machine left behind, rather than make a second engine object.
	rec, err := l.adoptInterrupted(ctx, req.Backend, hash)
	if err != nil {
		return nil, err
	}
	adopted := rec != nil
	if !adopted {
		rec, err = l.Store.Create(ctx, EntitySandboxes, NewID(), l.CreatingRecord(req, os.Getpid()))
		if err != nil {
			return nil, fmt.Errorf("writing the sandbox record: %w", err)
		}
	}
	res := &SandboxResult{Record: rec}
	spec := req.Spec
	spec.RecordID = rec.ID
	if req.SetupID != "" {
		if spec.Setup, err = l.ResolveSetup(ctx, req.Backend, req.SetupID); err != nil {
			return l.failCreate(ctx, res, req, err)
		}
	}
	if len(spec.Volumes) > 0 {
		if spec.Volumes, err = l.ResolveVolumes(ctx, req.Backend, spec.Volumes); err != nil {
			return l.failCreate(ctx, res, req, err)
		}
	}
	if err := ValidateSandboxSpec(eng, spec); err != nil {
		return l.failCreate(ctx, res, req, err)
	}

	var sb *Sandbox
	if adopted {
		found, ferr := eng.FindSandbox(ctx, rec.ID)
		switch {
		case ferr == nil:
			if found.State != StateRunning {
				if err := eng.StartSandbox(ctx, found.ExternalID); err != nil {
					return l.failCreate(ctx, res, req, err)
				}
			}
			// The interrupted create may not have written everything (env, options): apply the spec again.
			sb, err = eng.UpdateSandbox(ctx, found.ExternalID, spec)
			if err != nil {
				return l.failCreate(ctx, res, req, err)
			}
		case !errors.Is(ferr, ErrNotFound):
			return l.failCreate(ctx, res, req, ferr)
		}
	}
	if sb == nil {
		sb, err = eng.CreateSandbox(ctx, spec)
		if err != nil {
			return l.failCreate(ctx, res, req, err)
		}
	}
	res.Sandbox = sb
	if req.DesiredState == DesiredStopped && sb.State != StateStopped {
		if err := eng.StopSandbox(ctx, sb.ExternalID); err != nil {
			return l.failCreate(ctx, res, req, fmt.Errorf("stopping the new sandbox (desired_state = stopped): %w", err))
		}
		sb.State = StateStopped
	}

	attrs, params := l.sandboxAttrs(req)
	params[req.Backend] = mergeMaps(toMap(params[req.Backend]), sb.Metadata)
	// The bookkeeping stays: until Terraform hands the record back, a killed apply's next create adopts it.
	params[ParamsTerraform] = mergeMaps(toMap(params[ParamsTerraform]), l.book(hash, os.Getpid()))
	attrs["status"] = StatusActive
	attrs["externalSandboxId"] = sb.ExternalID
	attrs["sandboxUrl"] = nilIfEmpty(sb.URL)
	attrs["updatedAt"] = NowMillis(l.now())
	rec, err = l.Store.Update(ctx, EntitySandboxes, rec.ID, attrs)
	if err != nil {
		return res, fmt.Errorf("sandbox %s was created on %s as %s, but its record could not be updated: %w", res.ID(), req.Backend, sb.ExternalID, err)
	}
	res.Record = rec
	return res, nil
}

func (l *Lifecycle) failCreate(ctx context.Context, res *SandboxResult, req SandboxRequest, cause error) (*SandboxResult, error) {
	res.Record = l.failRecord(ctx, EntitySandboxes, res.Record, StatusError, cause)
	return res, fmt.Errorf("creating sandbox %s on %s: %w", res.ID(), req.Backend, cause)
}

// ScopeOf is the default scope of a configuration: its directory (absolute, symlinks resolved) and workspace.
func ScopeOf(dir, workspace string) string { return dir + "#" + workspace }

// book is the provider's bookkeeping of a record made (or taken over) by process pid on this machine.
func (l *Lifecycle) book(hash string, pid int) map[string]any {
	return map[string]any{BookOwner: map[string]any{"host": l.host(), "pid": pid}, BookConfigHash: hash, BookScope: l.Scope}
}

// adoptable reports whether a record's bookkeeping makes it a candidate for adoption by this process: not
// confirmed (no state holds it), of this scope, owned by a process of this machine that no longer runs.
// Records owned by other machines are left alone: nothing here can tell whether their owner still runs.
func (l *Lifecycle) adoptable(book map[string]any) bool {
	if book == nil || book[BookConfirmed] == true {
		return false
	}
	if scope, _ := book[BookScope].(string); scope != l.Scope {
		return false
	}
	o := toMap(book[BookOwner])
	host, _ := o["host"].(string)
	pid, _ := AsInt(o["pid"])
	return host == l.host() && pid > 0 && !processAlive(int(pid))
}

// nextUpdatedAt is the updatedAt of a write that swaps from rec's: now, and always later than rec's, so that
// the compare-and-swap on updatedAt can never expect a value that a later write restores.
func (l *Lifecycle) nextUpdatedAt(rec *Record) int64 {
	now := NowMillis(l.now())
	if old, ok := rec.Int("updatedAt"); ok && now <= old {
		return old + 1
	}
	return now
}

// adoptInterrupted takes over a sandbox record that a killed apply left behind: made for the same
// configuration (hash) and scope, never confirmed (no Terraform state holds it: the kill came before the state
// was saved), owned by a process of this machine that no longer runs, and still creating, active or error (an
// apply can be killed before, during or after the engine call). The take-over is a compare-and-swap on the
// record's updatedAt, so that of two applies (two processes) adopting the same record exactly one gets it;
// adoptMu makes look-up and swap one step among this process's concurrent creates.
func (l *Lifecycle) adoptInterrupted(ctx context.Context, backend, hash string) (*Record, error) {
	l.adoptMu.Lock()
	defer l.adoptMu.Unlock()
	if l.cands == nil {
		l.cands = map[string]*candidates{}
	}
	c := l.cands[backend]
	if c == nil || l.now().Sub(c.at) > candidatesTTL || l.now().Before(c.at) {
		c = &candidates{at: l.now()}
		for _, st := range []string{StatusCreating, StatusActive, StatusError} {
			recs, err := l.Store.Query(ctx, Query{Entity: EntitySandboxes, Where: []Cond{
				{Field: "status", Op: OpEq, Value: st},
				{Field: "provider", Op: OpEq, Value: backend},
			}, OrderBy: "createdAt"})
			if err != nil {
				return nil, fmt.Errorf("looking for interrupted creates: %w", err)
			}
			for _, r := range recs {
				if l.adoptable(toMap(r.JSONMap("params")[ParamsTerraform])) {
					c.recs = append(c.recs, r)
				}
			}
		}
		l.cands[backend] = c
	}
	for i := 0; i < len(c.recs); {
		r := c.recs[i]
		book := toMap(r.JSONMap("params")[ParamsTerraform])
		if book[BookConfigHash] != hash {
			i++
			continue
		}
		c.recs = append(c.recs[:i], c.recs[i+1:]...)
		params := copyMap(r.JSONMap("params"))
		nb := copyMap(book)
		delete(nb, BookConfirmed)
		params[ParamsTerraform] = mergeMaps(nb, l.book(hash, os.Getpid()))
		rec, err := l.Store.CompareAndUpdate(ctx, EntitySandboxes, r.ID, "updatedAt", r.Attrs["updatedAt"],
			Attrs{"params": params, "updatedAt": l.nextUpdatedAt(r)})
		if errors.Is(err, ErrStale) || errors.Is(err, ErrNotFound) {
			continue // another process took it over, or it changed: not ours
		}
		if err != nil {
			return nil, fmt.Errorf("taking over interrupted create %s: %w", r.ID, err)
		}
		return rec, nil
	}
	return nil, nil
}

// confirm records, once, that Terraform handed the record back: a plan or refresh read it from a state, so it
// is in a state and no later create may adopt it. field is the record's json field holding the bookkeeping
// (params of sandboxes, metadata of processes). Records without bookkeeping (made by applications) and
// confirmed ones are returned as they are. The write changes only the bookkeeping, not updatedAt (it is no change
// of the sandbox, and the resource's updated_at must not move on a plan). It is a plain update: the only writer
// that could race with it is an adoption of the same record, which needs the record's scope and so that
// configuration's state lock, which the plan holds.
func (l *Lifecycle) confirm(ctx context.Context, entity, field, key string, rec *Record) (*Record, error) {
	m := rec.JSONMap(field)
	book, ok := m[key].(map[string]any)
	if !ok || book[BookConfigHash] == nil || book[BookConfirmed] == true {
		return rec, nil
	}
	nm := copyMap(m)
	nb := copyMap(book)
	nb[BookConfirmed] = true
	nm[key] = nb
	got, err := l.Store.Update(ctx, entity, rec.ID, Attrs{field: nm})
	if err != nil {
		return nil, fmt.Errorf("recording that Terraform holds %s %s: %w", entity, rec.ID, err)
	}
	return got, nil
}

// ReadSandbox loads the record and asks the engine. It returns (nil, nil) when the sandbox is gone: no record,
// a record that is shutdown, or an engine object that no longer exists (the record is then marked shutdown, as
// @ekairos/sandbox's reconnect does, but only after transient errors were retried).
func (l *Lifecycle) ReadSandbox(ctx context.Context, id string) (*SandboxResult, error) {
	rec, err := l.Store.Get(ctx, EntitySandboxes, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading sandbox record %s: %w", id, err)
	}
	if rec.String("status") != StatusShutdown {
		if rec, err = l.confirm(ctx, EntitySandboxes, "params", ParamsTerraform, rec); err != nil {
			return nil, err
		}
	}
	res, gone, err := l.viewSandbox(ctx, rec)
	if gone && err == nil {
		err = l.markShutdown(ctx, rec.ID)
	}
	if err != nil || gone {
		return nil, err
	}
	return res, nil
}

// viewSandbox is the engine's view of a sandbox record, writing nothing: (nil, false, nil) for a shutdown record,
// the record alone for a half-made one (creating or error: kept in state so that Terraform replaces it,
// destroying it through its record), and gone when the engine no longer has the object.
func (l *Lifecycle) viewSandbox(ctx context.Context, rec *Record) (res *SandboxResult, gone bool, err error) {
	res = &SandboxResult{Record: rec}
	switch rec.String("status") {
	case StatusShutdown:
		return nil, false, nil
	case StatusCreating, StatusError:
		return res, false, nil
	}
	eng, err := l.Engines.Engine(rec.String("provider"))
	if err != nil {
		return nil, false, err
	}
	ext := rec.String("externalSandboxId")
	sb, err := l.readEngine(ctx, eng, rec, ext)
	if errors.Is(err, ErrNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading sandbox %s (%s on %s): %w", rec.ID, ext, eng.Name(), err)
	}
	res.Sandbox = sb
	return res, false, nil
}

func (l *Lifecycle) getWithRetry(ctx context.Context, eng Engine, ext string) (*Sandbox, error) {
	tries := l.ReadRetries
	if tries <= 0 {
		tries = 3
	}
	var err error
	for i := 0; i < tries; i++ {
		var sb *Sandbox
		sb, err = eng.GetSandbox(ctx, ext)
		if err == nil || errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			return sb, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
		}
	}
	return nil, err
}

func (l *Lifecycle) markShutdown(ctx context.Context, id string) error {
	now := NowMillis(l.now())
	_, err := l.Store.Update(ctx, EntitySandboxes, id, Attrs{"status": StatusShutdown, "shutdownAt": now, "updatedAt": now})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("marking sandbox record %s shutdown: %w", id, err)
	}
	return nil
}

// UpdateSandbox applies in-place changes: the engine's updatable settings, the desired state, and the record.
func (l *Lifecycle) UpdateSandbox(ctx context.Context, id string, req SandboxRequest) (*SandboxResult, error) {
	defer l.forgetLists() // reads after this change must not be served from a list made before it
	if err := CheckParams(req.Params, l.engineNames(req.Backend)); err != nil {
		return nil, err
	}
	rec, err := l.Store.Get(ctx, EntitySandboxes, id)
	if err != nil {
		return nil, fmt.Errorf("reading sandbox record %s: %w", id, err)
	}
	if rec.String("status") != StatusActive {
		return nil, fmt.Errorf("sandbox %s is %s, not active; it cannot be changed in place", id, rec.String("status"))
	}
	eng, err := l.Engines.Engine(rec.String("provider"))
	if err != nil {
		return nil, err
	}
	ext := rec.String("externalSandboxId")
	spec := req.Spec
	spec.RecordID = id
	if len(spec.Volumes) > 0 {
		if spec.Volumes, err = l.ResolveVolumes(ctx, req.Backend, spec.Volumes); err != nil {
			return nil, err
		}
	}
	sb, err := eng.UpdateSandbox(ctx, ext, spec)
	if err != nil {
		return nil, fmt.Errorf("updating sandbox %s (%s on %s): %w", id, ext, eng.Name(), err)
	}
	switch {
	case req.DesiredState == DesiredStopped && sb.State != StateStopped:
		if err := eng.StopSandbox(ctx, ext); err != nil {
			return nil, fmt.Errorf("stopping sandbox %s: %w", id, err)
		}
	case req.DesiredState != DesiredStopped && sb.State != StateRunning:
		if err := eng.StartSandbox(ctx, ext); err != nil {
			return nil, fmt.Errorf("starting sandbox %s: %w", id, err)
		}
	}
	if sb, err = eng.GetSandbox(ctx, ext); err != nil {
		return nil, fmt.Errorf("reading sandbox %s after update: %w", id, err)
	}
	attrs, params := l.sandboxAttrs(req)
	params[req.Backend] = mergeMaps(toMap(params[req.Backend]), sb.Metadata)
	if tf, ok := rec.JSONMap("params")[ParamsTerraform]; ok {
		params[ParamsTerraform] = mergeMaps(toMap(tf), toMap(params[ParamsTerraform]))
	}
	attrs["sandboxUrl"] = nilIfEmpty(sb.URL)
	attrs["updatedAt"] = NowMillis(l.now())
	rec, err = l.Store.Update(ctx, EntitySandboxes, id, attrs)
	if err != nil {
		return nil, fmt.Errorf("updating sandbox record %s: %w", id, err)
	}
	return &SandboxResult{Record: rec, Sandbox: sb}, nil
}

// DeleteSandbox removes the engine object (found by its record's external id, or by its label when the create
// never finished) and then marks the record shutdown with shutdownAt (or deletes it with DeleteRecords).
// Engine errors are returned, never swallowed: a record is only closed once its engine object is gone.
func (l *Lifecycle) DeleteSandbox(ctx context.Context, id string) error {
	defer l.forgetLists() // reads after this change must not be served from a list made before it
	rec, err := l.Store.Get(ctx, EntitySandboxes, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading sandbox record %s: %w", id, err)
	}
	eng, err := l.Engines.Engine(rec.String("provider"))
	if err != nil {
		return err
	}
	exts := []string{}
	if ext := rec.String("externalSandboxId"); ext != "" {
		exts = append(exts, ext)
	}
	if found, ferr := eng.FindSandbox(ctx, id); ferr == nil {
		if len(exts) == 0 || exts[0] != found.ExternalID {
			exts = append(exts, found.ExternalID)
		}
	} else if !errors.Is(ferr, ErrNotFound) {
		return fmt.Errorf("looking for the engine object of sandbox %s on %s: %w", id, eng.Name(), ferr)
	}
	for _, ext := range exts {
		if err := eng.DeleteSandbox(ctx, ext); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("deleting sandbox %s (%s on %s): %w", id, ext, eng.Name(), err)
		}
	}
	if l.DeleteRecords {
		return l.Store.Delete(ctx, EntitySandboxes, id)
	}
	return l.markShutdown(ctx, id)
}

func toMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mergeMaps(a, b map[string]any) map[string]any {
	out := copyMap(a)
	for k, v := range b {
		out[k] = v
	}
	return out
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
