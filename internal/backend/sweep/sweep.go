// Package sweep finds and removes what interrupted applies leave behind: engine objects that no live record
// names, and records that say "creating" long after any create could still be running. It is the `sweep`
// command of the design (cmd/sweep) and the sweeper of acceptance tests (ForTests, Sweeper), written once over
// backend.Store and backend.Engine, without Terraform types.
//
// What it removes (only with Options.Apply; a dry run changes nothing), and only what it can attribute: a record
// (and its object) of one of Options.Scopes when the sweep is scoped; an object whose record is missing only with
// Options.DeleteUnattributed. Everything else is reported as ProblemOtherScope or ProblemUnattributed and left
// alone.
//
//   - an engine object labelled with a record id whose record is shutdown (or missing, with
//     DeleteUnattributed): the object is deleted;
//   - an engine object whose record is error: the object is deleted, then the record is marked shutdown;
//   - an engine object whose record is active but names another object (a duplicate): the object is deleted;
//   - a creating record older than the create timeout, or whose owner (params.terraform.owner, a provider
//     process on this host) has exited: its object, if any, is deleted and the record is marked shutdown with
//     params.error = "swept: create never finished";
//   - an active record whose engine object is gone (the engine says not found): the record is marked shutdown,
//     as a refresh would do;
//   - with Options.Managed (the record ids of every Terraform state that uses the store), an active record that
//     no state names: its object is deleted and the record is marked shutdown;
//   - a running sandbox_processes record whose sandbox is gone, or that outlived its own timeout: it is marked
//     lost (the library's status for a run whose outcome is unknown);
//   - volumes of engines that implement backend.VolumeEngine whose record is missing or shutdown (deleted), error
//     or abandoned creating (deleted, and the record marked shutdown); workspaces of engines that implement
//     backend.WorkspaceEngine whose record is missing or archived (deleted).
//
// Setup artifacts are not swept: backend.SetupEngine has no way to list them (an engine that adds ListSetups can
// be swept the same way).
package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// DefaultCreateTimeout is how old a creating record must be before sweep treats its create as abandoned (the
// provider's default create timeout is shorter).
const DefaultCreateTimeout = 10 * time.Minute

// ProcessGrace is added to a command's own timeout before its running process record counts as abandoned.
const ProcessGrace = time.Minute

// SweptError is written to params.error of a creating record that sweep closes.
const SweptError = "swept: create never finished"

// Kinds of objects a finding is about.
const (
	KindSandbox   = "sandbox"
	KindVolume    = "volume"
	KindWorkspace = "workspace"
	KindProcess   = "process"
)

// Problems a finding reports.
const (
	ProblemNoRecord     = "no record"                        // an engine object labelled with a record id no record has
	ProblemShutdown     = "record shutdown"                  // an engine object whose record is shutdown
	ProblemArchived     = "record archived"                  // a workspace whose record is archived
	ProblemError        = "record error"                     // an engine object whose record is error
	ProblemDuplicate    = "record names another object"      // an engine object its (active) record does not name
	ProblemStale        = "creating, abandoned"              // a creating record past the timeout or with a dead owner
	ProblemGone         = "engine object gone"               // an active record whose engine object is gone
	ProblemUnmanaged    = "in no Terraform state"            // an active record that no given state names
	ProblemProcess      = "running, never finished"          // a running process record that cannot still run
	ProblemInProgress   = "creating, in progress"            // informational: a creating record too young to sweep
	ProblemUnlabelled   = "no record id"                     // informational: an engine object without a record id
	ProblemOtherPlace   = "object elsewhere"                 // informational: a record whose object lives elsewhere
	ProblemNoEngine     = "engine not configured"            // informational: a record of an engine sweep cannot ask
	ProblemUnknownState = "unknown record status"            // informational
	ProblemInUse        = "in use"                           // informational: a volume still mounted
	ProblemListFailed   = "listing failed"                   // informational: the engine could not be listed
	ProblemRecordFailed = "record could not be read"         // informational
	ProblemNotSwept     = "not swept: engine cannot list it" // informational
	ProblemOtherScope   = "another configuration's"          // informational: its record belongs to a scope of no given state
	ProblemUnattributed = "cannot attribute"                 // informational: no record, or a record without a scope
)

