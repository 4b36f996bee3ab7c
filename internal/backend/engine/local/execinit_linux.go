//go:build linux

package local

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// spawnPrep is a command's request to the spawner and the descriptors it passes (stdin, stdout, stderr, then
// the extra ones), made before the spawner is dialled: the spawner, woken by the connection, then finds the
// whole request waiting instead of waiting for it once more.
type spawnPrep struct {
	req   spawnRequest
	files []*os.File
}

// close closes the descriptors passed with the request (the command holds its own copies once it is sent).
func (p *spawnPrep) close() { closeAll(p.files...) }

// abandon undoes prepareSpawn when the command does not go to the spawner after all.
func (p *spawnPrep) abandon(r *run) {
	p.close()
	closeAll(r.outR...)
	r.outR = nil
	r.closeEgress()
	r.egress = nil
}

// prepareSpawn makes the request and the descriptors of a command to be run by the spawner.
func (r *run) prepareSpawn() (_ *spawnPrep, err error) {
	argv := r.req.Argv
	env := r.env
	p := &spawnPrep{req: spawnRequest{Dir: r.cwd, NProc: r.commandNproc()}}
	var extra []*os.File
	defer func() {
		if err != nil {
			closeAll(extra...)
			r.closeEgress()
			r.egress = nil
		}
	}()
	if policyMode(r.policy, IsolationBwrap) == backend.PolicyAllowList {
		if r.egress, err = r.engine.startEgress(r.policy); err != nil {
			return nil, fmt.Errorf("exec: starting the egress proxy: %w", err)
		}
		argv = append([]string{egressHelper}, argv...)
		env = maps.Clone(env)
		// For the forwarder only: it removes it from the command's env.
		env[egressEnv] = "3"
		// fd 3; closed with closeSandboxEnd once the request is sent, not with the others.
	}
	if r.cg != nil {
		// The spawner writes the command into the sandbox's cmds cgroup before it executes it.
		procs, err := r.cg.openProcs(r.cgName, cgCmds)
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		extra = append(extra, procs...)
	}
	base := 3
	if r.egress != nil {
		base = 4
	}
	for i := range extra {
		p.req.Cgroup = append(p.req.Cgroup, base+i)
	}
	p.req.Argv, p.req.Env = argv, envList(env)
	var stdin *os.File
	if r.req.Stdin != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		stdin = pr
		go func() {
			_, _ = pw.Write(r.req.Stdin) // ends with EPIPE when the command exits without reading it all
			_ = pw.Close()
		}()
	} else if stdin, err = openFile(os.DevNull, unix.O_RDONLY, 0); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	ow, ew, err := r.pipes()
	if err != nil {
		_ = stdin.Close()
		return nil, err
	}
	p.files = []*os.File{stdin, ow, ew}
	if r.egress != nil {
		p.files = append(p.files, r.egress.sandboxEnd)
	}
	p.files = append(p.files, extra...)
	return p, nil
}

