package vercel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// execScript wraps every command Exec runs. Its arguments: $1 the run's id, $2 the working directory, $3 "1"
// when a stdin file was written; then the argv, which is never interpreted by a shell. It takes stdin from the
// file (removing it at once), sends stdout and stderr to two files of the home, and execs the argv, so that a
// timeout kills the command itself.
const execScript = `p="$PWD/.sandbox-exec-$1"; c=$2; i=$3; shift 3
if [ "$i" = 1 ]; then exec 0<"$p.in"; rm -f -- "$p.in"; else exec 0</dev/null; fi
exec >"$p.out" 2>"$p.err"
cd -- "$c" || exit 1
exec "$@"`

// sigkillExit is the exit code of a command killed by SIGKILL (128 + 9), which the API's timeout sends.
const sigkillExit = 137

// Exec implements backend.Engine. The sandbox must be running (a stopped one is not resumed: start it first).
func (e *Engine) Exec(ctx context.Context, externalID string, req backend.ExecRequest) (*backend.ExecResult, error) {
	if err := checkExec(req); err != nil {
		return nil, err
	}
	r, err := e.runningSession(ctx, externalID)
	if err != nil {
		return nil, err
	}
	return e.exec(ctx, r, req)
}

func checkExec(req backend.ExecRequest) error {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return errors.New("command is empty")
	}
	if err := backend.CheckTimeout("command timeout", req.Timeout); err != nil {
		return err
	}
	if req.Cwd != "" {
		if _, err := execCwd(req.Cwd); err != nil {
			return err
		}
	}
	return backend.CheckEnv(req.Env)
}

// runningSession reads a sandbox whose session runs (waiting for a pending one).
func (e *Engine) runningSession(ctx context.Context, name string) (*SandboxResponse, error) {
	r, err := e.getSandbox(ctx, name)
	if err != nil {
		return nil, err
	}
	switch st := status(r); st {
	case StatusRunning:
		if r.Session == nil {
			return nil, fmt.Errorf("vercel sandbox %s: the answer has no session", name)
		}
		return r, nil
	case StatusPending:
		return e.waitRunning(ctx, name)
	default:
		return nil, fmt.Errorf("vercel sandbox %s is %s: start it before running commands or using its files", name, st)
	}
}

func home(r *SandboxResponse) string {
	if r.Session != nil && path.IsAbs(r.Session.Cwd) {
		return path.Clean(r.Session.Cwd)
	}
	if path.IsAbs(r.Sandbox.Cwd) {
		return path.Clean(r.Sandbox.Cwd)
	}
	return DefaultHome
}

// execCwd checks a command's working directory: relative to the home (never above it) or absolute.
func execCwd(cwd string) (string, error) {
	if strings.ContainsRune(cwd, 0) {
		return "", fmt.Errorf("working directory %q contains NUL", cwd)
	}
	if path.IsAbs(cwd) {
		return path.Clean(cwd), nil
	}
	c := path.Clean(cwd)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("working directory %q escapes the sandbox home", cwd)
	}
	return c, nil
}

// resolvePath maps a path relative to the home (never above it) or absolute inside the VM to an absolute path.
func resolvePath(home, p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q contains NUL", p)
	}
	if path.IsAbs(p) {
		return path.Clean(p), nil
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q escapes the sandbox home %s", p, home)
	}
	return path.Join(home, c), nil
}

func runID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// exec runs a command in the running session of r.
func (e *Engine) exec(ctx context.Context, r *SandboxResponse, req backend.ExecRequest) (*backend.ExecResult, error) {
	if err := checkExec(req); err != nil {
		return nil, err
	}
	cwd := "."
	if req.Cwd != "" {
		cwd, _ = execCwd(req.Cwd)
	}
	name, sid := r.Sandbox.Name, r.Session.ID
	id := runID()
	base := path.Join(home(r), ".sandbox-exec-"+id)
	start := e.now()
	stdin := "0"
	if len(req.Stdin) > 0 {
		if err := e.c.WriteFiles(ctx, sid, []File{{Path: base + ".in", Content: req.Stdin, Mode: 0o600}}); err != nil {
			return nil, fmt.Errorf("giving stdin to %q in vercel sandbox %s: %w", req.Argv[0], name, err)
		}
		stdin = "1"
	}
	args := append([]string{"-c", execScript, "sh", id, cwd, stdin}, req.Argv...)
	res, err := e.c.RunCommand(ctx, sid, CommandRequest{Command: "sh", Args: args, Env: req.Env, Timeout: req.Timeout, Logs: true, MaxOutput: 64 << 10})
	if err != nil {
		e.cleanup(ctx, sid, id)
		return nil, fmt.Errorf("running %q in vercel sandbox %s: %w", req.Argv[0], name, err)
	}
	stdout, err1 := e.c.ReadFile(ctx, sid, base+".out")
	stderr, err2 := e.c.ReadFile(ctx, sid, base+".err")
	e.cleanup(ctx, sid, id)
	if err := errors.Join(err1, err2); err != nil {
		// The wrapper could not redirect the output: what it said is in the stream.
		return nil, fmt.Errorf("reading the output of %q in vercel sandbox %s (exit code %d, %s): %w", req.Argv[0], name, res.ExitCode, strings.TrimSpace(string(res.Stderr)), err)
	}
	out := &backend.ExecResult{ExitCode: res.ExitCode, Stdout: stdout, Stderr: stderr, Duration: e.now().Sub(start)}
	if req.Timeout > 0 && res.ExitCode == sigkillExit {
		ran := res.Duration
		if ran == 0 {
			ran = res.RequestDuration
		}
		out.TimedOut = ran >= req.Timeout*9/10
	}
	return out, nil
}

// cleanup removes the files of a run (named relative to the home, where the command starts). It is housekeeping
// after the command's outcome is known: its failure cannot change that outcome and is not reported (a leftover
// .sandbox-exec-* file is all it leaves).
func (e *Engine) cleanup(ctx context.Context, sid, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	p := ".sandbox-exec-" + id
	_, _ = e.c.RunCommand(ctx, sid, CommandRequest{Command: "rm", Args: []string{"-f", "--", p + ".in", p + ".out", p + ".err"}})
}

// WriteFile implements backend.Engine.
func (e *Engine) WriteFile(ctx context.Context, externalID, p string, data []byte) error {
	if _, err := resolvePath(DefaultHome, p); err != nil {
		return err
	}
	r, err := e.runningSession(ctx, externalID)
	if err != nil {
		return err
	}
	abs, err := resolvePath(home(r), p)
	if err != nil {
		return err
	}
	if err := e.c.WriteFiles(ctx, r.Session.ID, []File{{Path: abs, Content: data}}); err != nil {
		return fmt.Errorf("writing %s in vercel sandbox %s: %w", abs, externalID, err)
	}
	return nil
}

// ReadFile implements backend.Engine. A missing file is an error wrapping fs.ErrNotExist (never
// backend.ErrNotFound, which would mean that the sandbox is gone).
func (e *Engine) ReadFile(ctx context.Context, externalID, p string) ([]byte, error) {
	if _, err := resolvePath(DefaultHome, p); err != nil {
		return nil, err
	}
	r, err := e.runningSession(ctx, externalID)
	if err != nil {
		return nil, err
	}
	abs, err := resolvePath(home(r), p)
	if err != nil {
		return nil, err
	}
	b, err := e.c.ReadFile(ctx, r.Session.ID, abs)
	if err != nil {
		return nil, fmt.Errorf("reading %s in vercel sandbox %s: %w", abs, externalID, err)
	}
	return b, nil
}
