//go:build linux

package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// A running bubblewrap sandbox keeps one long-lived bubblewrap ("the init") whose namespaces (user, mount, pid,
// ipc, uts and, but with allow_all, network) every command shares: making those namespaces is most of what a
// fresh bubblewrap per command costs. Bubblewrap starts the spawner (spawner_linux.go) in them, detached in a
// session of its own so that it outlives the provider process; run/init.json records it for every later
// engine, as the processes to kill on stop and delete (killRunning kills it like a command, init first). Exec
// starts it when it is missing (first command, after a stop, a reboot, or a kill) and replaces it when what it
// was made from changed (an update of volumes, policy or max_processes, another provider executable): then, if
// commands still run in the old one, the new command runs in a bubblewrap of its own instead.
const (
	initRecordFile = "init.json"
	initSockFile   = "init.sock"
	initLockFile   = ".init.lock"
	// initSpawnerFD is the spawner's listening socket in bubblewrap's command (after --args, --info-fd and
	// --block-fd).
	initSpawnerFD = 6
	// initLockFD is the init lock, open for the spawner: it exits when idle only while holding it.
	initLockFD = 7
)

// initRecord is run/init.json: a runFile (Group is bubblewrap, in a session of its own; Init its init in the
// sandbox) and the key of what the init was made from.
type initRecord struct {
	runFile
	Key string `json:"key"`
}

// initNproc is the RLIMIT_NPROC of the init (and so of the spawner): the default, or max_processes when larger.
// Without cgroups a smaller max_processes is applied to each command by the shim, since the spawner's threads
// count against it.
func initNproc(l limits) int64 {
	return max(int64(DefaultMaxProcesses), l.maxProcesses)
}

// commandNproc is the RLIMIT_NPROC the shim applies to a command, 0 for none: with cgroups, the pids cgroup
// of the sandbox's commands does the work.
func (r *run) commandNproc() int64 {
	if r.cg == nil && r.limits.procs() < DefaultMaxProcesses {
		return r.limits.procs()
	}
	return 0
}

// initArgs returns the init's bubblewrap options: the same sandbox as bwrapArgs, with the executable mounted
// as the spawner and no command environment (each command brings its own).
func (r *run) initArgs(exe string, st *stager) []string {
	a := []string{"--unshare-all", "--unshare-user"}
	if policyMode(r.policy, IsolationBwrap) == backend.PolicyAllowAll {
		a = []string{"--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"}
	}
	a = append(a, r.engine.userArgs()...)
	// --as-pid-1: the spawner is the sandbox's pid 1 (no bubblewrap reaper in the sandbox): a non-dumpable
	// process that the sandbox's commands can neither trace nor signal (the kernel protects a namespace's init
	// from signals it does not handle).
	a = append(a, "--disable-userns", "--new-session", "--cap-drop", "ALL", "--as-pid-1", "--hostname", "sandbox")
	a = append(a, r.engine.system...)
	a = append(a,
		"--ro-bind", st.src(r.etc), "/etc",
		"--proc", "/proc",
		"--ro-bind", "/proc/sys", "/proc/sys",
		"--dev", "/dev",
		"--size", strconv.FormatInt(r.limits.tmpBytes(), 10), "--tmpfs", "/tmp",
		"--perms", "0755", "--dir", "/home",
		"--bind", st.src(r.home), SandboxHome,
	)
	for _, v := range r.meta.Volumes {
		a = append(a, "--bind", st.src(v.HostPath), v.MountPath)
	}
	a = append(a, "--ro-bind", st.src(exe), egressHelper,
		"--remount-ro", "/", "--chdir", SandboxHome, "--clearenv",
		"--setenv", spawnerEnv, strconv.Itoa(initSpawnerFD),
		"--setenv", spawnerLockEnv, strconv.Itoa(initLockFD),
		"--setenv", spawnerIdleEnv, r.engine.initIdle.String(),
		"--setenv", spawnerNprocEnv, strconv.FormatInt(initNproc(r.limits), 10),
		"--info-fd", "4", "--block-fd", "5")
	return a
}

// initKey names what an init is made from: its options, the executable it runs (by identity, so that a new
// provider binary at the same path replaces it), its process limit and the spawner protocol.
func initKey(args []string, exe string, nproc int64, staged []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "proto %d\nnproc %d\n", spawnerProto, nproc)
	for _, s := range staged {
		fmt.Fprintf(h, "staged %q\n", s)
	}
	if fi, err := os.Stat(exe); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(h, "exe %d %d %d %d\n", st.Dev, st.Ino, st.Size, fi.ModTime().UnixNano())
		}
	}
	h.Write([]byte(strings.Join(args, "\x00")))
	return hex.EncodeToString(h.Sum(nil))
}

