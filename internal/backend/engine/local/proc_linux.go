//go:build linux

package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// proc names a process by pid and start time (clock ticks since boot), so that a reused pid is never killed.
type proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// runFile is one run/<pid>-<nonce>.json: the processes of a running command. Group is the process group of
// the process Exec started (bwrap, or the command itself without isolation); Init is bubblewrap's init
// process inside the sandbox, whose death ends every process of the sandbox's pid namespace.
type runFile struct {
	Group proc  `json:"group"`
	Init  *proc `json:"init,omitempty"`
}

// startTime reads field 22 of /proc/<pid>/stat; ok is false when the process is gone. zombie reports a process
// that has exited but was not reaped yet.
func startTime(pid int) (start uint64, zombie bool, ok bool) {
	b, err := readSmallFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); the start time is field 22.
	if len(f) < 20 {
		return 0, false, false
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false, false
	}
	return st, f[0] == "Z" || f[0] == "X", true
}

func procOf(pid int) (proc, bool) {
	st, _, ok := startTime(pid)
	return proc{PID: pid, Start: st}, ok
}

// alive reports whether p still runs (a zombie does not).
func (p proc) alive() bool {
	st, zombie, ok := startTime(p.PID)
	return ok && st == p.Start && !zombie
}

// same reports whether p's pid still names p (zombie or not).
func (p proc) same() bool {
	st, _, ok := startTime(p.PID)
	return ok && st == p.Start
}

func writeRunFile(path string, rf runFile) error {
	b, err := json.Marshal(rf)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	// Not synced: after a crash of the machine the processes it names are gone anyway.
	return writeFileAtomic(filepath.Dir(path), filepath.Base(path), b, false)
}

// killGrace is how long a kill waits for bubblewrap to reap its killed init before killing bubblewrap too.
// Killing both at once would leave the init a zombie of whatever process adopts it (in a container, an init
// that may never reap it).
const killGrace = time.Second

// killRunning kills every command recorded under dir/run and returns the processes to wait for: first each
// sandbox's init (which ends its pid namespace, and lets bubblewrap exit), then, after up to killGrace, the
// process groups. Stale files (processes gone or pids reused) are removed.
func killRunning(dir string) []proc {
	rd := filepath.Join(dir, runDir)
	entries, err := os.ReadDir(rd)
	if err != nil {
		return nil
	}
	var inits, groups []proc
	for _, ent := range entries {
		name := ent.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		p := filepath.Join(rd, name)
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var rf runFile
		if json.Unmarshal(b, &rf) != nil || rf.Group.PID <= 1 {
			_ = os.Remove(p)
			continue
		}
		live := false
		if rf.Init != nil && rf.Init.PID > 1 && rf.Init.same() {
			_ = unix.Kill(rf.Init.PID, unix.SIGKILL)
			inits = append(inits, *rf.Init)
			live = true
		}
		if rf.Group.same() {
			groups = append(groups, rf.Group)
			live = true
		}
		if !live {
			_ = os.Remove(p)
		}
	}
	if len(inits) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), killGrace)
		_ = waitGone(ctx, groups)
		cancel()
	}
	for _, g := range groups {
		if g.same() {
			_ = unix.Kill(-g.PID, unix.SIGKILL)
		}
	}
	return append(inits, groups...)
}

// waitGone waits until none of procs runs any more (zombies count as gone: their parent reaps them). It waits on
// pidfds, without polling; on a kernel without pidfds it checks every 10ms.
func waitGone(ctx context.Context, procs []proc) error {
	deadline := time.Now().Add(10 * time.Second)
	var fds []unix.PollFd
	defer func() {
		for _, f := range fds {
			_ = unix.Close(int(f.Fd))
		}
	}()
	var rest []proc // procs without a pidfd
	for _, p := range procs {
		if !p.alive() {
			continue
		}
		fd, err := unix.PidfdOpen(p.PID, 0)
		if err != nil {
			if !errors.Is(err, unix.ESRCH) {
				rest = append(rest, p)
			}
			continue
		}
		if !p.same() { // the pid was reused between the check and the open: p is gone
			_ = unix.Close(fd)
			continue
		}
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for {
		running := 0
		for _, p := range rest {
			if p.alive() {
				running++
			}
		}
		left := fds[:0]
		for _, f := range fds {
			if f.Revents != 0 {
				_ = unix.Close(int(f.Fd))
				continue
			}
			left = append(left, f)
		}
		fds = left
		running += len(fds)
		if running == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d killed processes of the sandbox have not exited after 10s", running)
		}
		wait := 100 * time.Millisecond // ctx is checked this often
		if len(rest) > 0 {
			wait = 10 * time.Millisecond
		}
		if len(fds) == 0 {
			time.Sleep(wait)
			continue
		}
		for i := range fds {
			fds[i].Revents = 0
		}
		if _, err := unix.Poll(fds, int(wait/time.Millisecond)); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("waiting for the killed processes: %w", err)
		}
	}
}

// waitExited blocks until the process pid has exited, without reaping it: while it is a zombie its pid, and
// the id of the process group it leads, cannot be reused, so the group can still be killed safely.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// setLimits applies the resource limits to pid (bubblewrap's init in the sandbox, before it starts the
// command, which inherits them): RLIMIT_NPROC nproc (max_processes for an unprivileged provider without
// cgroups: it counts in the sandbox's own user namespace) and no core dumps.
func setLimits(pid int, nproc int64) error {
	set := func(res int, v uint64) error {
		lim := unix.Rlimit{Cur: v, Max: v}
		return unix.Prlimit(pid, res, &lim, nil)
	}
	if err := set(unix.RLIMIT_NPROC, uint64(nproc)); err != nil {
		return fmt.Errorf("setting max_processes: %w", err)
	}
	if err := set(unix.RLIMIT_CORE, 0); err != nil {
		return fmt.Errorf("disabling core dumps: %w", err)
	}
	return nil
}
