//go:build linux

package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// sandboxPATH is the PATH of commands.
const sandboxPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// outputGrace is how long Exec keeps reading output after the command has ended, for descendants that escaped
// its process group (possible without isolation only) and still hold its pipes.
const outputGrace = time.Second

// systemMounts returns the bubblewrap arguments that show the host's /usr read-only, with the top-level binary
// and library directories (symlinks where the host merged them into /usr). /etc comes from etcView.
func systemMounts() []string {
	args := []string{"--ro-bind", "/usr", "/usr"}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			if t, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", t, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	return args
}

// Exec implements backend.Engine. Argv is executed as is (no shell). The command's working directory is
// req.Cwd: relative to the home, or absolute inside the home or (under bubblewrap) a volume. Its environment
// is PATH, HOME, LANG=C.UTF-8 and TERM=dumb, then the sandbox env, then req.Env. It is killed with its whole
// process tree at req.Timeout, else the sandbox's timeout, else DefaultTimeout: the result then has TimedOut
// set and ExitCode -1. A command killed by a signal otherwise (e.g. by StopSandbox) exits with 128 + the
// signal. A command that cannot be found exits with 127. Each output stream keeps its first MaxOutputBytes.
// Cancelling ctx kills the command and returns ctx's error. The sandbox's network policy applies (see the
// package documentation); under allow_list, HTTP_PROXY, HTTPS_PROXY, http_proxy and https_proxy lead to the
// egress proxy and NO_PROXY, no_proxy name the sandbox's own loopback.
func (e *Engine) Exec(ctx context.Context, externalID string, req backend.ExecRequest) (*backend.ExecResult, error) {
	if err := checkExecRequest(ctx, req); err != nil {
		return nil, err
	}
	dir, err := e.dirOf(externalID)
	if err != nil {
		return nil, err
	}
	return e.execIn(ctx, dir, metaFile, "sandbox", req)
}

func checkExecRequest(ctx context.Context, req backend.ExecRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return errors.New("exec: empty command")
	}
	for _, a := range req.Argv {
		if strings.ContainsRune(a, 0) {
			return errors.New("exec: an argument contains NUL")
		}
	}
	if err := backend.CheckEnv(req.Env); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	if req.Timeout < 0 {
		return fmt.Errorf("exec: negative timeout %s", req.Timeout)
	}
	return nil
}

// execIn runs a command in the sandbox, workspace or setup builder of dir, whose metadata is file.
func (e *Engine) execIn(ctx context.Context, dir, file, noun string, req backend.ExecRequest) (*backend.ExecResult, error) {
	lk, err := lockFileAt(filepath.Join(dir, lockFile), noun, false)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	m, err := readMetaFile(dir, file, noun)
	if err != nil {
		return nil, err
	}
	switch m.State {
	case backend.StateRunning, backend.WorkspaceActive:
	case backend.StateStopped:
		return nil, fmt.Errorf("%s %s is stopped: start it before running commands", noun, m.ExternalID)
	default:
		return nil, fmt.Errorf("%s %s is %s, not running: it cannot run commands", noun, m.ExternalID, m.State)
	}
	env, err := readEnv(dir)
	if err != nil {
		return nil, err
	}
	policy, err := readPolicy(dir)
	if err != nil {
		return nil, err
	}
	lim, err := parseLimits(m.Options)
	if err != nil {
		return nil, err
	}
	timeout := backend.CommandTimeout(req.Timeout, m.timeout(), DefaultTimeout)
	home, err := e.ensureHome(dir, m)
	if err != nil {
		return nil, err
	}
	if err := e.mountVolumes(m); err != nil {
		return nil, err
	}
	if err := e.ownVolumes(m); err != nil {
		return nil, err
	}
	r := &run{
		engine:  e,
		dir:     dir,
		home:    home,
		meta:    m,
		limits:  lim,
		timeout: timeout,
		env:     mergeEnv(e.homeFor(home), env, req.Env),
		req:     req,
		policy:  policy,
	}
	defer r.closeEgress()
	if e.isolation == IsolationBwrap {
		if cg := hostCgroups(); cg.err == nil {
			r.cg, r.cgName = cg, cgroupName(dir)
			if err := prepareCgroup(cg, r.cgName, filepath.Join(dir, file), lim.memoryBytes(), lim.procs()); err != nil {
				return nil, fmt.Errorf("exec: applying the limits of %s %s: %w", noun, m.ExternalID, err)
			}
		}
	}
	if err := r.resolveCwd(); err != nil {
		return nil, err
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	lk.unlock() // the command is recorded under run/: StopSandbox can see and kill it from now on
	return r.wait(ctx)
}

// preparedCgroups remembers, per box cgroup name, what this process last wrote its limits from (see
// prepareCgroup).
var preparedCgroups sync.Map // name -> preparedKey

// preparedKey is the limits written to a box's cgroups and the metadata file they were read from (its inode and
// modification time: every change of a box's limits rewrites it).
type preparedKey struct {
	mem, procs int64
	ino        uint64
	mtime      int64
}

// prepareCgroup makes the box's cgroups and writes its limits (cgroupSys.prepare), unless this process already
// wrote the same limits from the same metadata file and the cgroups are still there: a command then costs no
// mkdir and no write of a limit (six and five on cgroup v1). Whoever removes them (stop, delete, in any
// process) removes the directories, which the check sees; whoever changes the limits rewrites the metadata.
func prepareCgroup(cg *cgroupSys, name, metaPath string, memBytes, maxProcs int64) error {
	want := preparedKey{mem: memBytes, procs: maxProcs}
	if fi, err := os.Stat(metaPath); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			want.ino, want.mtime = st.Ino, fi.ModTime().UnixNano()
		}
	}
	if v, ok := preparedCgroups.Load(name); ok && want.ino != 0 && v == any(want) {
		there := true
		for _, b := range cg.bases {
			if _, err := os.Stat(filepath.Join(b, name, cgCmds)); err != nil {
				there = false
				break
			}
		}
		if there {
			return nil
		}
	}
	preparedCgroups.Delete(name)
	if err := cg.prepare(name, memBytes, maxProcs); err != nil {
		return err
	}
	preparedCgroups.Store(name, want)
	return nil
}

