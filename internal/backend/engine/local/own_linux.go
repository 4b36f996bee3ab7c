//go:build linux

package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
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

// own gives the tree at root to the sandbox user where it is not yet (see needsOwner), never following a
// symlink, the top directory last.
func (e *Engine) own(root string) error {
	if !e.needsOwner(root) {
		return nil
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p == root || !e.needsOwner(p) {
			return nil
		}
		return os.Lchown(p, e.sandboxUID, e.sandboxGID)
	})
	if err == nil {
		err = os.Lchown(root, e.sandboxUID, e.sandboxGID)
	}
	if err != nil {
		return fmt.Errorf("giving %s to the sandbox user %d: %w", root, e.sandboxUID, err)
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
