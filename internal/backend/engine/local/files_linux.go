//go:build linux

package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// maxReadBytes caps ReadFile.
const maxReadBytes = 256 << 20

// WriteFile implements backend.Engine. The path is relative to the home, or absolute under /home/sandbox (or
// the host path of the home), or in an engine volume the sandbox mounts (under the home or elsewhere: the file
// goes where the sandbox sees it, see openHome); a path that leaves the home or the volume, lexically or through
// a symlink, is refused. Missing
// parent directories are made (0755) and the file is written 0644, owned by the user of the sandbox's
// commands (the sandbox user when the provider runs as root, else the provider's user). Only regular files are written (never a FIFO or device a command made).
func (e *Engine) WriteFile(ctx context.Context, externalID, p string, data []byte) error {
	rt, rel, err := e.openHome(ctx, externalID, p)
	if err != nil {
		return err
	}
	defer rt.Close()
	if d := path.Dir(rel); d != "." {
		if err := e.mkdirAllOwned(rt, d); err != nil {
			return fmt.Errorf("writing %s in sandbox %s: %w", p, externalID, err)
		}
	}
	// O_NONBLOCK: opening a FIFO must not hang; the file is then checked to be regular before writing.
	f, err := rt.OpenFile(rel, os.O_WRONLY|os.O_CREATE|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s in sandbox %s: %w", p, externalID, err)
	}
	werr := writeRegular(f, data)
	if werr == nil && e.sandboxUID >= 0 {
		// The sandbox user's, like what its commands write (launch_linux.go).
		werr = f.Chown(e.sandboxUID, e.sandboxGID)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("writing %s in sandbox %s: %w", p, externalID, werr)
	}
	return nil
}

// mkdirAllOwned makes the missing directories of d (relative to rt), 0755 and the sandbox user's.
func (e *Engine) mkdirAllOwned(rt *os.Root, d string) error {
	if e.sandboxUID < 0 {
		return rt.MkdirAll(d, 0o755)
	}
	parts := strings.Split(d, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		err := rt.Mkdir(p, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := rt.Lchown(p, e.sandboxUID, e.sandboxGID); err != nil {
			return err
		}
	}
	return nil
}

func writeRegular(f *os.File, data []byte) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.Write(data)
	return err
}

// ReadFile implements backend.Engine, with WriteFile's path rules. A missing file is an error wrapping
// fs.ErrNotExist (not backend.ErrNotFound, which means the sandbox is gone).
func (e *Engine) ReadFile(ctx context.Context, externalID, p string) ([]byte, error) {
	rt, rel, err := e.openHome(ctx, externalID, p)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	f, err := rt.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s in sandbox %s: %w", p, externalID, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s in sandbox %s: %w", p, externalID, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s in sandbox %s: not a regular file", p, externalID)
	}
	if fi.Size() > maxReadBytes {
		return nil, fmt.Errorf("reading %s in sandbox %s: %d bytes is more than the %d that can be read", p, externalID, fi.Size(), maxReadBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxReadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s in sandbox %s: %w", p, externalID, err)
	}
	if len(b) > maxReadBytes {
		return nil, fmt.Errorf("reading %s in sandbox %s: more than the %d bytes that can be read", p, externalID, maxReadBytes)
	}
	return b, nil
}

// openHome checks that the sandbox exists and returns the directory that holds p as the sandbox's commands see
// it, as an os.Root with p made relative to it: an engine volume that the sandbox mounts where p is (under the
// home or elsewhere: its data directory, its disk image mounted if need be), else the home (its workspace's for a
// sandbox on a workspace; an overlay or disk home mounted again if need be). Writing to the home's directory
// under a volume's mount point would put the file where the sandbox never sees it (under the mount). A host
// directory mounted as a volume (engine API only) is not written or read through the files API: its owner's
// rules are the sandbox user's, and the provider may be root.
func (e *Engine) openHome(ctx context.Context, externalID, p string) (*os.Root, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	dir, err := e.dirOf(externalID)
	if err != nil {
		return nil, "", err
	}
	m, err := readMeta(dir)
	if err != nil {
		return nil, "", err
	}
	home, err := e.ensureHome(dir, m)
	if err != nil {
		return nil, "", err
	}
	if v, rel, ok := volumeOf(m, p, home); ok {
		if v.ExternalID == "" {
			return nil, "", fmt.Errorf("sandbox %s: %s is in the host directory %s mounted on %s: the files API writes and reads only the sandbox's home and its engine volumes; use a command", externalID, p, v.HostPath, v.MountPath)
		}
		vm, err := e.readVolume(v.ExternalID)
		if err != nil {
			return nil, "", fmt.Errorf("sandbox %s: volume %s (%s): %w", externalID, v.VolumeID, v.ExternalID, err)
		}
		if err := e.mountVolume(v.ExternalID, vm); err != nil {
			return nil, "", fmt.Errorf("sandbox %s: %w", externalID, err)
		}
		rt, err := os.OpenRoot(filepath.Join(e.volumeDir(v.ExternalID), volumeDataDir))
		if err != nil {
			return nil, "", fmt.Errorf("sandbox %s: opening volume %s: %w", externalID, v.VolumeID, err)
		}
		return rt, rel, nil
	}
	rel, err := homeRel(p, home)
	if err != nil {
		return nil, "", fmt.Errorf("sandbox %s: %w", externalID, err)
	}
	rt, err := os.OpenRoot(home)
	if err != nil {
		return nil, "", fmt.Errorf("sandbox %s: opening its home: %w", externalID, err)
	}
	return rt, rel, nil
}

// volumeOf returns the volume of m mounted where the sandbox path p is (the deepest mount that holds it) and p
// relative to its mount path. p is relative to the home or absolute (under the host path of the home too, as
// homeRel takes it); ok is false when p is in no volume.
func volumeOf(m *meta, p, hostHome string) (volume, string, bool) {
	if p == "" || strings.ContainsRune(p, 0) {
		return volume{}, "", false
	}
	sp := path.Clean(p)
	switch {
	case !path.IsAbs(p):
		sp = path.Join(SandboxHome, p)
	case hostHome != "" && within(sp, hostHome):
		sp = SandboxHome + strings.TrimPrefix(sp, hostHome)
	}
	best := -1
	for i, v := range m.Volumes {
		if within(sp, v.MountPath) && (best < 0 || len(v.MountPath) > len(m.Volumes[best].MountPath)) {
			best = i
		}
	}
	if best < 0 {
		return volume{}, "", false
	}
	v := m.Volumes[best]
	rel := "."
	if sp != v.MountPath {
		rel = sp[len(v.MountPath)+1:]
	}
	return v, rel, true
}