// startSpawned runs the command prepared in p through the spawner of the sandbox's init (connection c, which
// it now owns) and records it under run/.
func (r *run) startSpawned(c *net.UnixConn, p *spawnPrep) (err error) {
	r.conn = c
	r.pidfd = -1
	r.began = time.Now()
	err = sendSpawnRequest(c, p.req, p.files)
	if r.egress != nil {
		end := r.egress.sandboxEnd
		p.files = slices.DeleteFunc(p.files, func(f *os.File) bool { return f == end })
		r.egress.closeSandboxEnd() // the command holds it now
	}
	p.close()
	r.readOutput()
	var st spawnStarted
	var pidfd int
	if err == nil {
		var kind byte
		kind, pidfd, err = readSpawnMsg(c, &st)
		if err == nil && kind != 'S' {
			err = fmt.Errorf("unexpected message %q from the sandbox's spawner", kind)
		}
	}
	if err != nil {
		r.endSpawned()
		return fmt.Errorf("exec: running %s through the sandbox's spawner: %w", r.req.Argv[0], err)
	}
	if st.Pid == 0 {
		if pidfd >= 0 {
			_ = unix.Close(pidfd)
		}
		r.notStarted = &st
		return nil
	}
	// The command's pid on the host is needed to record it under run/ (without cgroups), else only to kill its
	// group should the spawner be gone: the pidfd is kept for that, and read then (killSpawned).
	r.pidfd = pidfd
	if r.cg == nil && pidfd >= 0 {
		if hostPid, err := pidfdPid(pidfd); err == nil && hostPid > 1 {
			if g, ok := procOf(hostPid); ok {
				r.group = g
			}
		}
	}
	r.exited = make(chan struct{})
	go func() {
		defer close(r.exited)
		var x spawnExited
		if kind, _, err := readSpawnMsg(c, &x); err == nil && kind == 'X' {
			r.status, r.statusOK = syscall.WaitStatus(x.Status), true
		}
	}()
	// The command is recorded under run/ for an engine that must decide whether the init can be replaced
	// (commandsRunning) only without cgroups: with them, it is in the sandbox's cmds cgroup, which says so
	// (cmdsBusy) without a file made and removed per command. A stop needs neither: killing the init ends
	// every process of its pid namespace.
	if r.group.PID > 1 && r.cg == nil {
		r.runPath = filepath.Join(r.dir, runDir, strconv.Itoa(r.group.PID)+"-"+nonce()+".json")
		if err := writeRunFile(r.runPath, runFile{Group: r.group}); err != nil {
			r.killSpawned()
			<-r.exited
			r.endSpawned()
			return fmt.Errorf("exec: recording the command: %w", err)
		}
	}
	return nil
}

// killSpawned asks the spawner to kill the command's process group; if the spawner is gone, the group is killed
// from here.
func (r *run) killSpawned() {
	if _, err := r.conn.Write([]byte{'K'}); err != nil {
		if r.group.PID <= 1 && r.pidfd >= 0 {
			// Until the pidfd is closed, its fdinfo names the command's pid (-1 once it is reaped).
			if hostPid, err := pidfdPid(r.pidfd); err == nil && hostPid > 1 {
				r.group, _ = procOf(hostPid)
			}
		}
		if r.group.PID > 1 && r.group.same() {
			_ = unix.Kill(-r.group.PID, unix.SIGKILL)
		}
	}
}

// endSpawned stops reading the command's output (after outputGrace, for a process that left its group and
// still holds it), closes the connection and forgets the command.
func (r *run) endSpawned() {
	done := make(chan struct{})
	go func() {
		r.readers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(outputGrace):
		closeAll(r.outR...)
		<-done
	}
	closeAll(r.outR...)
	_ = r.conn.Close()
	if r.pidfd >= 0 {
		_ = unix.Close(r.pidfd)
		r.pidfd = -1
	}
	if r.runPath != "" {
		_ = os.Remove(r.runPath)
	}
}

// waitSpawned waits for a command run through the spawner, its timeout, or ctx, and builds the result.
func (r *run) waitSpawned(ctx context.Context) (*backend.ExecResult, error) {
	if st := r.notStarted; st != nil {
		r.endSpawned()
		return &backend.ExecResult{ExitCode: st.Code, Stdout: r.stdout.Bytes(), Stderr: []byte(st.Stderr)}, nil
	}
	timer := time.NewTimer(r.timeout)
	defer timer.Stop()
	var timedOut bool
	var ctxErr error
wait:
	for {
		select {
		case <-r.exited:
			break wait
		case <-timer.C:
			timedOut = true
			r.killSpawned()
		case <-ctx.Done():
			ctxErr = ctx.Err()
			r.killSpawned()
		}
	}
	dur := time.Since(r.began)
	r.endSpawned()
	if ctxErr != nil {
		return nil, fmt.Errorf("exec %s in sandbox %s: %w", r.req.Argv[0], r.meta.ExternalID, ctxErr)
	}
	code := 128 + int(syscall.SIGKILL) // the spawner ended first: the sandbox was stopped or killed
	if r.statusOK {
		if r.status.Signaled() {
			code = 128 + int(r.status.Signal())
		} else {
			code = r.status.ExitStatus()
		}
	}
	res := &backend.ExecResult{
		ExitCode: code,
		Stdout:   r.stdout.Bytes(),
		Stderr:   r.stderr.Bytes(),
		TimedOut: timedOut,
		Duration: dur,
	}
	if timedOut {
		res.ExitCode = -1
	}
	return res, nil
}
