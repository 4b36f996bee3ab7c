//go:build linux

package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// init hands control to the egress forwarder when this executable was started as one: as the first process of
// an allow_list command, as a sandbox's spawner (spawner_linux.go) or as the shim, bind-mounted in the sandbox
// read-only by the engine (see the package documentation). It works
// in the provider binary and in test binaries alike, since both link this package. Nothing else is run.
func init() {
	as, asOK := os.LookupEnv(shimASEnv)
	nproc, nprocOK := os.LookupEnv(shimNprocEnv)
	if asOK || nprocOK {
		os.Exit(runShim(as, nproc, os.Args[1:]))
	}
	if fd, ok := os.LookupEnv(egressEnv); ok {
		os.Exit(runForwarder(fd, os.Args[1:]))
	}
	if fd, ok := os.LookupEnv(spawnerEnv); ok {
		os.Exit(runSpawner(fd))
	}
}

// runShim limits its address space to as bytes and its processes to nproc (each unless empty or 0) and
// executes argv in its place: the forwarder and the spawner start the command through it when the sandbox has
// limits that they, Go programs, could not run under themselves. It returns only when the command cannot be run.
func runShim(as, nproc string, argv []string) int {
	parse := func(s string) (uint64, bool) {
		if s == "" {
			return 0, true
		}
		n, err := strconv.ParseUint(s, 10, 64)
		return n, err == nil
	}
	n, ok1 := parse(as)
	np, ok2 := parse(nproc)
	if !ok1 || !ok2 || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "sandbox exec shim: bad %s %q, %s %q or no command\n", shimASEnv, as, shimNprocEnv, nproc)
		return 126
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, shimASEnv+"=") && !strings.HasPrefix(kv, shimNprocEnv+"=") {
			env = append(env, kv)
		}
	}
	cwd, _ := os.Getwd()
	file, found := lookPath(argv[0], os.Getenv("PATH"), cwd)
	if !found {
		fmt.Fprintf(os.Stderr, "%s: command not found\n", argv[0])
		return 127
	}
	if np > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: np, Max: np}); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox exec shim: setting max_processes: %v\n", err)
			return 126
		}
	}
	if n > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox exec shim: setting memory_mb: %v\n", err)
			return 126
		}
	}
	err := unix.Exec(file, argv, env)
	fmt.Fprintf(os.Stderr, "%s: %v\n", argv[0], err)
	return 126
}

// runChild runs the sandbox's command with env (through the shim when as, an address-space limit in bytes, is
// set) and returns the exit status the forwarder exits with: the command's, 128 + the signal that killed it,
// 127 when it cannot be found and 126 when it cannot be run.
func runChild(argv, env []string, as string) int {
	cwd, _ := os.Getwd()
	pathEnv := ""
	for _, kv := range env {
		if len(kv) > 5 && kv[:5] == "PATH=" {
			pathEnv = kv[5:]
		}
	}
	file, found := lookPath(argv[0], pathEnv, cwd)
	if !found {
		fmt.Fprintf(os.Stderr, "%s: command not found\n", argv[0])
		return 127
	}
	cmd := &exec.Cmd{Path: file, Args: argv, Env: env, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if as != "" {
		cmd.Path = "/proc/self/exe" // this executable, as the shim
		cmd.Args = append([]string{egressHelper}, argv...)
		cmd.Env = append(env, shimASEnv+"="+as)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", argv[0], err)
		if errors.Is(err, fs.ErrNotExist) {
			return 127
		}
		return 126
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	_ = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}