func readInitRecord(rd string) *initRecord {
	b, err := readSmallFile(filepath.Join(rd, initRecordFile))
	if err != nil {
		return nil
	}
	var rec initRecord
	if json.Unmarshal(b, &rec) != nil || rec.Init == nil || rec.Init.PID <= 1 {
		return nil
	}
	return &rec
}

// commandsRunning reports whether a command other than the init is recorded under rd and still runs.
func commandsRunning(rd string) bool {
	entries, err := os.ReadDir(rd)
	if err != nil {
		return false
	}
	for _, ent := range entries {
		name := ent.Name()
		if name == initRecordFile || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(rd, name))
		if err != nil {
			continue
		}
		var rf runFile
		if json.Unmarshal(b, &rf) == nil && rf.Group.PID > 1 && rf.Group.same() {
			return true
		}
	}
	return false
}

// cmdsBusy reports whether a process runs in the box's cmds cgroup: a command of the init's spawner (which
// records none under run/ when there are cgroups), or of a bubblewrap of its own.
func (r *run) cmdsBusy() bool {
	if r.cg == nil {
		return false
	}
	b, err := readSmallFile(filepath.Join(r.cg.bases[0], r.cgName, cgCmds, "cgroup.procs"))
	return err == nil && len(strings.TrimSpace(string(b))) > 0
}

// dialInit connects to the spawner of the init under rd. The socket is reached through a descriptor of rd:
// a unix socket path is limited to 107 bytes, which a deep engine root would exceed.
func dialInit(rd string) (*net.UnixConn, error) {
	d, err := openRetry(rd, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: rd, Err: err}
	}
	defer unix.Close(d)
	addr := &net.UnixAddr{Name: "/proc/self/fd/" + strconv.Itoa(d) + "/" + initSockFile, Net: "unixpacket"}
	return net.DialUnix("unixpacket", nil, addr)
}

// ensureInit returns a connection to the spawner of the sandbox's init, starting (or replacing) the init as
// needed; nil without an error when the init must be replaced but commands still run in it (the caller then
// runs the command in a bubblewrap of its own). With a connection it returns the init lock, held: the caller
// releases it once the spawner has answered, so that an idle spawner (which exits only while holding that
// lock) never exits between the dial and its answer.
func (r *run) ensureInit() (*net.UnixConn, func(), error) {
	rd := filepath.Join(r.dir, runDir)
	if err := os.MkdirAll(rd, 0o700); err != nil {
		return nil, nil, fmt.Errorf("exec: %w", err)
	}
	lk, err := lockFileAt(filepath.Join(rd, initLockFile), r.meta.noun(), true)
	if err != nil {
		return nil, nil, err
	}
	held := true
	defer func() {
		if held {
			lk.unlock()
		}
	}()
	keep := func(c *net.UnixConn) (*net.UnixConn, func(), error) {
		held = false
		return c, lk.unlock, nil
	}
	etc, err := r.engine.etcView()
	if err != nil {
		return nil, nil, err
	}
	r.etc = etc
	exe, err := executable()
	if err != nil {
		return nil, nil, err
	}
	st := r.engine.stager()
	args := r.initArgs(exe, st)
	nproc := initNproc(r.limits)
	key := initKey(args, exe, nproc, st.sources())
	if rec := readInitRecord(rd); rec != nil && rec.Init.alive() {
		if rec.Key == key {
			c, err := dialInit(rd)
			if err == nil {
				return keep(c)
			}
			// The spawner is gone (the init follows it at once): make a new one.
		} else if commandsRunning(rd) || r.cmdsBusy() {
			return nil, nil, nil
		}
		stopInit(rec)
	}
	if err := r.startInit(rd, args, st, key, nproc); err != nil {
		return nil, nil, err
	}
	c, err := dialInit(rd)
	if err != nil {
		return nil, nil, fmt.Errorf("exec: connecting to the sandbox's spawner: %w", err)
	}
	return keep(c)
}

// stopInit kills an init and waits (briefly) for it and its bubblewrap to be gone.
func stopInit(rec *initRecord) {
	procs := []proc{}
	if rec.Init != nil && rec.Init.same() {
		_ = unix.Kill(rec.Init.PID, unix.SIGKILL)
		procs = append(procs, *rec.Init)
	}
	if rec.Group.PID > 1 && rec.Group.same() {
		procs = append(procs, rec.Group)
	}
	ctx, cancel := context.WithTimeout(context.Background(), killGrace)
	_ = waitGone(ctx, procs)
	cancel()
	if rec.Group.PID > 1 && rec.Group.same() {
		_ = unix.Kill(-rec.Group.PID, unix.SIGKILL)
	}
}

