package local

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// limits are the resource limits of a sandbox, from its options.
type limits struct {
	memoryMB     int64 // 0 = the default (see memoryBytes)
	maxProcesses int64 // 0 = DefaultMaxProcesses
	tmpMB        int64 // 0 = DefaultTmpMB
	diskMB       int64 // 0 = no disk image: the home is a directory of the root's file system
}

// procs is the process limit of the sandbox's commands.
func (l limits) procs() int64 {
	if l.maxProcesses > 0 {
		return l.maxProcesses
	}
	return DefaultMaxProcesses
}

// tmpBytes is the size of the sandbox's /tmp.
func (l limits) tmpBytes() int64 {
	if l.tmpMB > 0 {
		return l.tmpMB << 20
	}
	return DefaultTmpMB << 20
}

// OptionError is a refusal of one local option; ValidateSpec returns it as a *backend.AttrError on local.<name>.
type OptionError struct {
	Option string
	Msg    string
}

func (e *OptionError) Error() string { return "local option " + e.Option + ": " + e.Msg }

// onAttribute puts a refusal of one local option on its attribute (local.<option>) for the provider.
func onAttribute(err error) error {
	var oe *OptionError
	if errors.As(err, &oe) {
		return &backend.AttrError{Path: []string{"local", oe.Option}, Err: err}
	}
	return err
}

// parseLimits reads the local options; unknown keys and bad values are errors naming them.
func parseLimits(opts map[string]any) (limits, error) {
	var l limits
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := opts[k]
		if v == nil {
			continue
		}
		switch k {
		case OptionMemoryMB:
			n, err := nonNegativeInt(k, v)
			if err != nil {
				return l, err
			}
			if n > math.MaxInt64>>20 {
				return l, &OptionError{k, fmt.Sprintf("%d is too large", n)}
			}
			if n > 0 && n < MinMemoryMB {
				return l, &OptionError{k, fmt.Sprintf("%d MiB is too small to start a sandbox: at least %d", n, MinMemoryMB)}
			}
			l.memoryMB = n
		case OptionMaxProcesses:
			n, err := nonNegativeInt(k, v)
			if err != nil {
				return l, err
			}
			l.maxProcesses = n
		case OptionDiskMB:
			n, err := nonNegativeInt(k, v)
			if err != nil {
				return l, err
			}
			if n > 0 && n < MinDiskMB {
				return l, &OptionError{k, fmt.Sprintf("%d MiB is too small for a file system: at least %d", n, MinDiskMB)}
			}
			if n > math.MaxInt64>>20 {
				return l, &OptionError{k, fmt.Sprintf("%d is too large", n)}
			}
			l.diskMB = n
		case OptionTmpMB:
			n, err := nonNegativeInt(k, v)
			if err != nil {
				return l, err
			}
			if n > math.MaxInt64>>20 {
				return l, &OptionError{k, fmt.Sprintf("%d is too large", n)}
			}
			l.tmpMB = n
		default:
			return l, fmt.Errorf("unknown local option %q (supported: %s, %s, %s, %s)", k, OptionDiskMB, OptionMaxProcesses, OptionMemoryMB, OptionTmpMB)
		}
	}
	return l, nil
}

func nonNegativeInt(name string, v any) (int64, error) {
	if f, ok := v.(float64); ok && math.Trunc(f) != f {
		return 0, &OptionError{name, fmt.Sprintf("want a whole number, got %v", v)}
	}
	n, ok := backend.AsInt(v)
	if !ok {
		return 0, &OptionError{name, fmt.Sprintf("want a number, got %T", v)}
	}
	if n < 0 {
		return 0, &OptionError{name, fmt.Sprintf("must not be negative, got %d", n)}
	}
	return n, nil
}

