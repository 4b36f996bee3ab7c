//go:build linux

package local

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Per-sandbox accounting. Every bubblewrapped sandbox (sandbox, workspace or setup builder) gets a cgroup of its
// own in the pids and memory controllers, so that its limits hold for all of its processes together, whoever
// runs the provider (the kernel applies no RLIMIT_NPROC to root, and RLIMIT_AS is per process):
//
//	<base>/<box>/            memory limit of the whole sandbox (memory_mb; swap counted with it where the host
//	                         accounts swap)
//	<base>/<box>/init/       bubblewrap's init and the spawner (a few threads), pids.max initPids
//	<base>/<box>/cmds/       every command and all it starts, pids.max = max_processes
//
// <base> is "terraform-provider-sandbox" at the root of each hierarchy: cgroup v2 (the unified hierarchy, when it
// has the pids and memory controllers: current distributions), else the cgroup v1 pids and memory hierarchies.
// A command enters cmds/ before it executes: the spawner starts it through the shim, which writes itself into
// cmds/cgroup.procs through descriptors that the engine opened on the host and passed with the command (the
// sandbox has no cgroup file system). Bubblewrap's init enters init/ (or cmds/, for a one-shot bubblewrap) before
// the block pipe lets it start anything.
const cgroupBaseName = "terraform-provider-sandbox"

// initPids bounds the init and spawner of one sandbox (processes and threads), apart from max_processes.
const initPids = 1024

// cgroupSys is the host's cgroup setup as this process can use it.
type cgroupSys struct {
	v2    bool
	bases []string // v2: one base; v1: the pids base, then the memory base
	memsw bool     // v1: the memory controller accounts swap (memory.memsw.*)
	swap  bool     // v2: memory.swap.max exists
	err   error    // why this process cannot put sandboxes in cgroups; nil when it can
}

var (
	hostCgroupsOnce sync.Once
	hostCgroupsVal  *cgroupSys
)

// hostCgroups detects, once per process, whether and how sandboxes get cgroups.
func hostCgroups() *cgroupSys {
	hostCgroupsOnce.Do(func() { hostCgroupsVal = detectCgroups("/proc/self/mountinfo", "/proc/self/cgroup", true) })
	return hostCgroupsVal
}

// errNoCgroups wraps every reason why the host gives no cgroup accounting.
var errNoCgroups = errors.New("this host gives the provider no cgroup pids and memory controllers it can write")