// Actions sweep takes (with Apply) or would take.
const (
	ActionDelete         = "delete object"
	ActionDeleteShutdown = "delete object, mark record shutdown"
	ActionShutdown       = "mark record shutdown"
	ActionLost           = "mark record lost"
)

// Options tune a sweep.
type Options struct {
	// Apply removes what is found. Without it sweep only reports (a dry run).
	Apply bool
	// CreateTimeout is how old (by createdAt) a creating record must be to count as abandoned. 0 means
	// DefaultCreateTimeout; a negative value makes every creating record abandoned (tests, after every apply
	// has ended).
	CreateTimeout time.Duration
	// IgnoreOwners disables the owner check: by default a creating record whose owner is a process on this
	// host that no longer runs counts as abandoned at once, whatever its age (the same check by which the
	// next apply adopts it).
	IgnoreOwners bool
	// Host is this machine's name as creating records' owners carry it; "" means os.Hostname().
	Host string
	// Managed, when not nil, holds the record ids of every Terraform state that uses the store: active sandbox
	// records it does not hold are swept as unmanaged (an apply killed after its create finished but before
	// Terraform saved the state). Leave it nil unless the given states are all the store's users.
	Managed map[string]bool
	// Scopes, when not nil, are the configurations (provider scopes) of the given states: sweep then acts only
	// on records whose params.terraform.scope is one of them. Another configuration's records and objects, and
	// records without a scope, are reported and left alone.
	Scopes map[string]bool
	// DeleteUnattributed lets sweep delete engine objects labelled with a record id that no record has. By
	// default they are reported and left alone: such an object may belong to another record store (another
	// configuration's records file) that shares the engine account or local root.
	DeleteUnattributed bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Finding is one thing sweep found. Findings without an Action are informational.
type Finding struct {
	Kind       string // KindSandbox, KindVolume, KindWorkspace or KindProcess
	Engine     string
	RecordID   string
	ExternalID string
	Status     string // the record's status; "" when there is no record
	Problem    string
	Detail     string // more about the problem (age, owner, error)
	Action     string // what Apply does; "" = nothing
	Applied    bool   // the action was carried out
	Err        error  // the action (or the look-up behind an informational finding) failed
}

// Actionable reports whether the finding asks for an action.
func (f Finding) Actionable() bool { return f.Action != "" }

// Report is the outcome of a sweep.
type Report struct {
	Applied  bool
	Findings []Finding
	// Listed counts what each engine listed, by "<engine> <kind>s" (e.g. "local sandboxes").
	Listed map[string]int
	// Records counts the non-terminal sandbox records looked at, by status.
	Records map[string]int
	// Notes say what was not swept and why.
	Notes []string
}

// Actionable returns the findings that ask for an action.
func (r *Report) Actionable() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Actionable() {
			out = append(out, f)
		}
	}
	return out
}

// Clean reports whether nothing needs an action and nothing failed.
func (r *Report) Clean() bool { return len(r.Actionable()) == 0 && r.Err() == nil }

// Err joins the errors of failed actions and look-ups; nil when there were none.
func (r *Report) Err() error {
	var errs []error
	for _, f := range r.Findings {
		if f.Err != nil {
			id := f.RecordID
			if id == "" {
				id = f.ExternalID
			}
			what := f.Kind
			if id != "" {
				what += " " + id
			}
			errs = append(errs, fmt.Errorf("%s on %s (%s): %w", what, f.Engine, f.Problem, f.Err))
		}
	}
	return errors.Join(errs...)
}