// startInit starts the init with args, records it under rd, applies the limits and lets the spawner start.
func (r *run) startInit(rd string, args []string, st *stager, key string, nproc int64) (err error) {
	bwrapPath, bwrapEnv, err := r.engine.bwrapCommand(st)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	sock := filepath.Join(rd, initSockFile)
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("exec: %w", err)
	}
	d, err := os.Open(rd)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	defer d.Close()
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) + "/" + initSockFile, Net: "unixpacket"})
	if err != nil {
		return fmt.Errorf("exec: making the sandbox's spawner socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	lf, err := l.File()
	_ = l.Close()
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	defer lf.Close()
	// The init lock, open on a description of the spawner's own: an idle spawner exits only while it holds the
	// lock, that is while no engine is between dialling it and its answer (see ensureInit).
	lockf, err := os.OpenFile(filepath.Join(rd, initLockFile), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	defer lockf.Close()
	// bubblewrap's own messages come on a pipe that is read only until the sandbox has started: no file of the
	// host is ever open for writing in the sandbox, and what the provider shows as bubblewrap's error was written
	// before anything ran in the sandbox.
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	defer devNull.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	defer errR.Close()
	var bwrapErr cappedBuffer
	errDone := make(chan struct{})
	argsR, argsW, infoR, infoW, blockR, blockW, err := bwrapPipes()
	if err != nil {
		return err
	}
	defer closeAll(infoR, blockW)
	cmd := &exec.Cmd{
		Path:       bwrapPath,
		Args:       []string{"bwrap", "--args", "3", "--", egressHelper},
		Env:        bwrapEnv,
		Dir:        "/",
		Stdout:     devNull,
		Stderr:     errW,
		ExtraFiles: []*os.File{argsR, infoW, blockR, lf, lockf}, // fds 3, 4, 5, 6, 7
		// A session of its own: the init outlives this process and is no part of its process group.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	closeAll(argsR, infoW, blockR, errW)
	if err != nil {
		closeAll(argsW)
		return fmt.Errorf("exec: starting bubblewrap: %w", err)
	}
	go func() {
		defer close(errDone)
		_, _ = io.Copy(&bwrapErr, io.LimitReader(errR, 64<<10))
	}()
	go func() {
		_, _ = io.WriteString(argsW, nulJoined(args))
		_ = argsW.Close()
	}()
	go func() { _ = cmd.Wait() }() // reaps bubblewrap when it ends while this process runs
	group, _ := procOf(cmd.Process.Pid)
	if group.PID == 0 {
		group = proc{PID: cmd.Process.Pid}
	}
	var child int
	defer func() {
		if err != nil {
			if child > 1 {
				_ = unix.Kill(child, unix.SIGKILL)
			}
			_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
			_ = os.Remove(filepath.Join(rd, initRecordFile))
		}
	}()
	var info struct {
		ChildPID int `json:"child-pid"`
	}
	if derr := json.NewDecoder(infoR).Decode(&info); derr != nil || info.ChildPID <= 1 {
		// bubblewrap failed before the sandbox ran anything: its message is complete once it has exited.
		select {
		case <-errDone:
		case <-time.After(killGrace):
		}
		msg := bwrapErr.Bytes()
		return fmt.Errorf("bubblewrap could not start the sandbox %s: %s", r.meta.ExternalID, strings.TrimSpace(strings.TrimPrefix(string(msg), "bwrap: ")))
	}
	child = info.ChildPID
	init, ok := procOf(child)
	if !ok {
		return fmt.Errorf("exec: bubblewrap's init %d is gone", child)
	}
	b2, err := json.Marshal(initRecord{runFile: runFile{Group: group, Init: &init}, Key: key})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(rd, initRecordFile, b2, false); err != nil {
		return fmt.Errorf("exec: recording the sandbox's init: %w", err)
	}
	if r.cg != nil {
		if err := r.cg.enter(r.cgName, cgInit, child); err != nil {
			return fmt.Errorf("exec: applying resource limits: %w", err)
		}
	}
	if st == nil { // through the launcher, the launcher and the spawner set them (spawnerNprocEnv)
		if err := setLimits(child, nproc); err != nil {
			return fmt.Errorf("exec: applying resource limits: %w", err)
		}
	}
	if _, err := blockW.Write([]byte{1}); err != nil {
		return fmt.Errorf("exec: bubblewrap's init ended before it started")
	}
	return nil
}
