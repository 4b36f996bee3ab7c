//go:build linux

package local

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The files a sandbox writes on the host (its home, an overlay's upper layer, the setup artifact under it, its
// volumes) are the sandbox user's when the provider runs as root (launch_linux.go). Those that an older version
// made as root are given to the sandbox user when a command next runs (e.needsOwner, e.own): the top directory
// is changed last, so an interrupted change is made again.

// needsOwner reports whether the file p is not the sandbox user's (false when the sandbox user is the provider's).
func (e *Engine) needsOwner(p string) bool {
	if e.sandboxUID < 0 {
		return false
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (int(st.Uid) != e.sandboxUID || int(st.Gid) != e.sandboxGID)
}

// own gives the tree at root to the sandbox user where it is not yet (see needsOwner), the top directory last.
// It walks by descriptors (openat with O_NOFOLLOW, fchownat without following): a sandbox that swaps a directory
// for a symlink while this runs cannot make root change the owner of a file outside the tree.
func (e *Engine) own(root string) error {
	if !e.needsOwner(root) {
		return nil
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		err = e.ownDir(fd)
		if cerr := unix.Fchown(fd, e.sandboxUID, e.sandboxGID); err == nil {
			err = cerr
		}
		_ = unix.Close(fd)
	}
	if err != nil {
		return fmt.Errorf("giving %s to the sandbox user %d: %w", root, e.sandboxUID, err)
	}
	return nil
}

// ownDir gives the entries of the open directory fd (and below) to the sandbox user; it closes nothing.
func (e *Engine) ownDir(fd int) error {
	// Readdirnames on a duplicate, whose *os.File closes it (never fd itself).
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(dup), "dir")
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return err
			}
			err = e.ownDir(sub)
			if err == nil && (int(st.Uid) != e.sandboxUID || int(st.Gid) != e.sandboxGID) {
				err = unix.Fchown(sub, e.sandboxUID, e.sandboxGID)
			}
			_ = unix.Close(sub)
			if err != nil {
				return err
			}
			continue
		}
		if int(st.Uid) == e.sandboxUID && int(st.Gid) == e.sandboxGID {
			continue
		}
		if err := unix.Fchownat(fd, name, e.sandboxUID, e.sandboxGID, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

// ownVolumes gives the engine's volumes mounted by m to the sandbox user (a host directory mounted as a volume
// is left as it is: the sandbox writes there only what its owner lets uid SandboxUID write).
func (e *Engine) ownVolumes(m *meta) error {
	for _, v := range m.Volumes {
		if isVolumeID(v.ExternalID) && v.HostPath != "" {
			if err := e.own(v.HostPath); err != nil {
				return err
			}
		}
	}
	return nil
}