// homeFor is the home as commands see it.
func (e *Engine) homeFor(hostHome string) string {
	if e.isolation == IsolationNone {
		return hostHome
	}
	return SandboxHome
}

// mergeEnv returns the command environment: fixed variables, then the sandbox env, then the request env.
func mergeEnv(home string, layers ...map[string]string) map[string]string {
	env := map[string]string{"PATH": sandboxPATH, "HOME": home, "LANG": "C.UTF-8", "TERM": "dumb"}
	for _, l := range layers {
		for k, v := range l {
			env[k] = v
		}
	}
	return env
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// run is one command being run.
type run struct {
	engine  *Engine
	dir     string
	home    string
	meta    *meta
	limits  limits
	timeout time.Duration
	env     map[string]string
	req     backend.ExecRequest
	policy  *backend.NetworkPolicy
	egress  *egress    // the egress proxy of an allow_list command
	cg      *cgroupSys // the host's cgroups (bubblewrap, when this process can use them); nil without
	cgName  string     // the box's cgroup under cg

	etc     string // the /etc view (bubblewrap)
	cwd     string // inside the sandbox
	hostCwd string // on the host (isolation none)

	cmd       *exec.Cmd
	group     proc
	runPath   string
	began     time.Time
	stdout    cappedBuffer
	stderr    cappedBuffer
	readers   sync.WaitGroup
	outR      []*os.File
	infoR     *os.File      // bubblewrap --info-fd, read end
	blockW    *os.File      // bubblewrap --block-fd, write end
	setupDone chan error    // bubblewrap: the outcome of setupSandbox
	exited    chan struct{} // closed when the started process has exited (not reaped yet)
	notFound  bool          // isolation none: argv[0] was not found
	started   bool          // bubblewrap reported its sandbox (set by setupSandbox before setupDone)

	conn       *net.UnixConn // the connection to the sandbox's spawner, for a command run in its init
	pidfd      int           // the command's pidfd from the spawner, or -1
	notStarted *spawnStarted // the spawner could not start the command
	status     syscall.WaitStatus
	statusOK   bool // status came from the spawner (else the spawner ended first: the sandbox was killed)
}

// resolveCwd checks req.Cwd: it must exist and stay inside the home or a volume.
func (r *run) resolveCwd() error {
	c := r.req.Cwd
	if c != "" && path.IsAbs(c) && r.engine.isolation == IsolationBwrap {
		cc := path.Clean(c)
		for _, v := range r.meta.Volumes {
			if within(cc, v.MountPath) {
				rel := strings.TrimPrefix(strings.TrimPrefix(cc, v.MountPath), "/")
				if rel == "" {
					rel = "."
				}
				if err := checkDir(v.HostPath, rel); err != nil {
					return fmt.Errorf("exec: working directory %q: %w", c, err)
				}
				r.cwd = cc
				return nil
			}
		}
	}
	rel := "."
	if c != "" {
		var err error
		rel, err = homeRel(c, r.home)
		if err != nil {
			return fmt.Errorf("exec: working directory: %w", err)
		}
	}
	if err := checkDir(r.home, rel); err != nil {
		return fmt.Errorf("exec: working directory %q: %w", c, err)
	}
	r.cwd = path.Join(r.engine.homeFor(r.home), rel)
	r.hostCwd = filepath.Join(r.home, filepath.FromSlash(rel))
	return nil
}

// checkDir checks that rel is a directory beneath root, following symlinks only inside it.
func checkDir(root, rel string) error {
	rt, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer rt.Close()
	fi, err := rt.Stat(rel)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New("not a directory")
	}
	return nil
}