// Sweep lists every engine's objects and the store's non-terminal records, reports what one has and the other
// lacks, and with opts.Apply removes it. It returns an error only when the store cannot be read; a failed
// engine listing or action is a finding with Err set (Report.Err joins them), and records of an engine that
// could not be listed are left alone.
func Sweep(ctx context.Context, store backend.Store, engines backend.EngineMap, opts Options) (*Report, error) {
	s := &sweeper{ctx: ctx, store: store, engines: engines, opts: opts,
		rep:     &Report{Applied: opts.Apply, Listed: map[string]int{}, Records: map[string]int{}},
		records: map[string]*backend.Record{}, objects: map[string]map[string][]*backend.Sandbox{}, listed: map[string]bool{},
		closing: map[string]bool{}}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	if s.opts.CreateTimeout == 0 {
		s.opts.CreateTimeout = DefaultCreateTimeout
	}
	if s.opts.Host == "" {
		s.opts.Host, _ = os.Hostname()
	}
	for _, status := range []string{backend.StatusCreating, backend.StatusActive, backend.StatusError} {
		recs, err := store.Query(ctx, backend.Query{Entity: backend.EntitySandboxes,
			Where: []backend.Cond{{Field: "status", Op: backend.OpEq, Value: status}}})
		if err != nil {
			return nil, fmt.Errorf("listing %s sandbox records: %w", status, err)
		}
		s.rep.Records[status] = len(recs)
		for _, r := range recs {
			s.records[r.ID] = r
		}
	}
	names := make([]string, 0, len(engines))
	for name := range engines {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s.sweepEngineSandboxes(name, engines[name])
	}
	s.sweepRecords()
	if err := s.sweepProcesses(); err != nil {
		return nil, err
	}
	for _, name := range names {
		s.sweepVolumes(name, engines[name])
		s.sweepWorkspaces(name, engines[name])
		if _, ok := engines[name].(backend.SetupEngine); ok {
			s.rep.Notes = append(s.rep.Notes, name+": setup artifacts are not swept (backend.SetupEngine cannot list them)")
		}
	}
	return s.rep, nil
}

type sweeper struct {
	ctx     context.Context
	store   backend.Store
	engines backend.EngineMap
	opts    Options
	rep     *Report
	records map[string]*backend.Record               // non-terminal sandbox records by id
	objects map[string]map[string][]*backend.Sandbox // engine -> record id -> objects labelled with it
	listed  map[string]bool                          // engines whose sandboxes were listed
	closing map[string]bool                          // sandbox records this sweep closes (or would close)
}

func (s *sweeper) add(f Finding) { s.rep.Findings = append(s.rep.Findings, f) }

// record returns the sandbox record id, from the non-terminal ones loaded up front or from the store; nil when
// it does not exist.
func (s *sweeper) record(entity, id string) (*backend.Record, error) {
	if entity == backend.EntitySandboxes {
		if r, ok := s.records[id]; ok {
			return r, nil
		}
	}
	r, err := s.store.Get(s.ctx, entity, id)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil
	}
	return r, err
}

func (s *sweeper) sweepEngineSandboxes(name string, eng backend.Engine) {
	sbs, err := eng.ListSandboxes(s.ctx)
	if err != nil {
		s.add(Finding{Kind: KindSandbox, Engine: name, Problem: ProblemListFailed, Err: err})
		return
	}
	s.listed[name] = true
	s.rep.Listed[name+" sandboxes"] = len(sbs)
	byRecord := map[string][]*backend.Sandbox{}
	s.objects[name] = byRecord
	sort.Slice(sbs, func(i, j int) bool { return sbs[i].ExternalID < sbs[j].ExternalID })
	for _, sb := range sbs {
		f := Finding{Kind: KindSandbox, Engine: name, RecordID: sb.RecordID, ExternalID: sb.ExternalID}
		if sb.RecordID == "" {
			f.Problem = ProblemUnlabelled
			f.Detail = "left alone: nothing tells which record it belongs to"
			s.add(f)
			continue
		}
		byRecord[sb.RecordID] = append(byRecord[sb.RecordID], sb)
		rec, err := s.record(backend.EntitySandboxes, sb.RecordID)
		if err != nil {
			f.Problem, f.Err = ProblemRecordFailed, err
			s.add(f)
			continue
		}
		if rec == nil {
			f.Problem, f.Action = ProblemNoRecord, ActionDelete
			s.apply(&f, eng, sb.ExternalID, nil)
			continue
		}
		f.Status = rec.String("status")
		if p := rec.String("provider"); p != name {
			f.Problem, f.Action = ProblemDuplicate, ActionDelete
			f.Detail = fmt.Sprintf("the record is on engine %q", p)
			s.apply(&f, eng, sb.ExternalID, nil)
			continue
		}
		switch f.Status {
		case backend.StatusShutdown:
			f.Problem, f.Action = ProblemShutdown, ActionDelete
			s.apply(&f, eng, sb.ExternalID, nil)
		case backend.StatusError:
			f.Problem, f.Action = ProblemError, ActionDeleteShutdown
			f.Detail = oneLine(rec.JSONMap("params")[backend.ParamsError])
			s.apply(&f, eng, sb.ExternalID, rec)
		case backend.StatusCreating:
			if stale, why := s.stale(rec); stale {
				f.Problem, f.Action, f.Detail = ProblemStale, ActionDeleteShutdown, why
				s.apply(&f, eng, sb.ExternalID, rec)
			} else {
				f.Problem, f.Detail = ProblemInProgress, why
				s.add(f)
			}
		case backend.StatusActive:
			ext := rec.String("externalSandboxId")
			switch {
			case ext != "" && ext != sb.ExternalID:
				f.Problem, f.Action = ProblemDuplicate, ActionDelete
				f.Detail = "the record names " + ext
				s.apply(&f, eng, sb.ExternalID, nil)
			case s.opts.Managed != nil && !s.opts.Managed[rec.ID]:
				f.Problem, f.Action = ProblemUnmanaged, ActionDeleteShutdown
				s.apply(&f, eng, sb.ExternalID, rec)
			}
		default:
			f.Problem = ProblemUnknownState
			s.add(f)
		}
	}
}

