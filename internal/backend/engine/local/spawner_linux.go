//go:build linux

package local

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The spawner is the long-lived process of a running sandbox (see initproc_linux.go): bubblewrap starts it once,
// in the sandbox's namespaces, without capabilities and under its limits, and every command of the sandbox is
// then one fork and exec of it. It is this executable (the provider, or a test binary), bind-mounted read-only
// at egressHelper and started with spawnerEnv naming the descriptor of a listening SOCK_SEQPACKET unix socket
// that the engine made on the host (run/init.sock). The socket is not mounted in the sandbox: only processes on
// the host that can open the sandbox's directory reach it.
//
// One connection runs one command:
//
//	engine -> spawner  8-byte body length and the body's first spawnChunk bytes (a spawnRequest in JSON), with
//	                   the command's descriptors (stdin, stdout, stderr and any extra ones, which the command
//	                   gets as 3, 4, ...) attached: one message for any usual command
//	engine -> spawner  the rest of the body, if any, in messages of at most spawnChunk bytes
//	spawner -> engine  'S' + a spawnStarted in JSON, with the command's pidfd attached when it started
//	engine -> spawner  'K' (any time after): kill the command's process group
//	spawner -> engine  'X' + a spawnExited in JSON, once the command has exited and its group was killed
//
// The command runs in a session of its own. When it exits, the rest of its process group is killed (a command's
// background children end with it, as when every command had a sandbox of its own); when the last running
// command of the sandbox exits, every process left in the sandbox (daemons that left the command's group) is
// killed too. A connection that ends before the command does (the provider died) kills the command's group.
const (
	// spawnerEnv tells the executable to be a sandbox's spawner, listening on the descriptor it names.
	spawnerEnv = "TERRAFORM_PROVIDER_SANDBOX_SPAWNER_FD"
	// spawnerLockEnv names the descriptor of the sandbox's init lock; spawnerIdleEnv how long the spawner waits
	// without a command before it exits (a Go duration; "0s" = never).
	spawnerLockEnv = "TERRAFORM_PROVIDER_SANDBOX_SPAWNER_LOCK_FD"
	spawnerIdleEnv = "TERRAFORM_PROVIDER_SANDBOX_SPAWNER_IDLE"
	// spawnerNprocEnv is the RLIMIT_NPROC that the spawner gives itself (and so the sandbox's commands) when
	// the engine cannot set it from outside: bubblewrap started by the launcher runs as the sandbox user, in a
	// user namespace of its own, where root needs CAP_SYS_RESOURCE (which containers often lack) for prlimit.
	spawnerNprocEnv = "TERRAFORM_PROVIDER_SANDBOX_SPAWNER_NPROC"
	// shimNprocEnv is max_processes, for the shim to apply to the command (see runShim).
	shimNprocEnv = "TERRAFORM_PROVIDER_SANDBOX_EXEC_RLIMIT_NPROC"
	// shimCgroupEnv lists the descriptors (comma-separated) of the cgroup.procs files the shim writes the
	// command into.
	shimCgroupEnv = "TERRAFORM_PROVIDER_SANDBOX_EXEC_CGROUP_FDS"
	// spawnerName is the spawner's process name (/proc/<pid>/comm) in the sandbox, where it is pid 1.
	spawnerName = "sandbox-init"
	// spawnerProto changes whenever the protocol does: a spawner of another version is replaced.
	spawnerProto = 4
	spawnChunk   = 32 << 10
	spawnMaxBody = 64 << 20
	spawnMaxFDs  = 8
)

// spawnRequest is a command to run. NProc, when set, is applied to the command by the shim, which also writes
// it into the cgroups whose cgroup.procs files are the command's descriptors listed in Cgroup.
type spawnRequest struct {
	Argv   []string `json:"argv"`
	Env    []string `json:"env"`
	Dir    string   `json:"dir"`
	NProc  int64    `json:"nproc,omitempty"`
	Cgroup []int    `json:"cgroup,omitempty"`
}