// start starts the command and records it under run/.
func (r *run) start() error {
	markCloseOnExec() // nothing of the provider's but what the command is given (fds_linux.go)
	var err error
	if r.engine.isolation == IsolationNone {
		err = r.startNone()
	} else if r.meta.Kind == kindBuilder {
		// A setup builder runs one command and its home then becomes the artifact: no init to keep.
		err = r.startBwrap()
	} else {
		p, perr := r.prepareSpawn()
		if perr != nil {
			return perr
		}
		c, unlock, ierr := r.ensureInit()
		switch {
		case ierr != nil:
			p.abandon(r)
			return ierr
		case c != nil:
			err := r.startSpawned(c, p) // returns once the spawner has answered
			unlock()
			return err
		default:
			p.abandon(r)
			err = r.startBwrap() // the init must be replaced but commands still run in it
		}
	}
	if err != nil || r.cmd == nil {
		return err
	}
	pid := r.cmd.Process.Pid
	g, ok := procOf(pid)
	if !ok {
		g = proc{PID: pid}
	}
	r.group = g
	r.runPath = filepath.Join(r.dir, runDir, strconv.Itoa(pid)+"-"+nonce()+".json")
	if err := writeRunFile(r.runPath, runFile{Group: g}); err != nil {
		r.kill()
		closeAll(r.infoR, r.blockW)
		_, _ = r.finish()
		return fmt.Errorf("exec: recording the command: %w", err)
	}
	r.exited = make(chan struct{})
	go func() {
		waitExited(pid)
		close(r.exited)
	}()
	if r.infoR != nil {
		r.setupDone = make(chan error, 1)
		go func() {
			r.setupDone <- r.setupSandbox()
		}()
	}
	return nil
}

// pipes returns a pipe per output stream, read into the capped buffers.
func (r *run) pipes() (stdoutW, stderrW *os.File, err error) {
	or, ow, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("exec: %w", err)
	}
	er, ew, err := os.Pipe()
	if err != nil {
		closeAll(or, ow)
		return nil, nil, fmt.Errorf("exec: %w", err)
	}
	r.outR = []*os.File{or, er}
	return ow, ew, nil
}

func (r *run) readOutput() {
	var outMu sync.Mutex // ExecRequest.Output is never called concurrently
	for i, dst := range []*cappedBuffer{&r.stdout, &r.stderr} {
		src := r.outR[i]
		var w io.Writer = dst
		if out := r.req.Output; out != nil {
			stream := [...]string{"stdout", "stderr"}[i]
			w = streamWriter{dst: dst, out: func(p []byte) {
				outMu.Lock()
				defer outMu.Unlock()
				out(stream, p)
			}}
		}
		r.readers.Add(1)
		go func() {
			defer r.readers.Done()
			_, _ = io.Copy(w, src)
		}()
	}
}

// streamWriter keeps the output in dst and gives it to the caller's ExecRequest.Output as it comes.
type streamWriter struct {
	dst io.Writer
	out func([]byte)
}

func (s streamWriter) Write(p []byte) (int, error) {
	s.out(p)
	return s.dst.Write(p)
}