// sweepRecords handles the non-terminal records whose engine object the listings did not show.
func (s *sweeper) sweepRecords() {
	ids := make([]string, 0, len(s.records))
	for id := range s.records {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := s.records[id]
		name := rec.String("provider")
		status := rec.String("status")
		if status == backend.StatusError {
			continue // Terraform holds it tainted and replaces it; its object, if any, was handled above
		}
		if _, seen := s.objects[name][id]; seen {
			continue
		}
		f := Finding{Kind: KindSandbox, Engine: name, RecordID: id, ExternalID: rec.String("externalSandboxId"), Status: status}
		eng, ok := s.engines[name]
		if !ok {
			f.Problem, f.Detail = ProblemNoEngine, "left alone"
			s.add(f)
			continue
		}
		if !s.listed[name] {
			continue // the listing failed: already reported
		}
		if where, elsewhere := s.elsewhere(eng, rec); elsewhere {
			f.Problem, f.Detail = ProblemOtherPlace, "the record's object is at "+where+", not under this engine's root: left alone"
			s.add(f)
			continue
		}
		switch status {
		case backend.StatusCreating:
			stale, why := s.stale(rec)
			if !stale {
				f.Problem, f.Detail = ProblemInProgress, why
				s.add(f)
				continue
			}
			f.Problem, f.Detail, f.Action = ProblemStale, why+"; no engine object", ActionShutdown
			// The object may have appeared since the listing: find it by its label.
			sb, err := eng.FindSandbox(s.ctx, id)
			switch {
			case err == nil:
				f.ExternalID, f.Action, f.Detail = sb.ExternalID, ActionDeleteShutdown, why
				s.apply(&f, eng, sb.ExternalID, rec)
			case errors.Is(err, backend.ErrNotFound):
				s.apply(&f, nil, "", rec)
			default:
				f.Err = err
				s.add(f)
			}
		case backend.StatusActive:
			ext := rec.String("externalSandboxId")
			var (
				sb  *backend.Sandbox
				err error
			)
			if ext != "" {
				sb, err = eng.GetSandbox(s.ctx, ext)
			} else {
				sb, err = eng.FindSandbox(s.ctx, id)
			}
			switch {
			case err == nil:
				// It exists (it appeared after the listing, or the engine lists only part of what it has).
				if s.opts.Managed != nil && !s.opts.Managed[id] {
					f.ExternalID = sb.ExternalID
					f.Problem, f.Action = ProblemUnmanaged, ActionDeleteShutdown
					s.apply(&f, eng, sb.ExternalID, rec)
				}
			case errors.Is(err, backend.ErrNotFound):
				f.Problem, f.Action = ProblemGone, ActionShutdown
				if s.opts.Managed != nil && !s.opts.Managed[id] {
					f.Detail = "and in no Terraform state"
				}
				s.apply(&f, nil, "", rec)
			default:
				f.Problem, f.Err = ProblemRecordFailed, err
				s.add(f)
			}
		}
	}
}

