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
	if spec, ok := os.LookupEnv(launchEnv); ok {
		os.Exit(runLauncher(spec, os.Args))
	}
	nproc, nprocOK := os.LookupEnv(shimNprocEnv)
	cg, cgOK := os.LookupEnv(shimCgroupEnv)
	if nprocOK || cgOK {
		os.Exit(runShim(nproc, cg, os.Args[1:]))
	}
	if fd, ok := os.LookupEnv(egressEnv); ok {
		os.Exit(runForwarder(fd, os.Args[1:]))
	}
	if fd, ok := os.LookupEnv(spawnerEnv); ok {
		os.Exit(runSpawner(fd))
	}
}

// runShim writes itself into the cgroups whose cgroup.procs files are the descriptors listed in cgroupFDs
// (comma-separated), limits its processes to nproc (unless empty or 0) and executes argv in its place: the
// spawner starts a command through it, since the spawner, a Go program, cannot run code between fork and exec.
// It returns only when the command cannot be run.
func runShim(nproc, cgroupFDs string, argv []string) int {
	np, err := strconv.ParseUint(nproc, 10, 64)
	if nproc == "" {
		np, err = 0, nil
	}
	if err != nil || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "sandbox exec shim: bad %s %q or no command\n", shimNprocEnv, nproc)
		return 126
	}
	for _, s := range strings.Split(cgroupFDs, ",") {
		if s == "" {
			continue
		}
		fd, err := strconv.Atoi(s)
		if err != nil || fd < 3 {
			fmt.Fprintf(os.Stderr, "sandbox exec shim: bad %s %q\n", shimCgroupEnv, cgroupFDs)
			return 126
		}
		_, werr := unix.Write(fd, []byte("0"))
		_ = unix.Close(fd)
		if werr != nil {
			// Never run a command outside its sandbox's limits.
			fmt.Fprintf(os.Stderr, "sandbox exec shim: entering the sandbox's cgroup: %v\n", werr)
			return 126
		}
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, shimNprocEnv+"=") && !strings.HasPrefix(kv, shimCgroupEnv+"=") {
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
	err = unix.Exec(file, argv, env)
	fmt.Fprintf(os.Stderr, "%s: %v\n", argv[0], err)
	return 126
}

// runChild runs the sandbox's command with env and returns the exit status the forwarder exits with: the command's, 128 + the signal that killed it,
// 127 when it cannot be found and 126 when it cannot be run.
func runChild(argv, env []string) int {
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