func (r *run) startNone() error {
	file, found := lookPath(r.req.Argv[0], r.env["PATH"], r.hostCwd)
	if !found {
		r.notFound = true
		return nil
	}
	ow, ew, err := r.pipes()
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{
		Path:        file,
		Args:        r.req.Argv,
		Env:         envList(r.env),
		Dir:         r.hostCwd,
		Stdout:      ow,
		Stderr:      ew,
		WaitDelay:   outputGrace,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	if r.req.Stdin != nil {
		cmd.Stdin = bytes.NewReader(r.req.Stdin)
	}
	r.began = time.Now()
	err = cmd.Start()
	closeAll(ow, ew)
	if err != nil {
		closeAll(r.outR...)
		return fmt.Errorf("exec: starting %s: %w", r.req.Argv[0], err)
	}
	r.cmd = cmd
	r.readOutput()
	return nil
}

// bwrapArgs returns the bubblewrap options, passed on a pipe (--args) so that env values never appear on a
// command line (/proc/<pid>/cmdline is world-readable).
func (r *run) bwrapArgs(st *stager) []string {
	// Every namespace of its own; allow_all keeps the host's network namespace.
	a := []string{"--unshare-all", "--unshare-user"}
	if policyMode(r.policy, IsolationBwrap) == backend.PolicyAllowAll {
		a = []string{"--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"}
	}
	a = append(a, r.engine.userArgs()...)
	a = append(a,
		"--disable-userns",
		"--die-with-parent", "--new-session",
		"--cap-drop", "ALL",
		"--hostname", "sandbox",
	)
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
	env := r.env
	if r.egress != nil {
		a = append(a, "--ro-bind", st.src(r.egress.exe), egressHelper)
		env = maps.Clone(env)
		// For the forwarder only: it removes them from the command's env.
		env[egressEnv] = strconv.Itoa(egressFD)
	}
	// The root (a tmpfs holding the mount points) becomes read-only; /tmp, the home and volumes stay writable.
	a = append(a, "--remount-ro", "/", "--chdir", r.cwd, "--clearenv")
	for _, k := range sortedKeys(env) {
		a = append(a, "--setenv", k, env[k])
	}
	a = append(a, "--info-fd", "4", "--block-fd", "5")
	return a
}

func (r *run) startBwrap() error {
	etc, err := r.engine.etcView()
	if err != nil {
		return err
	}
	r.etc = etc
	argv := r.req.Argv
	extra := []*os.File{}
	if policyMode(r.policy, IsolationBwrap) == backend.PolicyAllowList {
		if r.egress, err = r.engine.startEgress(r.policy); err != nil {
			return fmt.Errorf("exec: starting the egress proxy: %w", err)
		}
		argv = append([]string{egressHelper}, argv...)
		extra = append(extra, r.egress.sandboxEnd) // fd 6 = egressFD
	}
	st := r.engine.stager()
	args := nulJoined(r.bwrapArgs(st))
	bwrapPath, bwrapEnv, err := r.engine.bwrapCommand(st)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	argsR, argsW, infoR, infoW, blockR, blockW, err := bwrapPipes()
	if err != nil {
		return err
	}
	ow, ew, err := r.pipes()
	if err != nil {
		closeAll(argsR, argsW, infoR, infoW, blockR, blockW)
		return err
	}
	cmd := &exec.Cmd{
		Path:       bwrapPath,
		Args:       append([]string{"bwrap", "--args", "3", "--"}, argv...),
		Env:        bwrapEnv,
		Dir:        "/",
		Stdout:     ow,
		Stderr:     ew,
		ExtraFiles: append([]*os.File{argsR, infoW, blockR}, extra...), // fds 3, 4, 5 (and 6)
		WaitDelay:  outputGrace,
		// bwrap --die-with-parent ties the sandbox to this process; its own group lets a kill reach it.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if r.req.Stdin != nil {
		cmd.Stdin = bytes.NewReader(r.req.Stdin)
	}
	r.began = time.Now()
	err = cmd.Start()
	closeAll(argsR, infoW, blockR, ow, ew)
	if r.egress != nil {
		r.egress.closeSandboxEnd() // the sandbox holds it now
	}
	if err != nil {
		closeAll(argsW, infoR, blockW)
		closeAll(r.outR...)
		return fmt.Errorf("exec: starting bubblewrap: %w", err)
	}
	r.cmd = cmd
	r.readOutput()
	go func() {
		_, _ = io.WriteString(argsW, args) // fails only when bwrap died, which Wait reports
		_ = argsW.Close()
	}()
	r.infoR, r.blockW = infoR, blockW
	return nil
}

// setupSandbox reads bubblewrap's init pid from the info pipe, records it, applies the limits to it and only
// then lets the command start (block pipe). If bubblewrap fails before writing its info, the info pipe ends and
// there is nothing to do. If a step fails, the sandbox is killed before the block pipe is closed (closing it
// releases bubblewrap too), so a command never runs unrecorded or without its limits.
func (r *run) setupSandbox() (err error) {
	defer closeAll(r.infoR, r.blockW)
	var info struct {
		ChildPID int `json:"child-pid"`
	}
	if derr := json.NewDecoder(r.infoR).Decode(&info); derr != nil || info.ChildPID <= 1 {
		r.kill()
		return nil // bubblewrap failed; its exit status and stderr tell why
	}
	r.started = true
	defer func() {
		if err != nil {
			_ = unix.Kill(info.ChildPID, unix.SIGKILL)
			r.kill()
		}
	}()
	init, ok := procOf(info.ChildPID)
	if !ok {
		return fmt.Errorf("bubblewrap's init %d is gone", info.ChildPID)
	}
	if err := writeRunFile(r.runPath, runFile{Group: r.group, Init: &init}); err != nil {
		return fmt.Errorf("recording the command: %w", err)
	}
	if r.cg != nil {
		// The whole one-shot sandbox is its command: it goes into cmds/, under max_processes.
		if err := r.cg.enter(r.cgName, cgCmds, info.ChildPID); err != nil {
			return fmt.Errorf("applying resource limits: %w", err)
		}
	}
	// Through the launcher (the provider is root), the pids cgroup is the process limit (max_processes is refused
	// as root without cgroups) and the launcher disabled core dumps.
	if r.engine.sandboxUID < 0 {
		if err := setLimits(info.ChildPID, r.limits.procs()); err != nil {
			return fmt.Errorf("applying resource limits: %w", err)
		}
	}
	if _, err := r.blockW.Write([]byte{1}); err != nil {
		return nil // bubblewrap died meanwhile; Wait reports it
	}
	return nil
}

// closeEgress stops the egress proxy of the command, if any.
func (r *run) closeEgress() {
	if r.egress != nil {
		r.egress.close()
	}
}

// kill kills, under bubblewrap, the sandbox's init first (which ends the sandbox's pid namespace; bubblewrap
// then reaps it and exits), and then the command's process group. The group leader is not reaped yet when this
// runs, so its ids are not reused.
func (r *run) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	if rf := r.readRunFile(); rf.Init != nil && rf.Init.same() {
		_ = unix.Kill(rf.Init.PID, unix.SIGKILL)
		if r.exited != nil {
			select {
			case <-r.exited: // bubblewrap reaped its init and exited
			case <-time.After(killGrace):
			}
		}
	}
	_ = unix.Kill(-r.cmd.Process.Pid, unix.SIGKILL)
}