// elsewhere reports whether a record's engine object lives outside this engine's reach: for an engine with a
// root directory (local), a record whose params.<engine>.dir is not under it was made with another root, and
// a sweep with the wrong root must not close it.
func (s *sweeper) elsewhere(eng backend.Engine, rec *backend.Record) (string, bool) {
	rooted, ok := eng.(backend.Rooted)
	if !ok || rooted.Root() == "" {
		return "", false
	}
	dir, _ := toMap(rec.JSONMap("params")[eng.Name()])["dir"].(string)
	if dir == "" {
		return "", false
	}
	rel, err := filepath.Rel(rooted.Root(), dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return dir, true
	}
	return "", false
}

// stale reports whether a creating record is abandoned, and why (or why not).
func (s *sweeper) stale(rec *backend.Record) (bool, string) {
	now := s.opts.Now()
	created, ok := rec.Int("createdAt")
	age := time.Duration(0)
	if ok {
		age = now.Sub(time.UnixMilli(created))
	}
	if s.opts.CreateTimeout < 0 {
		return true, "every creating record counts as abandoned"
	}
	if ok && age > s.opts.CreateTimeout {
		return true, fmt.Sprintf("created %s ago (timeout %s)", age.Round(time.Second), s.opts.CreateTimeout)
	}
	if !s.opts.IgnoreOwners {
		o := toMap(toMap(rec.JSONMap("params")[backend.ParamsTerraform])["owner"])
		host, _ := o["host"].(string)
		pid, _ := backend.AsInt(o["pid"])
		if host != "" && host == s.opts.Host && pid > 0 && !processAlive(int(pid)) {
			return true, fmt.Sprintf("its owner, pid %d on this host, has exited", pid)
		}
	}
	return false, fmt.Sprintf("created %s ago (timeout %s)", age.Round(time.Second), s.opts.CreateTimeout)
}

// apply carries out f.Action when sweeping for real: delete the engine object ext (when eng is not nil), then
// close rec (when not nil). The finding is added either way.
func (s *sweeper) apply(f *Finding, eng backend.Engine, ext string, rec *backend.Record) {
	defer func() { s.add(*f) }()
	if !s.attributed(f, backend.EntitySandboxes) {
		return
	}
	if rec != nil {
		s.closing[rec.ID] = true
	}
	if !s.opts.Apply {
		return
	}
	if eng != nil && ext != "" {
		if err := eng.DeleteSandbox(s.ctx, ext); err != nil && !errors.Is(err, backend.ErrNotFound) {
			f.Err = err // never close a record whose object is still there
			return
		}
	}
	if rec != nil {
		if err := s.closeRecord(backend.EntitySandboxes, rec, backend.StatusShutdown, f.Problem == ProblemStale); err != nil {
			f.Err = err
			return
		}
	}
	f.Applied = true
}

// attributed reports whether sweep may act on the finding's record and object: the record exists and, when
// the sweep is scoped (Options.Scopes), belongs to one of the given states' configurations. Otherwise the
// finding becomes informational (problem ProblemOtherScope or ProblemUnattributed, the original problem in
// the detail) and false is returned.
func (s *sweeper) attributed(f *Finding, entity string) bool {
	leave := func(problem, why string) bool {
		detail := f.Problem
		if f.Detail != "" {
			detail += ", " + f.Detail
		}
		f.Problem, f.Action, f.Detail = problem, "", why+"; left alone (would have been: "+detail+")"
		return false
	}
	if f.RecordID == "" {
		return leave(ProblemUnattributed, "no record id")
	}
	rec, err := s.record(entity, f.RecordID)
	if err != nil {
		f.Err = err
		return leave(ProblemRecordFailed, "its record could not be read")
	}
	if rec == nil {
		if s.opts.DeleteUnattributed {
			return true
		}
		return leave(ProblemUnattributed, "no record has its id (it may belong to another record store; -unattributed deletes such objects)")
	}
	if s.opts.Scopes == nil {
		return true
	}
	scope := Scope(rec)
	if scope == "" {
		return leave(ProblemUnattributed, "its record carries no scope (made before scopes, or by an application)")
	}
	if !s.opts.Scopes[scope] {
		return leave(ProblemOtherScope, "its record belongs to "+scope+", not to a given state")
	}
	return true
}

// Scope is the configuration a record belongs to: params.terraform.scope (metadata.terraform.scope of a
// process record); "" when it has none.
func Scope(rec *backend.Record) string {
	if rec == nil {
		return ""
	}
	field, key := "params", backend.ParamsTerraform
	if rec.Entity == backend.EntityProcesses {
		field, key = "metadata", backend.MetadataTerraform
	}
	scope, _ := toMap(rec.JSONMap(field)[key])[backend.BookScope].(string)
	return scope
}