// spawnStarted answers a request: Pid (in the sandbox) when the command started, else Code and Stderr.
type spawnStarted struct {
	Pid    int    `json:"pid,omitempty"`
	Code   int    `json:"code,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// spawnExited is the command's wait status.
type spawnExited struct {
	Status uint32 `json:"status"`
}

// runSpawner is the spawner's main: it serves connections until the listener fails.
func runSpawner(fdText string) int {
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		fmt.Fprintf(os.Stderr, "sandbox spawner: bad %s %q\n", spawnerEnv, fdText)
		return 126
	}
	unix.CloseOnExec(fd)
	// Commands run as the same user: they must not be able to trace the spawner or take its descriptors.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	if name, err := unix.BytePtrFromString(spawnerName); err == nil {
		_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(name)), 0, 0, 0)
	}
	f := os.NewFile(uintptr(fd), "spawner")
	l, err := net.FileListener(f)
	_ = f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox spawner: %v\n", err)
		return 126
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		fmt.Fprintln(os.Stderr, "sandbox spawner: not a unix socket")
		return 126
	}
	if n, err := strconv.ParseUint(os.Getenv(spawnerNprocEnv), 10, 64); err == nil && n > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox spawner: setting max_processes: %v\n", err)
			return 126
		}
	}
	s := &spawner{last: time.Now(), commands: map[int]bool{}}
	if os.Getpid() == 1 {
		// The sandbox's init (bubblewrap --as-pid-1): it reaps the processes orphaned in the sandbox, and ignores
		// the signals a command could send it (the kernel already drops those it has no handler for).
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE, syscall.SIGUSR1,
			syscall.SIGUSR2, syscall.SIGALRM, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU)
		go s.reapOrphans()
	}
	if idle, err := time.ParseDuration(os.Getenv(spawnerIdleEnv)); err == nil && idle > 0 {
		if lockFD, err := strconv.Atoi(os.Getenv(spawnerLockEnv)); err == nil && lockFD > 2 {
			unix.CloseOnExec(lockFD)
			go s.exitWhenIdle(lockFD, idle)
		}
	}
	for {
		c, err := ul.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return 0
			}
			continue
		}
		s.mu.Lock()
		s.last = time.Now()
		s.mu.Unlock()
		go s.serve(c)
	}
}

type spawner struct {
	mu       sync.Mutex
	running  int
	last     time.Time    // when a command last ended, or a connection came
	commands map[int]bool // the commands' pids: their own goroutines reap them
	noTrace  atomic.Bool  // tracing a command is refused here: commands enter their cgroups through a shim
}

// reapOrphans reaps, as the sandbox's pid 1, every exited process that is not a command (those are reaped by the
// goroutine that serves them): the processes that outlived their parents.
func (s *spawner) reapOrphans() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	for range ch {
		if !zombieChild() {
			continue // a command stopped at its exec (see start), or one already reaped by its own goroutine
		}
		ents, err := os.ReadDir("/proc")
		if err != nil {
			continue
		}
		for _, ent := range ents {
			pid, err := strconv.Atoi(ent.Name())
			if err != nil || pid <= 1 {
				continue
			}
			if _, zombie, ok := startTime(pid); !ok || !zombie {
				continue
			}
			s.mu.Lock()
			if !s.commands[pid] {
				var ws syscall.WaitStatus
				_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			}
			s.mu.Unlock()
		}
	}
}

// zombieChild reports whether a child of this process has exited and is not reaped yet (without reaping it).
func zombieChild() bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// Linux zeroes info when no child is waitable (ECHILD: no child at all).
		return err == nil && info.Signo != 0
	}
}

// exitWhenIdle ends the spawner, and with it the init (bubblewrap's init follows its only child) and every
// process of the sandbox, once no command has run for idle. It decides only while holding the init lock, which
// an engine holds from dialling the spawner until its answer: so no command is ever refused by a spawner on its
// way out, and the next Exec simply starts a new init.
func (s *spawner) exitWhenIdle(lockFD int, idle time.Duration) {
	tick := idle / 4
	if tick > time.Minute {
		tick = time.Minute
	}
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	}
	for range time.Tick(tick) {
		s.mu.Lock()
		quiet := s.running == 0 && time.Since(s.last) >= idle
		s.mu.Unlock()
		if !quiet || unix.Flock(lockFD, unix.LOCK_EX|unix.LOCK_NB) != nil {
			continue
		}
		s.mu.Lock()
		if s.running == 0 && time.Since(s.last) >= idle {
			os.Exit(0) // the lock goes with the process
		}
		s.mu.Unlock()
		_ = unix.Flock(lockFD, unix.LOCK_UN)
	}
}

func (s *spawner) serve(c *net.UnixConn) {
	defer c.Close()
	files, req, err := readSpawnRequest(c)
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	if err != nil {
		writeSpawnMsg(c, 'S', spawnStarted{Code: 126, Stderr: "sandbox spawner: " + err.Error() + "\n"}, -1)
		return
	}
	env := req.Env
	path := ""
	for _, kv := range env {
		if len(kv) > 5 && kv[:5] == "PATH=" {
			path = kv[5:]
		}
	}
	file, found := lookPath(req.Argv[0], path, req.Dir)
	if !found {
		writeSpawnMsg(c, 'S', spawnStarted{Code: 127, Stderr: req.Argv[0] + ": command not found\n"}, -1)
		return
	}
	pid, pidfd, err := s.start(req, files, file)
	for _, f := range files {
		_ = f.Close()
	}
	files = nil
	if err != nil {
		code := 126
		if errors.Is(err, syscall.ENOENT) {
			code = 127
		}
		writeSpawnMsg(c, 'S', spawnStarted{Code: code, Stderr: fmt.Sprintf("%s: %v\n", req.Argv[0], err)}, -1)
		return
	}
	writeSpawnMsg(c, 'S', spawnStarted{Pid: pid}, pidfd)
	if pidfd >= 0 {
		_ = unix.Close(pidfd)
	}
	// Kill requests, and the end of the connection, kill the command's group (until it is reaped, its pid and
	// group id cannot be reused).
	reaped := make(chan struct{})
	var killMu sync.Mutex
	killGroup := func() {
		killMu.Lock()
		defer killMu.Unlock()
		select {
		case <-reaped:
		default:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	go func() {
		buf := make([]byte, 16)
		for {
			n, err := c.Read(buf)
			if err != nil || n == 0 {
				killGroup()
				return
			}
			if buf[0] == 'K' {
				killGroup()
			}
		}
	}()
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	var ws syscall.WaitStatus
	killMu.Lock()
	_ = syscall.Kill(-pid, syscall.SIGKILL) // what is left of its group ends with it
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	close(reaped)
	killMu.Unlock()
	s.mu.Lock()
	delete(s.commands, pid)
	s.running--
	s.last = time.Now()
	if s.running == 0 {
		// Nothing runs: whatever is left (daemons that left their command's group) goes. kill(-1) reaches every
		// process of the sandbox but this one and bubblewrap's init.
		_ = syscall.Kill(-1, syscall.SIGKILL)
	}
	s.mu.Unlock()
	writeSpawnMsg(c, 'X', spawnExited{Status: uint32(ws)}, -1)
}

// start starts the command (file, resolved from req.Argv[0]) with the request's descriptors, in a session of its
// own, and returns its pid and pidfd. A command with cgroups to enter is in them before it runs an instruction of
// its own: the spawner traces it (PTRACE_TRACEME in the child), so that it stops right after its exec, writes its
// pid into each cgroup.procs descriptor of the request, and lets it go (enterTraced). The descriptors are not
// the command's. Where tracing is refused (Yama's ptrace_scope 2 or 3, a seccomp filter), the command goes through
// the sandbox's /bin/sh instead (cgroupShimScript: a second exec), and without a shell, or with an RLIMIT_NPROC
// to set, through the spawner's own shim.
func (s *spawner) start(req *spawnRequest, files []*os.File, file string) (pid, pidfd int, err error) {
	trace := req.NProc == 0 && len(req.Cgroup) > 0 && !s.noTrace.Load()
	if trace {
		for _, fd := range req.Cgroup {
			if fd < 3 || fd >= len(files) {
				return 0, -1, fmt.Errorf("bad cgroup descriptor %d", fd)
			}
		}
		pid, pidfd, err = s.forkExec(req, files, file, req.Argv, req.Env, true)
		if !errors.Is(err, syscall.EPERM) {
			return pid, pidfd, err
		}
		// PTRACE_TRACEME refused (or the exec itself: the shim finds out which).
		if pid, pidfd, err = s.startShim(req, files, file); err == nil {
			s.noTrace.Store(true)
		}
		return pid, pidfd, err
	}
	return s.startShim(req, files, file)
}

// startShim starts the command through a shim when it has cgroups to enter or an RLIMIT_NPROC (see start).
func (s *spawner) startShim(req *spawnRequest, files []*os.File, file string) (pid, pidfd int, err error) {
	argv, env := req.Argv, req.Env
	if req.NProc == 0 && len(req.Cgroup) > 0 && shellShim != "" {
		// Only cgroups to enter: the sandbox's own /bin/sh writes itself into them and executes the command
		// (a few hundred microseconds, where the shim below is this whole binary's start).
		argv = append([]string{shellShim, "-c", cgroupShimScript(req.Cgroup), req.Argv[0], file}, req.Argv[1:]...)
		file = shellShim
	} else if req.NProc > 0 || len(req.Cgroup) > 0 {
		// What this process cannot do for the command alone (a small RLIMIT_NPROC that its own threads count
		// against, a cgroup of the command's own): the shim does it and executes the command.
		file = "/proc/self/exe"
		argv = append([]string{egressHelper}, argv...)
		fds := make([]string, len(req.Cgroup))
		for i, fd := range req.Cgroup {
			fds[i] = strconv.Itoa(fd)
		}
		env = append(env[:len(env):len(env)], shimNprocEnv+"="+strconv.FormatInt(req.NProc, 10), shimCgroupEnv+"="+strings.Join(fds, ","))
	}
	return s.forkExec(req, files, file, argv, env, false)
}

// forkExec forks and executes the command; with trace, it enters the request's cgroups before it runs (see
// start) and the cgroup descriptors are closed in it.
func (s *spawner) forkExec(req *spawnRequest, files []*os.File, file string, argv, env []string,
	trace bool) (int, int, error) {
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = f.Fd()
	}
	var procs []int
	if trace {
		for _, fd := range req.Cgroup {
			procs = append(procs, int(fds[fd]))
			fds[fd] = ^uintptr(0) // closed in the command
		}
		// The tracer is this thread: the ptrace requests below must come from it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	pidfd := -1
	s.mu.Lock()
	pid, err := syscall.ForkExec(file, argv, &syscall.ProcAttr{
		Dir:   req.Dir,
		Env:   env,
		Files: fds,
		Sys:   &syscall.SysProcAttr{Setsid: true, PidFD: &pidfd, Ptrace: trace},
	})
	if err == nil {
		s.running++
		s.commands[pid] = true
	}
	s.mu.Unlock()
	if err != nil {
		return 0, -1, err
	}
	if trace {
		if reaped, err := enterTraced(pid, procs); err != nil {
			// Never run a command outside its sandbox's limits: it is killed before it ran, and reaped.
			if !reaped {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				var ws syscall.WaitStatus
				for {
					if _, werr := syscall.Wait4(pid, &ws, 0, nil); !errors.Is(werr, syscall.EINTR) {
						break
					}
				}
			}
			s.mu.Lock()
			delete(s.commands, pid)
			s.running--
			s.mu.Unlock()
			if pidfd >= 0 {
				_ = unix.Close(pidfd)
			}
			return 0, -1, err
		}
	}
	return pid, pidfd, nil
}

// enterTraced waits for the traced command pid to stop after its exec (the SIGTRAP of PTRACE_TRACEME), writes
// it into the cgroups whose cgroup.procs are the descriptors procs, and detaches from it. Any other signal that
// stopped it first is delivered as it would have been (after an exec, every caught signal has its default
// action, so no code of the command runs before the SIGTRAP). reaped says the command ended (and was reaped)
// before that.
func enterTraced(pid int, procs []int) (reaped bool, err error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("waiting for the command to start: %w", err)
		}
		if !ws.Stopped() {
			return true, errors.New("the command ended before it entered the sandbox's cgroup")
		}
		if ws.StopSignal() == syscall.SIGTRAP {
			break
		}
		if err := syscall.PtraceCont(pid, int(ws.StopSignal())); err != nil {
			return false, fmt.Errorf("starting the command: %w", err)
		}
	}
	b := []byte(strconv.Itoa(pid))
	for _, fd := range procs {
		if _, err := unix.Write(fd, b); err != nil {
			return false, fmt.Errorf("entering the sandbox's cgroup: %w", err)
		}
	}
	if err := syscall.PtraceDetach(pid); err != nil {
		return false, fmt.Errorf("starting the command: %w", err)
	}
	return false, nil
}

// readSpawnRequest reads the header (with the descriptors) and the body of a request.
func readSpawnRequest(c *net.UnixConn) ([]*os.File, *spawnRequest, error) {
	buf := make([]byte, 8+spawnChunk)
	oob := make([]byte, unix.CmsgSpace(4*spawnMaxFDs))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, nil, err
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, nil, err
		}
		for _, m := range msgs {
			fds, err := unix.ParseUnixRights(&m)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				files = append(files, os.NewFile(uintptr(fd), "fd"))
			}
		}
	}
	if n < 8 {
		return files, nil, errors.New("short request header")
	}
	size := binary.BigEndian.Uint64(buf[:8])
	if size > spawnMaxBody || uint64(n-8) > size {
		return files, nil, fmt.Errorf("request of %d bytes", size)
	}
	body := buf[8:n]
	if uint64(len(body)) < size {
		body = append(make([]byte, 0, size), body...)
	}
	for uint64(len(body)) < size {
		n, err := c.Read(buf)
		if err != nil {
			return files, nil, err
		}
		if n == 0 {
			return files, nil, errors.New("short request")
		}
		body = append(body, buf[:n]...)
	}
	var req spawnRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return files, nil, err
	}
	if len(req.Argv) == 0 || len(files) < 3 {
		return files, nil, errors.New("no command or no standard descriptors")
	}
	return files, &req, nil
}

// writeSpawnMsg writes kind + v in JSON, with fd attached when it is not negative.
func writeSpawnMsg(c *net.UnixConn, kind byte, v any, fd int) {
	b, _ := json.Marshal(v)
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	_, _, _ = c.WriteMsgUnix(append([]byte{kind}, b...), oob, nil)
}

// sendSpawnRequest sends a request with the command's descriptors (engine side).
func sendSpawnRequest(c *net.UnixConn, req spawnRequest, files []*os.File) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	first := min(len(body), spawnChunk)
	msg := make([]byte, 8, 8+first)
	binary.BigEndian.PutUint64(msg, uint64(len(body)))
	msg = append(msg, body[:first]...)
	body = body[first:]
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	if _, _, err := c.WriteMsgUnix(msg, unix.UnixRights(fds...), nil); err != nil {
		return err
	}
	for len(body) > 0 {
		n := min(len(body), spawnChunk)
		if _, err := c.Write(body[:n]); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

// readSpawnMsg reads one message from the spawner: its kind, its JSON into v, and an attached descriptor or -1.
func readSpawnMsg(c *net.UnixConn, v any) (byte, int, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return 0, -1, err
	}
	fd := -1
	if oobn > 0 {
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil {
					for _, f := range fds {
						if fd < 0 {
							fd = f
						} else {
							_ = unix.Close(f)
						}
					}
				}
			}
		}
	}
	if n == 0 {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		return 0, -1, errors.New("the sandbox's spawner ended the connection")
	}
	if err := json.Unmarshal(buf[1:n], v); err != nil {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		return 0, -1, fmt.Errorf("reading the sandbox's spawner: %w", err)
	}
	return buf[0], fd, nil
}

// pidfdPid returns the pid, in this process's namespace, of the process a pidfd refers to.
func pidfdPid(fd int) (int, error) {
	b, err := readSmallFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("no Pid in the pidfd's fdinfo")
}

// shellShim is the shell that moves a command into its cgroups when nothing else is to be done before it runs
// (the sandbox sees the host's /bin, read-only); empty when there is none, and the spawner's own shim is used.
// The command then gets its resolved path as argv[0] (dash has no exec -a), not the name it was given.
var shellShim = func() string {
	if fi, err := os.Stat("/bin/sh"); err == nil && fi.Mode().IsRegular() {
		return "/bin/sh"
	}
	return ""
}()

// cgroupShimScript is the /bin/sh script that writes the shell into the cgroups whose cgroup.procs files are
// the descriptors fds ("0" is the writer), closes them, and executes the command: $0 is the command's argv[0]
// for messages, $1 the resolved file, the rest its arguments. A failed write never runs the command (126).
func cgroupShimScript(fds []int) string {
	var b strings.Builder
	for _, fd := range fds {
		fmt.Fprintf(&b, "{ echo 0 >&%d; } 2>/dev/null || { echo \"sandbox exec shim: entering the sandbox's cgroup failed\" >&2; exit 126; }; exec %d>&-; ", fd, fd)
	}
	b.WriteString(`f=$1; shift; exec "$f" "$@"`)
	return b.String()
}