func (r *run) readRunFile() runFile {
	var rf runFile
	if b, err := os.ReadFile(r.runPath); err == nil {
		_ = json.Unmarshal(b, &rf)
	}
	return rf
}

// wait waits for the command, its timeout, or ctx, and builds the result.
func (r *run) wait(ctx context.Context) (*backend.ExecResult, error) {
	if r.notFound {
		return &backend.ExecResult{ExitCode: 127, Stderr: []byte(r.req.Argv[0] + ": command not found\n")}, nil
	}
	if r.conn != nil {
		return r.waitSpawned(ctx)
	}
	exited := r.exited
	timer := time.NewTimer(r.timeout)
	defer timer.Stop()
	var timedOut bool
	var ctxErr, setupErr error
	setupDone := r.setupDone
wait:
	for {
		select {
		case <-exited:
			break wait
		case err := <-setupDone:
			setupDone = nil
			if err != nil {
				setupErr = err
				r.kill()
			}
		case <-timer.C:
			timedOut = true
			r.kill()
		case <-ctx.Done():
			ctxErr = ctx.Err()
			r.kill()
		}
	}
	dur := time.Since(r.began)
	if setupDone != nil {
		// bubblewrap has exited, so its info pipe has ended: this returns at once.
		if err := <-setupDone; err != nil {
			setupErr = err
		}
	}
	// Whatever remains of the command's group (isolation none) goes with it, as a sandbox's processes do
	// when its pid namespace ends.
	r.kill()
	init := r.readRunFile().Init
	state, err := r.finish()
	if init != nil {
		_ = waitGone(context.WithoutCancel(ctx), []proc{*init})
	}
	switch {
	case ctxErr != nil:
		return nil, fmt.Errorf("exec %s in sandbox %s: %w", r.req.Argv[0], r.meta.ExternalID, ctxErr)
	case setupErr != nil:
		return nil, fmt.Errorf("exec %s in sandbox %s: %w", r.req.Argv[0], r.meta.ExternalID, setupErr)
	case state == nil:
		return nil, fmt.Errorf("exec %s in sandbox %s: %w", r.req.Argv[0], r.meta.ExternalID, err)
	}
	res := &backend.ExecResult{
		ExitCode: exitCode(state),
		Stdout:   r.stdout.Bytes(),
		Stderr:   r.stderr.Bytes(),
		TimedOut: timedOut,
		Duration: dur,
	}
	if timedOut {
		res.ExitCode = -1
	}
	if r.engine.isolation == IsolationBwrap && res.ExitCode == 1 && !timedOut {
		if msg, ok := strings.CutPrefix(string(res.Stderr), "bwrap: "); ok {
			switch {
			case r.started && strings.HasPrefix(msg, "execvp "):
				res.ExitCode = 127 // the command was not found or could not be executed
			case !r.started:
				// Only before the sandbox started is stderr bubblewrap's own: afterwards it is the command's, which
				// the provider never shows as its own error message.
				return nil, fmt.Errorf("bubblewrap could not start the sandbox %s: %s", r.meta.ExternalID, strings.TrimSpace(msg))
			}
		}
	}
	return res, nil
}