// reservedMounts are the sandbox paths a volume may not be mounted on or under: the read-only system and the
// kernel file systems.
var reservedMounts = []string{"/usr", "/etc", "/proc", "/dev", "/sys", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// egressDir is where an allow_list sandbox sees the egress forwarder (the running executable, read-only).
const egressDir = "/.sandbox-egress"

// validateSpec checks a spec without touching the disk.
func validateSpec(spec backend.SandboxSpec, isolation string) error {
	if err := backend.CheckSandboxSpec(spec); err != nil {
		return err
	}
	if err := checkCommon(spec.Timeout, spec.Ports, spec.Env, spec.Options, spec.Policy, isolation); err != nil {
		return err
	}
	if len(spec.Volumes) > 0 && isolation == IsolationNone {
		return fmt.Errorf(`volumes need isolation = "bwrap": with isolation = "none" nothing can be mounted`)
	}
	mounts := map[string]bool{}
	for _, v := range spec.Volumes {
		if err := checkVolume(v); err != nil {
			return err
		}
		if mounts[v.MountPath] {
			return fmt.Errorf("two volumes are mounted on %s", v.MountPath)
		}
		mounts[v.MountPath] = true
	}
	if spec.Setup != "" && !isSetupID(spec.Setup) {
		return fmt.Errorf("%q is not a local setup artifact id (setup-<16 hex digits>)", spec.Setup)
	}
	if spec.Workspace != "" && !isWorkspaceID(spec.Workspace) {
		return fmt.Errorf("%q is not a local workspace id (ws-<record id>)", spec.Workspace)
	}
	if l, err := parseLimits(spec.Options); err == nil && l.diskMB > 0 && spec.Workspace != "" {
		return &OptionError{OptionDiskMB, "a sandbox that runs on a workspace's files has no home of its own to size: remove disk_mb, or the workspace"}
	}
	if spec.Setup != "" && spec.Workspace != "" {
		return errors.New("a sandbox starts either from a setup or on a workspace's files, not both (the workspace already started from its setup)")
	}
	return nil
}

// validateWorkspaceSpec checks a workspace spec without touching the disk.
func validateWorkspaceSpec(spec backend.WorkspaceSpec, isolation string) error {
	if err := checkCommon(spec.Timeout, spec.Ports, spec.Env, spec.Options, spec.Policy, isolation); err != nil {
		return err
	}
	if spec.Setup != "" && !isSetupID(spec.Setup) {
		return fmt.Errorf("%q is not a local setup artifact id (setup-<16 hex digits>)", spec.Setup)
	}
	return nil
}

// validateSetupSpec checks a setup spec without touching the disk.
func validateSetupSpec(spec backend.SetupSpec, isolation string) error {
	if spec.Fingerprint == "" {
		return errors.New("setup: empty fingerprint")
	}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return errors.New("setup: empty command")
	}
	for _, a := range spec.Argv {
		if strings.ContainsRune(a, 0) {
			return errors.New("setup: an argument contains NUL")
		}
	}
	return checkCommon(spec.Timeout, nil, spec.Env, spec.Options, spec.Policy, isolation)
}

// checkCommon checks what sandboxes, workspaces and setups share: timeout, ports, env, options and policy.
func checkCommon(timeout time.Duration, ports []int, env map[string]string, opts map[string]any, policy *backend.NetworkPolicy, isolation string) error {
	if timeout < 0 {
		return fmt.Errorf("timeout must not be negative, got %s", timeout)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("port %d is outside 1..65535", p)
		}
		if seen[p] {
			return fmt.Errorf("port %d is listed twice", p)
		}
		seen[p] = true
	}
	if err := backend.CheckEnv(env); err != nil {
		return err
	}
	l, err := parseLimits(opts)
	if err != nil {
		return err
	}
	if err := checkEnforceable(l, isolation); err != nil {
		return err
	}
	if err := policy.Validate(); err != nil {
		return fmt.Errorf("network policy: %w", err)
	}
	if isolation == IsolationNone && policy != nil && policy.Mode != backend.PolicyAllowAll {
		return fmt.Errorf(`network policy %s needs isolation = "bwrap": with isolation = "none" commands use the host's network (allow_all)`, policy.Mode)
	}
	return nil
}