// closeRecord gives a record its terminal status (shutdown) with shutdownAt, and params.error for an abandoned
// create.
func (s *sweeper) closeRecord(entity string, rec *backend.Record, status string, abandoned bool) error {
	now := backend.NowMillis(s.opts.Now())
	attrs := backend.Attrs{"status": status, "shutdownAt": now, "updatedAt": now}
	if abandoned {
		params := map[string]any{}
		for k, v := range rec.JSONMap("params") {
			params[k] = v
		}
		params[backend.ParamsError] = SweptError
		attrs["params"] = params
	}
	_, err := s.store.Update(s.ctx, entity, rec.ID, attrs)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	return err
}

// sweepProcesses closes running process records that cannot still run: their sandbox is gone, or they outlived
// their own timeout.
func (s *sweeper) sweepProcesses() error {
	recs, err := s.store.Query(s.ctx, backend.Query{Entity: backend.EntityProcesses,
		Where: []backend.Cond{{Field: "status", Op: backend.OpEq, Value: backend.ProcessRunning}}, OrderBy: "startedAt"})
	if err != nil {
		return fmt.Errorf("listing running process records: %w", err)
	}
	now := s.opts.Now()
	for _, p := range recs {
		f := Finding{Kind: KindProcess, Engine: p.String("provider"), RecordID: p.ID, Status: p.String("status")}
		why := ""
		sbID := p.String("sandboxId")
		sb, err := s.record(backend.EntitySandboxes, sbID)
		switch {
		case err != nil:
			f.Problem, f.Err = ProblemRecordFailed, err
			s.add(f)
			continue
		case sb == nil && sbID != "":
			why = "its sandbox " + sbID + " has no record"
		case sb != nil && sb.String("status") == backend.StatusShutdown:
			why = "its sandbox " + sbID + " is shutdown"
		case s.closing[sbID]:
			why = "its sandbox " + sbID + " is swept"
		}
		if why == "" {
			started, ok := p.Int("startedAt")
			timeout, _ := backend.AsInt(p.JSONMap("metadata")["timeoutMs"])
			if ok && timeout > 0 && now.Sub(time.UnixMilli(started)) > time.Duration(timeout)*time.Millisecond+ProcessGrace {
				why = fmt.Sprintf("started %s ago, timeout %s", now.Sub(time.UnixMilli(started)).Round(time.Second), time.Duration(timeout)*time.Millisecond)
			}
		}
		if why == "" {
			continue
		}
		f.Problem, f.Detail, f.Action = ProblemProcess, why, ActionLost
		if s.opts.Apply {
			end := backend.NowMillis(now)
			md := map[string]any{}
			for k, v := range p.JSONMap("metadata") {
				md[k] = v
			}
			// The library's value for a run whose outcome is unknown, as a read of its sandbox_command writes it.
			md["lost"] = map[string]any{"reason": "swept: the run never finished (" + why + ")", "at": end}
			_, err := s.store.Update(s.ctx, backend.EntityProcesses, p.ID, backend.Attrs{
				"status": backend.ProcessLost, "updatedAt": end, "metadata": md})
			if err != nil && !errors.Is(err, backend.ErrNotFound) {
				f.Err = err
			} else {
				f.Applied = true
			}
		}
		s.add(f)
	}
	return nil
}

// orphanStatus reports whether a volume or workspace record (nil when missing) means that its engine object
// should go, why, and the status to close the record with afterwards ("" = leave the record as it is).
func (s *sweeper) orphanStatus(kind string, rec *backend.Record) (problem, detail, closeWith string, orphan bool) {
	if rec == nil {
		return ProblemNoRecord, "", "", true
	}
	status := rec.String("status")
	switch {
	case status == backend.StatusShutdown:
		return ProblemShutdown, "", "", true
	case kind == KindWorkspace && status == backend.WorkspaceArchived:
		return ProblemArchived, "", "", true
	case kind == KindVolume && status == backend.StatusError:
		return ProblemError, oneLine(rec.JSONMap("params")[backend.ParamsError]), backend.StatusShutdown, true
	case kind == KindVolume && status == backend.StatusCreating:
		if stale, why := s.stale(rec); stale {
			return ProblemStale, why, backend.StatusShutdown, true
		}
	}
	return "", "", "", false
}

