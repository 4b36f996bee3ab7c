package backend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync/atomic"
	"time"
)

// Process statuses of sandbox_processes, the values @ekairos/sandbox writes.
const (
	ProcessRunning = "running"
	ProcessExited  = "exited" // ran to the end with exit code 0
	ProcessFailed  = "failed" // ended with a non-zero exit code, or could not run
	ProcessKilled  = "killed" // killed at its timeout
	// ProcessLost is a run whose outcome nobody knows: its provider was killed, or the store was unreachable
	// when the run ended, so its record was left running. The library's value for the same case.
	ProcessLost = "lost"
)

// MetadataTerraform is the key of a process record's metadata that holds the provider's bookkeeping (owner,
// config hash, scope, confirmed), as params.terraform does for a sandbox record.
const MetadataTerraform = "terraform"

// LostGrace is how long after its timeout a running record whose owner cannot be checked (another machine,
// or no owner recorded) is taken for lost.
const LostGrace = 10 * time.Minute

// CommandHash is a stable hash of what a command run asks for: where it runs, its argv, cwd, timeout and the
// names (never the values) of its env.
func CommandHash(req CommandRequest) string {
	keys := make([]string, 0, len(req.Env))
	for k := range req.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b, _ := json.Marshal(map[string]any{"sandbox": req.SandboxID, "workspace": req.WorkspaceID, "argv": req.Argv,
		"cwd": req.Cwd, "timeout": req.Timeout.Milliseconds(), "env": keys, "limit": req.OutputLimit})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DefaultOutputLimit is how many bytes of stdout and of stderr a command result keeps (the last ones).
const DefaultOutputLimit = 64 * 1024

// CommandRequest is one command run in a sandbox at apply time.
type CommandRequest struct {
	SandboxID   string // the sandbox's record id (exactly one of SandboxID and WorkspaceID)
	WorkspaceID string // the workspace's record id
	Argv        []string
	Env         map[string]string // may hold secrets: never recorded
	Cwd         string
	Timeout     time.Duration
	OutputLimit int // bytes kept of each stream; 0 = DefaultOutputLimit
	// Bookkeeping is kept under metadata.terraform for import: what the configuration said that the record's
	// own fields do not (never env values).
	Bookkeeping map[string]any
	// Labels are recorded as metadata.labels.
	Labels map[string]string
	// Action names the Terraform action that runs the command ("" = the sandbox_command resource). Such a run
	// is never in a state: its record is confirmed from the start (metadata.terraform.action names the action),
	// so no later run takes it over, and every invocation is a record of its own.
	Action string
	// Output, when set, receives the command's output as it comes (stream "stdout" or "stderr"), from engines
	// that stream it (ExecRequest.Output); from the others it receives each stream once the command ended.
	// It may be called from another goroutine, never concurrently.
	Output func(stream string, p []byte)
}

// CommandResult is a finished run.
type CommandResult struct {
	Record          *Record // the sandbox_processes record
	ExitCode        int
	Stdout, Stderr  string
	StdoutTruncated bool
	StderrTruncated bool
	Status          string
	// Ran: the command ran to its end (its exit code is known), even when RunCommand also returns an error
	// because the run's record could not be updated.
	Ran bool
}

// ErrSandboxNotActive is returned when a command targets a sandbox whose record is not active.
var ErrSandboxNotActive = errors.New("sandbox not active")

// RunCommand runs a command in a sandbox and records the run in sandbox_processes, as @ekairos/sandbox's
// runCommandProcess does: a record with status running first, then exited, failed or killed with its exit
// code. The sandbox record must be active. A stopped sandbox is started for the run and stopped again after.
// The result is returned with a nil error whatever the exit code; an error means the command could not run
// (the record, when written, is then failed).
func (l *Lifecycle) RunCommand(ctx context.Context, req CommandRequest) (*CommandResult, error) {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, errors.New("command is empty")
	}
	engName, exec, done, err := l.commandTarget(ctx, req)
	if err != nil {
		return nil, err
	}
	defer done()
	now := NowMillis(l.now())
	hash := CommandHash(req)
	args := make([]any, 0, len(req.Argv)-1)
	for _, a := range req.Argv[1:] {
		args = append(args, a)
	}
	attrs := Attrs{
		"kind":      "command",
		"mode":      "foreground",
		"status":    ProcessRunning,
		"provider":  engName,
		"command":   req.Argv[0],
		"args":      args,
		"startedAt": now,
		"updatedAt": now,
		"metadata": map[string]any{"source": "terraform", "timeoutMs": req.Timeout.Milliseconds(),
			MetadataTerraform: l.book(hash, os.Getpid())},
	}
	if len(req.Bookkeeping) > 0 {
		// Beside the owner and configuration hash, never instead of them: a run without them is never taken over
		// after a killed apply.
		attrs["metadata"] = map[string]any{"source": "terraform", "timeoutMs": req.Timeout.Milliseconds(),
			MetadataTerraform: mergeMaps(l.book(hash, os.Getpid()), req.Bookkeeping)}
	}
	if md, ok := attrs["metadata"].(map[string]any); ok {
		withLabels(md, req.Labels)
		if req.Action != "" {
			md[MetadataTerraform] = mergeMaps(toMap(md[MetadataTerraform]), map[string]any{BookConfirmed: true, "action": req.Action})
		}
	}
	if req.Cwd != "" {
		attrs["cwd"] = req.Cwd
	}
	if req.SandboxID != "" {
		attrs["sandboxId"] = req.SandboxID
	} else {
		attrs["workspaceId"] = req.WorkspaceID
	}
	// A run that a killed apply started but never saved in a state is run again under its own record, rather
	// than leave that record running and write a second one.
	var rec *Record
	if req.Action == "" {
		if rec, err = l.adoptRun(ctx, req, hash, attrs); err != nil {
			return nil, err
		}
	}
	if rec == nil {
		if rec, err = l.Store.Create(ctx, EntityProcesses, NewID(), attrs); err != nil {
			return nil, fmt.Errorf("writing the process record: %w", err)
		}
	}
	res := &CommandResult{Record: rec}
	ereq := ExecRequest{Argv: req.Argv, Env: req.Env, Cwd: req.Cwd, Timeout: req.Timeout}
	var streamed atomic.Bool
	if req.Output != nil {
		ereq.Output = func(stream string, p []byte) {
			streamed.Store(true)
			req.Output(stream, p)
		}
	}
	out, execErr := exec(ereq)
	if req.Output != nil && !streamed.Load() && out != nil {
		// The engine does not stream: the output is given once the command ended.
		if len(out.Stdout) > 0 {
			req.Output("stdout", out.Stdout)
		}
		if len(out.Stderr) > 0 {
			req.Output("stderr", out.Stderr)
		}
	}
	end := NowMillis(l.now())
	update := Attrs{"updatedAt": end, "exitedAt": end}
	switch {
	case execErr != nil:
		res.Status = ProcessFailed
		res.ExitCode = -1
		md := copyMap(rec.JSONMap("metadata"))
		md["error"] = execErr.Error()
		update["metadata"] = md
	case out.TimedOut:
		res.Status = ProcessKilled
		res.ExitCode = out.ExitCode
		update["signal"] = "SIGKILL"
	case out.ExitCode == 0:
		res.Status = ProcessExited
	default:
		res.Status = ProcessFailed
		res.ExitCode = out.ExitCode
	}
	update["status"] = res.Status
	res.Ran = execErr == nil
	if out != nil {
		res.ExitCode = out.ExitCode
		update["exitCode"] = out.ExitCode
		limit := req.OutputLimit
		if limit <= 0 {
			limit = DefaultOutputLimit
		}
		res.Stdout, res.StdoutTruncated = tail(out.Stdout, limit)
		res.Stderr, res.StderrTruncated = tail(out.Stderr, limit)
	}
	if rec2, err := l.Store.Update(context.WithoutCancel(ctx), EntityProcesses, rec.ID, update); err == nil {
		res.Record = rec2
	} else if execErr == nil {
		return res, fmt.Errorf("the command ran, but its process record %s could not be updated: %w", rec.ID, err)
	}
	if execErr != nil {
		return res, fmt.Errorf("running %q in %s%s: %w", req.Argv[0], req.SandboxID, req.WorkspaceID, execErr)
	}
	return res, nil
}