// detectCgroups finds the cgroups sandboxes can use, from this process's mountinfo and cgroup files; probe
// checks them with a real process (tests on a fake file system leave it out).
func detectCgroups(mountinfo, selfCgroup string, probe bool) *cgroupSys {
	v1 := map[string]string{} // controller -> mount point
	var v2mount string
	f, err := os.Open(mountinfo)
	if err != nil {
		return &cgroupSys{err: fmt.Errorf("%w: %w", errNoCgroups, err)}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 1 {
			continue
		}
		mnt := unescapeMount(pf[4])
		switch qf[0] {
		case "cgroup2":
			if v2mount == "" {
				v2mount = mnt
			}
		case "cgroup":
			if len(qf) < 3 {
				continue
			}
			for _, o := range strings.Split(qf[2], ",") {
				if o == "pids" || o == "memory" {
					if _, seen := v1[o]; !seen {
						v1[o] = mnt
					}
				}
			}
		}
	}
	_ = f.Close()
	var reasons []string
	if v2mount != "" {
		c, err := setupV2(v2mount, selfCgroup, func(c *cgroupSys) error { return c.probe(probe) })
		if err == nil {
			return c
		}
		reasons = append(reasons, "cgroup v2: "+err.Error())
	} else {
		reasons = append(reasons, "cgroup v2 is not mounted")
	}
	if v1["pids"] != "" && v1["memory"] != "" {
		c, err := setupV1(v1["pids"], v1["memory"])
		if err == nil {
			if err = c.probe(probe); err == nil {
				return c
			}
		}
		reasons = append(reasons, "cgroup v1: "+err.Error())
	} else {
		reasons = append(reasons, "cgroup v1 has no pids and memory hierarchies")
	}
	return &cgroupSys{err: fmt.Errorf("%w (%s)", errNoCgroups, strings.Join(reasons, "; "))}
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// probe goes once through what every sandbox needs: a cgroup with its limits, a process moved into it from
// here, and a process that writes itself into it through a descriptor opened here (as the shim does). A host
// where one step fails has no cgroup accounting for sandboxes (and says why) rather than sandboxes that cannot
// run a command.
func (c *cgroupSys) probe(really bool) (err error) {
	if !really {
		return nil
	}
	name := "probe-" + strconv.Itoa(os.Getpid()) + "-" + nonce()
	defer func() {
		if rerr := c.remove(name); err == nil && rerr != nil {
			err = rerr
		}
	}()
	if err := c.prepare(name, 64<<20, 16); err != nil {
		return err
	}
	procs, err := c.openProcs(name, cgCmds)
	if err != nil {
		return err
	}
	defer closeAll(procs...)
	script := "exec cat >/dev/null"
	for i := range procs {
		script = "echo 0 >&" + strconv.Itoa(3+i) + " && " + script
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.ExtraFiles = procs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("probing cgroups: %w", err)
	}
	eerr := c.enter(name, cgInit, cmd.Process.Pid)
	_ = stdin.Close()
	werr := cmd.Wait()
	if eerr != nil {
		return eerr
	}
	if werr != nil {
		return fmt.Errorf("a process could not enter its cgroup through a descriptor (%w): %s", werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func setupV1(pidsMount, memMount string) (*cgroupSys, error) {
	c := &cgroupSys{bases: []string{filepath.Join(pidsMount, cgroupBaseName), filepath.Join(memMount, cgroupBaseName)}}
	for _, b := range c.bases {
		if err := os.Mkdir(b, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if err := unix.Access(filepath.Join(b, "cgroup.procs"), unix.W_OK); err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
	}
	_, err := os.Stat(filepath.Join(c.bases[1], "memory.memsw.limit_in_bytes"))
	c.memsw = err == nil
	return c, nil
}

// setupV2 finds a cgroup under which this process may make sandboxes' cgroups with the pids and memory
// controllers, and that passes usable: the root (root's provider), else the parent of this process's cgroup (a
// delegated subtree). Each is tried in turn: a base that root made at the top of the hierarchy (a provider run as
// root once on this machine) is there, with its controllers, for an unprivileged provider too, which can only
// use its delegated subtree.
func setupV2(mount, selfCgroup string, usable func(*cgroupSys) error) (*cgroupSys, error) {
	own := ""
	if b, err := os.ReadFile(selfCgroup); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if p, ok := strings.CutPrefix(line, "0::"); ok {
				own = p
			}
		}
	}
	cands := []string{mount}
	if own != "" && own != "/" {
		cands = append(cands, filepath.Join(mount, filepath.Dir(own)))
	}
	var errs []string
	for _, parent := range cands {
		ctl, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if !hasWords(string(ctl), "pids", "memory") {
			errs = append(errs, fmt.Sprintf("%s has the controllers %q, not pids and memory", parent, strings.TrimSpace(string(ctl))))
			continue
		}
		if err := enableControllers(parent); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		base := filepath.Join(parent, cgroupBaseName)
		if err := os.Mkdir(base, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			errs = append(errs, err.Error())
			continue
		}
		if err := enableControllers(base); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		c := &cgroupSys{v2: true, bases: []string{base}}
		_, err = os.Stat(filepath.Join(base, "memory.swap.max"))
		c.swap = err == nil
		if err := usable(c); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		return c, nil
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

func hasWords(s string, words ...string) bool {
	have := map[string]bool{}
	for _, w := range strings.Fields(s) {
		have[w] = true
	}
	for _, w := range words {
		if !have[w] {
			return false
		}
	}
	return true
}

// enableControllers makes the pids and memory controllers available to dir's children (cgroup v2).
func enableControllers(dir string) error {
	p := filepath.Join(dir, "cgroup.subtree_control")
	cur, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if hasWords(string(cur), "pids", "memory") {
		return nil
	}
	if err := os.WriteFile(p, []byte("+pids +memory"), 0); err != nil {
		if errors.Is(err, unix.EBUSY) {
			// cgroup v2 gives no controllers to the children of a cgroup (other than the root) that holds
			// processes: the root cgroup of a container, or a systemd unit's own cgroup.
			return fmt.Errorf("enabling pids and memory in %s: %w: the cgroup holds processes of its own, and cgroup v2 then gives its children no controllers (in a container: move its processes into a child cgroup first, as docker-in-docker's entrypoint does)", p, err)
		}
		return fmt.Errorf("enabling pids and memory in %s: %w", p, err)
	}
	return nil
}

// cgroupName is the cgroup of the sandbox, workspace or builder in dir: its directory's name and a hash of its
// path (two engine roots may hold the same external id).
func cgroupName(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	name := filepath.Base(dir)
	if len(name) > 64 {
		name = name[:64]
	}
	return name + "-" + hex.EncodeToString(sum[:6])
}

// Sub-cgroups of a box.
const (
	cgInit = "init"
	cgCmds = "cmds"
)

// prepare makes the box's cgroups (again) and writes its limits: memBytes for the whole box, maxProcs for its
// commands.
func (c *cgroupSys) prepare(name string, memBytes, maxProcs int64) error {
	for _, b := range c.bases {
		for _, d := range []string{filepath.Join(b, name), filepath.Join(b, name, cgInit), filepath.Join(b, name, cgCmds)} {
			if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("making the sandbox's cgroup: %w", err)
			}
			if c.v2 && filepath.Base(d) == name {
				if err := enableControllers(d); err != nil {
					return err
				}
			}
		}
	}
	w := func(p, v string) error {
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("setting %s to %s: %w", p, v, err)
		}
		return nil
	}
	mem := strconv.FormatInt(memBytes, 10)
	if memBytes <= 0 {
		mem = "-1"
	}
	if c.v2 {
		if memBytes <= 0 {
			mem = "max"
		}
		b := filepath.Join(c.bases[0], name)
		if err := w(filepath.Join(b, "memory.max"), mem); err != nil {
			return err
		}
		if c.swap {
			if err := w(filepath.Join(b, "memory.swap.max"), "0"); err != nil {
				return err
			}
		}
		if err := w(filepath.Join(b, cgInit, "pids.max"), strconv.Itoa(initPids)); err != nil {
			return err
		}
		return w(filepath.Join(b, cgCmds, "pids.max"), strconv.FormatInt(maxProcs, 10))
	}
	pb, mb := filepath.Join(c.bases[0], name), filepath.Join(c.bases[1], name)
	if err := w(filepath.Join(pb, cgInit, "pids.max"), strconv.Itoa(initPids)); err != nil {
		return err
	}
	if err := w(filepath.Join(pb, cgCmds, "pids.max"), strconv.FormatInt(maxProcs, 10)); err != nil {
		return err
	}
	if c.memsw {
		// memsw >= limit at every step: lift memsw, set the limit, then bound memsw to it (no swap beyond it).
		if err := w(filepath.Join(mb, "memory.memsw.limit_in_bytes"), "-1"); err != nil {
			return err
		}
	}
	if err := w(filepath.Join(mb, "memory.limit_in_bytes"), mem); err != nil {
		return err
	}
	if c.memsw {
		if err := w(filepath.Join(mb, "memory.memsw.limit_in_bytes"), mem); err != nil {
			return err
		}
	}
	return nil
}

// enter moves pid (on the host) into the box's sub-cgroup sub.
func (c *cgroupSys) enter(name, sub string, pid int) error {
	for _, b := range c.bases {
		p := filepath.Join(b, name, sub, "cgroup.procs")
		if err := os.WriteFile(p, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("moving process %d into %s: %w", pid, p, err)
		}
	}
	return nil
}

// openProcs opens the cgroup.procs files of the box's sub-cgroup sub for writing: a command's shim writes
// itself into them.
func (c *cgroupSys) openProcs(name, sub string) ([]*os.File, error) {
	var fs []*os.File
	for _, b := range c.bases {
		f, err := openFile(filepath.Join(b, name, sub, "cgroup.procs"), unix.O_WRONLY, 0)
		if err != nil {
			closeAll(fs...)
			return nil, fmt.Errorf("opening the sandbox's cgroup: %w", err)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// remove kills whatever still runs in the box's cgroups and removes them. A box without cgroups is fine.
func (c *cgroupSys) remove(name string) error {
	var last error
	for _, b := range c.bases {
		top := filepath.Join(b, name)
		if _, err := os.Stat(top); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		for _, d := range []string{filepath.Join(top, cgCmds), filepath.Join(top, cgInit), top} {
			var err error
			for try := 0; try < 50; try++ {
				killCgroup(d)
				if err = unix.Rmdir(d); err == nil || errors.Is(err, unix.ENOENT) {
					err = nil
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				last = fmt.Errorf("removing the sandbox's cgroup %s: %w", d, err)
			}
		}
	}
	return last
}

// killCgroup kills every process of cgroup d.
func killCgroup(d string) {
	if err := os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0); err == nil {
		return
	}
	b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// hostMemoryBytes is the host's RAM (MemTotal), 0 when unknown, read once per process (it was read for every
// command: the default memory limit of a sandbox without memory_mb).
var hostMemoryBytes = sync.OnceValue(readHostMemoryBytes)

func readHostMemoryBytes() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// checkEnforceable refuses the limits that this host cannot enforce for this process, on their attribute.
func checkEnforceable(l limits, isolation string) error {
	if isolation == IsolationNone {
		for _, o := range []struct {
			name string
			set  bool
		}{{OptionMaxProcesses, l.maxProcesses > 0}, {OptionMemoryMB, l.memoryMB > 0}, {OptionTmpMB, l.tmpMB > 0}, {OptionDiskMB, l.diskMB > 0}} {
			if o.set {
				return &OptionError{o.name, `cannot be enforced with isolation = "none": commands then run directly on the host without any limit; use isolation = "bwrap" or remove it`}
			}
		}
		return nil
	}
	if l.diskMB > 0 {
		if err := diskImagesWork(); err != nil {
			return &OptionError{OptionDiskMB, "cannot be enforced on this host: " + err.Error()}
		}
	}
	cg := hostCgroups()
	if cg.err == nil {
		return nil
	}
	if l.memoryMB > 0 {
		return &OptionError{OptionMemoryMB, "cannot be enforced on this host: " + cg.err.Error() + ". A sandbox's memory (all its processes together) can only be bounded by a cgroup memory controller: run the provider as root, or in a cgroup v2 subtree delegated to its user (e.g. systemd-run --user -p Delegate=yes), or remove memory_mb"}
	}
	if l.maxProcesses > 0 && os.Geteuid() == 0 {
		return &OptionError{OptionMaxProcesses, "cannot be enforced on this host: " + cg.err.Error() + ", and the provider runs as root, which the kernel exempts from RLIMIT_NPROC. Run the provider as an unprivileged user, on a host with cgroups, or remove max_processes"}
	}
	return nil
}

// memoryBytes is the memory limit of a sandbox: memory_mb, else a DefaultMemoryFraction of the host's RAM.
func (l limits) memoryBytes() int64 {
	if l.memoryMB > 0 {
		return l.memoryMB << 20
	}
	if m := hostMemoryBytes(); m > 0 {
		return m / DefaultMemoryFraction
	}
	return -1 // unknown RAM: no memory limit (prepare writes "-1" to cgroup v1, "max" to v2)
}

// removeCgroup removes the cgroups of the box in dir, if it has any, once its processes are gone.
func removeCgroup(dir string) error {
	if cg := hostCgroups(); cg.err == nil {
		return cg.remove(cgroupName(dir))
	}
	return nil // no cgroups on this host: nothing was made
}