func checkVolume(v backend.VolumeMount) error {
	if !isVolumeID(v.ExternalID) && (!path.IsAbs(v.ExternalID) || path.Clean(v.ExternalID) != v.ExternalID) {
		return fmt.Errorf("volume %s: the local engine's volume id must be a volume's id (vol-<record id>) or a clean absolute host directory, got %q", v.VolumeID, v.ExternalID)
	}
	if strings.ContainsRune(v.ExternalID, 0) {
		return fmt.Errorf("volume %s: paths must not contain NUL", v.VolumeID)
	}
	if err := checkMountPath(v.MountPath); err != nil {
		return fmt.Errorf("volume %s: %w", v.VolumeID, err)
	}
	return nil
}

// checkMountPath refuses the mount paths no volume may have in a local sandbox, saying what would be valid.
func checkMountPath(mp string) error {
	const valid = "mount it on a path of its own such as /data or /home/sandbox/data"
	if strings.ContainsRune(mp, 0) {
		return errors.New("the mount path must not contain NUL")
	}
	if !path.IsAbs(mp) || path.Clean(mp) != mp || mp == "/" {
		return fmt.Errorf("the mount path must be a clean absolute path other than /, got %q: %s", mp, valid)
	}
	if mp == SandboxHome || mp == path.Dir(SandboxHome) {
		return fmt.Errorf("cannot be mounted on %s, which holds the sandbox home %s: %s", mp, SandboxHome, valid)
	}
	for _, r := range reservedMounts {
		if within(mp, r) {
			return fmt.Errorf("cannot be mounted on %s: %s is the read-only system or a kernel file system: %s", mp, r, valid)
		}
	}
	if within(mp, egressDir) {
		return fmt.Errorf("cannot be mounted on %s: %s is reserved for the egress forwarder: %s", mp, egressDir, valid)
	}
	return nil
}

// within reports whether p is dir or below it (both clean and absolute).
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// validName reports whether s can name a directory: [A-Za-z0-9._-], not starting with a dot, at most 200 bytes.
func validName(s string) bool {
	if s == "" || len(s) > 200 || s[0] == '.' {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// externalPrefix starts every local external id, so that it never equals the record id.
const externalPrefix = "local-"

func externalID(recordID string) string { return externalPrefix + recordID }

// External id prefixes of volumes, workspaces and setup artifacts.
const (
	volumePrefix    = "vol-"
	workspacePrefix = "ws-"
	setupPrefix     = "setup-"
)

func isVolumeID(s string) bool    { return strings.HasPrefix(s, volumePrefix) && validName(s) }
func isWorkspaceID(s string) bool { return strings.HasPrefix(s, workspacePrefix) && validName(s) }

// isSetupID reports whether s is "setup-" followed by 16 lower-case hex digits.
func isSetupID(s string) bool {
	h, ok := strings.CutPrefix(s, setupPrefix)
	if !ok || len(h) != 16 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// setupID derives a setup artifact's external id from its fingerprint: its first 16 hex digits, or those of its
// SHA-256 when it is not a lower-case hex string of at least 16 digits.
func setupID(fingerprint string) string {
	if id := setupPrefix + fingerprint[:min(16, len(fingerprint))]; isSetupID(id) {
		return id
	}
	sum := sha256.Sum256([]byte(fingerprint))
	return setupPrefix + hex.EncodeToString(sum[:8])
}

// homeRel maps a sandbox path (relative to the home, or absolute under SandboxHome or hostHome) to a clean path
// relative to the home, refusing any that leaves it.
func homeRel(p, hostHome string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q contains NUL", p)
	}
	if path.IsAbs(p) {
		c := path.Clean(p)
		for _, h := range []string{SandboxHome, hostHome} {
			if h == "" {
				continue
			}
			if c == h {
				return ".", nil
			}
			if strings.HasPrefix(c, h+"/") {
				return c[len(h)+1:], nil
			}
		}
		return "", fmt.Errorf("path %q is outside the sandbox home %s", p, SandboxHome)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q escapes the sandbox home %s", p, SandboxHome)
	}
	return c, nil
}