// adoptRun takes over, by compare-and-swap, a process record of the same command (CommandHash) in the same
// sandbox or workspace that a killed apply left behind: unconfirmed, of this scope, owned by a process of this
// machine that no longer runs. The record is reset to attrs (running, with this process as owner).
func (l *Lifecycle) adoptRun(ctx context.Context, req CommandRequest, hash string, attrs Attrs) (*Record, error) {
	l.adoptMu.Lock()
	defer l.adoptMu.Unlock()
	cond := Cond{Field: "sandboxId", Op: OpEq, Value: req.SandboxID}
	if req.WorkspaceID != "" {
		cond = Cond{Field: "workspaceId", Op: OpEq, Value: req.WorkspaceID}
	}
	recs, err := l.Store.Query(ctx, Query{Entity: EntityProcesses, Where: []Cond{cond}, OrderBy: "startedAt"})
	if err != nil {
		return nil, fmt.Errorf("looking for interrupted runs: %w", err)
	}
	for _, r := range recs {
		book := toMap(r.JSONMap("metadata")[MetadataTerraform])
		if book[BookConfigHash] != hash || !l.adoptable(book) {
			continue
		}
		next := copyMap(attrs)
		for _, f := range []string{"exitCode", "exitedAt", "signal", "externalProcessId"} {
			next[f] = nil
		}
		next["updatedAt"] = l.nextUpdatedAt(r)
		rec, err := l.Store.CompareAndUpdate(ctx, EntityProcesses, r.ID, "updatedAt", r.Attrs["updatedAt"], next)
		if errors.Is(err, ErrStale) || errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("taking over interrupted run %s: %w", r.ID, err)
		}
		return rec, nil
	}
	return nil, nil
}