func (s *sweeper) sweepVolumes(name string, eng backend.Engine) {
	ve, ok := eng.(backend.VolumeEngine)
	if !ok {
		return
	}
	vols, err := ve.ListVolumes(s.ctx)
	objs := make([]listedObject, 0, len(vols))
	for _, v := range vols {
		objs = append(objs, listedObject{recordID: v.RecordID, externalID: v.ExternalID})
	}
	s.sweepListed(KindVolume, backend.EntityVolumes, name, "volumes", objs, err, ve.DeleteVolume)
}

func (s *sweeper) sweepWorkspaces(name string, eng backend.Engine) {
	we, ok := eng.(backend.WorkspaceEngine)
	if !ok {
		return
	}
	wss, err := we.ListWorkspaces(s.ctx)
	objs := make([]listedObject, 0, len(wss))
	for _, w := range wss {
		objs = append(objs, listedObject{recordID: w.RecordID, externalID: w.ExternalID})
	}
	s.sweepListed(KindWorkspace, backend.EntityWorkspaces, name, "workspaces", objs, err, we.DeleteWorkspace)
}

// listedObject is a volume or workspace as its engine lists it.
type listedObject struct{ recordID, externalID string }

// sweepListed reports (and with Apply deletes) the listed objects of one kind whose record says they should go
// (orphanStatus), closing the record afterwards where orphanStatus says so. listErr is the listing's error.
func (s *sweeper) sweepListed(kind, entity, engine, plural string, objs []listedObject, listErr error,
	del func(ctx context.Context, externalID string) error) {
	if listErr != nil {
		s.add(Finding{Kind: kind, Engine: engine, Problem: ProblemListFailed, Err: listErr})
		return
	}
	s.rep.Listed[engine+" "+plural] = len(objs)
	for _, o := range objs {
		f := Finding{Kind: kind, Engine: engine, RecordID: o.recordID, ExternalID: o.externalID}
		if o.recordID == "" {
			f.Problem, f.Detail = ProblemUnlabelled, "left alone"
			s.add(f)
			continue
		}
		rec, err := s.record(entity, o.recordID)
		if err != nil {
			f.Problem, f.Err = ProblemRecordFailed, err
			s.add(f)
			continue
		}
		problem, detail, closeWith, orphan := s.orphanStatus(kind, rec)
		if !orphan {
			continue
		}
		f.Status, f.Problem, f.Detail, f.Action = rec.String("status"), problem, detail, ActionDelete
		if closeWith != "" {
			f.Action = ActionDeleteShutdown
		}
		if !s.attributed(&f, entity) {
			s.add(f)
			continue
		}
		if s.opts.Apply {
			err := del(s.ctx, o.externalID)
			switch {
			case errors.Is(err, backend.ErrInUse):
				f.Problem, f.Action, f.Detail = ProblemInUse, "", "a sandbox still mounts it: left for the next sweep"
			case err != nil && !errors.Is(err, backend.ErrNotFound):
				f.Err = err
			case closeWith != "":
				if err := s.closeRecord(entity, rec, closeWith, problem == ProblemStale); err != nil {
					f.Err = err
				} else {
					f.Applied = true
				}
			default:
				f.Applied = true
			}
		}
		s.add(f)
	}
}

func toMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

// oneLine renders a params.error value (a string, normally) on one line, cut to 120 characters.
func oneLine(v any) string {
	if v == nil {
		return ""
	}
	s := strings.Join(strings.Fields(fmt.Sprint(v)), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:117]) + "..."
	}
	return s
}

// sortFindings orders findings by kind, engine and id, actionable ones first within a kind.
func sortFindings(fs []Finding) {
	kinds := []string{KindSandbox, KindVolume, KindWorkspace, KindProcess}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := slices.Index(kinds, a.Kind) - slices.Index(kinds, b.Kind); c != 0 {
			return c
		}
		if a.Actionable() != b.Actionable() {
			if a.Actionable() {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.Engine, b.Engine); c != 0 {
			return c
		}
		return strings.Compare(a.RecordID+a.ExternalID, b.RecordID+b.ExternalID)
	})
}