// finish reaps the command, stops reading its output and forgets it.
func (r *run) finish() (*os.ProcessState, error) {
	err := r.cmd.Wait()
	done := make(chan struct{})
	go func() {
		r.readers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(outputGrace):
		closeAll(r.outR...) // a descendant outside the group holds the pipes: stop reading
		<-done
	}
	closeAll(r.outR...)
	_ = os.Remove(r.runPath)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		return nil, err
	}
	return r.cmd.ProcessState, nil
}

func exitCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// lookPath finds a command as a shell would with the sandbox's PATH (not the provider's).
func lookPath(name, pathEnv, cwd string) (string, bool) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		return p, isExecutable(p)
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		if isExecutable(p) {
			return p, true
		}
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			_ = f.Close()
		}
	}
}

// cappedBuffer keeps the first MaxOutputBytes written and discards the rest.
type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := MaxOutputBytes - c.buf.Len(); room > 0 {
		if len(p) <= room {
			c.buf.Write(p)
		} else {
			c.buf.Write(p[:room])
		}
	}
	return len(p), nil
}

func (c *cappedBuffer) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// nulJoined is bubblewrap's --args format: every argument followed by a NUL byte.
func nulJoined(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a)
		b.WriteByte(0)
	}
	return b.String()
}

// bwrapPipes makes the three pipes bubblewrap is started with: its arguments (--args), what it reports of the
// sandbox (--info-fd) and the one that holds the command until the caller is ready (--block-fd).
func bwrapPipes() (argsR, argsW, infoR, infoW, blockR, blockW *os.File, err error) {
	if argsR, argsW, err = os.Pipe(); err != nil {
		return nil, nil, nil, nil, nil, nil, fmt.Errorf("exec: %w", err)
	}
	if infoR, infoW, err = os.Pipe(); err != nil {
		closeAll(argsR, argsW)
		return nil, nil, nil, nil, nil, nil, fmt.Errorf("exec: %w", err)
	}
	if blockR, blockW, err = os.Pipe(); err != nil {
		closeAll(argsR, argsW, infoR, infoW)
		return nil, nil, nil, nil, nil, nil, fmt.Errorf("exec: %w", err)
	}
	return argsR, argsW, infoR, infoW, blockR, blockW, nil
}