// ReadProcess loads a process record as a read of its sandbox_command sees it: a run left running whose
// outcome nobody can know any more becomes lost, with the reason in metadata.lost, and a record made by this
// provider is confirmed (Terraform handed it back). ErrNotFound when missing.
func (l *Lifecycle) ReadProcess(ctx context.Context, id string) (*Record, error) {
	rec, err := l.Store.Get(ctx, EntityProcesses, id)
	if err != nil {
		return nil, err
	}
	if reason := l.outcomeUnknown(rec); reason != "" {
		md := copyMap(rec.JSONMap("metadata"))
		md["lost"] = map[string]any{"reason": reason, "at": NowMillis(l.now())}
		got, err := l.Store.CompareAndUpdate(ctx, EntityProcesses, id, "updatedAt", rec.Attrs["updatedAt"],
			Attrs{"status": ProcessLost, "metadata": md, "updatedAt": l.nextUpdatedAt(rec)})
		switch {
		case err == nil:
			rec = got
		case errors.Is(err, ErrStale):
			if rec, err = l.Store.Get(ctx, EntityProcesses, id); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("marking run %s lost: %w", id, err)
		}
	}
	return l.confirm(ctx, EntityProcesses, "metadata", MetadataTerraform, rec)
}

// outcomeUnknown says why a running record's run can no longer end normally ("" when it may still): its owner,
// a provider process on this machine, no longer runs; or, when the owner cannot be checked (another machine, or
// a record without owner), its timeout plus LostGrace has passed since it started.
func (l *Lifecycle) outcomeUnknown(rec *Record) string {
	if rec.String("status") != ProcessRunning {
		return ""
	}
	md := rec.JSONMap("metadata")
	o := toMap(toMap(md[MetadataTerraform])[BookOwner])
	host, _ := o["host"].(string)
	pid, _ := AsInt(o["pid"])
	if host == l.host() && pid > 0 {
		if processAlive(int(pid)) {
			return ""
		}
		return fmt.Sprintf("the provider process that ran it (pid %d on %s) ended without recording the outcome (killed, or the record store was unreachable when the run ended)", pid, host)
	}
	started, ok := rec.Int("startedAt")
	if !ok {
		return ""
	}
	timeout, _ := AsInt(md["timeoutMs"])
	deadline := started + timeout + LostGrace.Milliseconds()
	if NowMillis(l.now()) > deadline {
		return fmt.Sprintf("still running %s after its timeout and no provider on this machine runs it (owner %v): its outcome was never recorded", LostGrace, o)
	}
	return ""
}

// commandTarget resolves where a command runs: an active sandbox (started for the run when stopped, and
// stopped again by done) or an active workspace.
func (l *Lifecycle) commandTarget(ctx context.Context, req CommandRequest) (engine string, exec func(ExecRequest) (*ExecResult, error), done func(), err error) {
	done = func() {}
	if (req.SandboxID == "") == (req.WorkspaceID == "") {
		return "", nil, done, errors.New("a command needs exactly one of a sandbox id and a workspace id")
	}
	if req.WorkspaceID != "" {
		ws, err := l.Store.Get(ctx, EntityWorkspaces, req.WorkspaceID)
		if errors.Is(err, ErrNotFound) {
			return "", nil, done, fmt.Errorf("workspace_id %s names no record in %s of the %s store: no such workspace (%w)",
				req.WorkspaceID, EntityWorkspaces, l.Store.Kind(), err)
		}
		if err != nil {
			return "", nil, done, fmt.Errorf("workspace %s: %w", req.WorkspaceID, err)
		}
		if st := ws.String("status"); st != WorkspaceActive {
			return "", nil, done, fmt.Errorf("workspace %s is %s: %w", req.WorkspaceID, st, ErrSandboxNotActive)
		}
		eng, err := l.engine(ws.String("provider"))
		if err != nil {
			return "", nil, done, err
		}
		we, err := workspaceEngine(eng)
		if err != nil {
			return "", nil, done, err
		}
		ext := ws.String("sandboxId")
		return eng.Name(), func(r ExecRequest) (*ExecResult, error) { return we.ExecWorkspace(ctx, ext, r) }, done, nil
	}
	sbRec, err := l.Store.Get(ctx, EntitySandboxes, req.SandboxID)
	if errors.Is(err, ErrNotFound) {
		return "", nil, done, fmt.Errorf("sandbox_id %s names no record in %s of the %s store: no such sandbox (%w)",
			req.SandboxID, EntitySandboxes, l.Store.Kind(), err)
	}
	if err != nil {
		return "", nil, done, fmt.Errorf("sandbox %s: %w", req.SandboxID, err)
	}
	if st := sbRec.String("status"); st != StatusActive {
		return "", nil, done, fmt.Errorf("sandbox %s is %s: %w", req.SandboxID, st, ErrSandboxNotActive)
	}
	eng, err := l.engine(sbRec.String("provider"))
	if err != nil {
		return "", nil, done, err
	}
	ext := sbRec.String("externalSandboxId")
	sb, err := eng.GetSandbox(ctx, ext)
	if err != nil {
		return "", nil, done, fmt.Errorf("sandbox %s (%s on %s): %w", req.SandboxID, ext, eng.Name(), err)
	}
	if sb.State != StateRunning && sb.State != StateSleeping {
		if !eng.Capabilities().StopStart {
			return "", nil, done, fmt.Errorf("sandbox %s is %s on %s and cannot be started", req.SandboxID, sb.State, eng.Name())
		}
		if err := eng.StartSandbox(ctx, ext); err != nil {
			return "", nil, done, fmt.Errorf("starting stopped sandbox %s for the command: %w", req.SandboxID, err)
		}
		// Restore the declared state: the sandbox was stopped before the run.
		done = func() { _ = eng.StopSandbox(context.WithoutCancel(ctx), ext) }
	}
	return eng.Name(), func(r ExecRequest) (*ExecResult, error) { return eng.Exec(ctx, ext, r) }, done, nil
}

// tail keeps the last limit bytes of b, cut at a UTF-8 boundary.
func tail(b []byte, limit int) (string, bool) {
	if len(b) <= limit {
		return string(b), false
	}
	b = b[len(b)-limit:]
	for i := 0; i < len(b) && i < 4; i++ {
		if b[i]&0xC0 != 0x80 {
			return string(b[i:]), true
		}
	}
	return string(b), true
}

// LastLines returns the last n lines of s, for error messages.
func LastLines(s string, n int) string {
	count := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' && i != len(s)-1 {
			count++
			if count == n {
				return s[i+1:]
			}
		}
	}
	return s
}
