//go:build linux

package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Directories of a home made by overlayfs, next to the home (the mount point).
const (
	upperDir = "upper"
	workDir  = "work"
	homeDir  = "home"
)

// copyMethods lists the methods to try, best first, from Config.SetupCopy.
func copyMethods(first string) ([]string, error) {
	switch first {
	case "", CopyOverlay:
		return []string{CopyOverlay, CopyReflink, CopyPlain}, nil
	case CopyReflink:
		return []string{CopyReflink, CopyPlain}, nil
	case CopyPlain:
		return []string{CopyPlain}, nil
	}
	return nil, fmt.Errorf("local engine: unknown setup copy method %q (want %q, %q or %q)", first, CopyOverlay, CopyReflink, CopyPlain)
}

// materialize makes dir/home from the artifact tree lower by the first method that works here, and returns
// the method. A method that fails leaves nothing behind before the next one is tried; an error of the last one
// is returned.
func (e *Engine) materialize(lower, dir string) (string, error) {
	home := filepath.Join(dir, homeDir)
	var errs []error
	for _, method := range e.copyOrder {
		switch method {
		case CopyOverlay:
			err := e.ownLayers(lower, filepath.Join(dir, upperDir))
			if err == nil {
				err = mountOverlay(lower, dir)
			}
			if err == nil {
				return CopyOverlay, nil
			}
			errs = append(errs, fmt.Errorf("overlayfs: %w", err))
			for _, d := range []string{upperDir, workDir, homeDir} {
				_ = removeAll(filepath.Join(dir, d))
			}
		case CopyReflink:
			if err := e.reflinkWorks(); err != nil {
				errs = append(errs, fmt.Errorf("reflink: %w", err))
				continue
			}
			err := copyTree(lower, home, true)
			if err == nil {
				return CopyReflink, nil
			}
			_ = removeAll(home)
			if !errors.Is(err, errNoReflink) {
				return "", fmt.Errorf("copying the setup artifact: %w", err)
			}
			errs = append(errs, fmt.Errorf("reflink: %w", err))
		case CopyPlain:
			if err := copyTree(lower, home, false); err != nil {
				_ = removeAll(home)
				return "", fmt.Errorf("copying the setup artifact: %w", err)
			}
			return CopyPlain, nil
		}
	}
	return "", fmt.Errorf("no copy method works here: %w", errors.Join(errs...))
}

// mountOverlay makes dir/upper, dir/work and dir/home and mounts the overlay of lower and dir/upper on dir/home.
func mountOverlay(lower, dir string) error {
	for _, d := range []string{upperDir, workDir, homeDir} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return mountOverlayAt(lower, filepath.Join(dir, upperDir), filepath.Join(dir, workDir), filepath.Join(dir, homeDir))
}

// mountOverlayAt mounts an overlay (nosuid, nodev) of the read-only lower and the writable upper on target.
func mountOverlayAt(lower, upper, work, target string) error {
	for _, p := range []string{lower, upper, work} {
		if strings.ContainsAny(p, ",:\\") {
			return fmt.Errorf("the path %q holds a character that overlayfs options cannot carry (, : or \\)", p)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", target, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting an overlay on %s: %w", target, err)
	}
	return nil
}

// homeMounted reports whether dir/home is a mount point on another file system than dir (an overlay or a disk
// image).
func homeMounted(dir string) bool { return mountedOn(filepath.Join(dir, homeDir)) }

// unmountHome removes the overlay or disk image mounted on dir/home, if any (lazily when it is busy).
func unmountHome(dir string) error { return unmountAt(filepath.Join(dir, homeDir)) }

// removeBox removes a sandbox, workspace or builder directory, unmounting its home first.
func removeBox(dir string) error {
	if err := unmountHome(dir); err != nil {
		return err
	}
	return removeAll(dir)
}

// ensureHome returns the host directory of the home of dir (a sandbox, workspace or builder) with its metadata
// m: the workspace's home for a sandbox on a workspace, and an overlay home mounted again where it is not (after
// a stop or a reboot).
func (e *Engine) ensureHome(dir string, m *meta) (string, error) {
	if m.Workspace != "" {
		wdir := e.workspaceDir(m.Workspace)
		wm, err := readMetaFile(wdir, workspaceFile, "workspace")
		if err != nil {
			return "", fmt.Errorf("the workspace of %s %s: %w", m.noun(), m.ExternalID, err)
		}
		return e.ensureHome(wdir, wm)
	}
	home := filepath.Join(dir, homeDir)
	if m.SetupCopy != CopyOverlay && !m.hasDisk() {
		if err := e.own(home); err != nil {
			return "", fmt.Errorf("%s %s: %w", m.noun(), m.ExternalID, err)
		}
		return home, nil
	}
	lk, err := lockFileAt(filepath.Join(dir, mountLockFile), m.noun(), true)
	if err != nil {
		return "", err
	}
	defer lk.unlock()
	if m.hasDisk() {
		if !homeMounted(dir) {
			if err := mountDiskHome(dir); err != nil {
				return "", fmt.Errorf("%s %s: %w", m.noun(), m.ExternalID, err)
			}
		}
		if err := e.own(home); err != nil {
			return "", fmt.Errorf("%s %s: %w", m.noun(), m.ExternalID, err)
		}
		return home, nil
	}
	lower := e.buildHome(m.SetupBuild)
	upper := filepath.Join(dir, upperDir)
	if homeMounted(dir) {
		if !e.needsOwner(upper) && !e.needsOwner(lower) {
			return home, nil
		}
		// Made by an older version, as root: its layers are given to the sandbox user while it is not mounted
		// (overlayfs does not see changes made below a mounted overlay).
		if err := unmountHome(dir); err != nil {
			return "", fmt.Errorf("%s %s: %w", m.noun(), m.ExternalID, err)
		}
	}
	if _, err := os.Stat(lower); err != nil {
		return "", fmt.Errorf("%s %s: its setup artifact %s (the lower layer of its files) is gone: %w", m.noun(), m.ExternalID, m.Setup, err)
	}
	if err := e.ownLayers(lower, upper); err != nil {
		return "", fmt.Errorf("%s %s: %w", m.noun(), m.ExternalID, err)
	}
	if err := mountOverlay(lower, dir); err != nil {
		return "", fmt.Errorf("%s %s: %w", m.noun(), m.ExternalID, err)
	}
	return home, nil
}

// ownLayers gives an overlay home's lower layer (a setup artifact, shared by the sandboxes made from it) and upper
// layer to the sandbox user (own_linux.go); the artifact under the setups lock of nobody else: it is the same
// change whoever makes it.
func (e *Engine) ownLayers(lower, upper string) error {
	if err := e.own(lower); err != nil {
		return err
	}
	if _, err := os.Lstat(upper); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(upper, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return e.own(upper)
}

// errNoReflink is returned by copyTree when the file system cannot clone files.
var errNoReflink = errors.New("the file system cannot clone files (FICLONE)")

// reflinkWorks checks once whether files under the root can be cloned.
func (e *Engine) reflinkWorks() error {
	e.cowMu.Lock()
	defer e.cowMu.Unlock()
	if e.reflinkProbed {
		return e.reflinkErr
	}
	e.reflinkErr = probeReflink(e.root)
	e.reflinkProbed = true
	return e.reflinkErr
}

func probeReflink(root string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	src, err := os.CreateTemp(root, ".reflink-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(src.Name())
	defer src.Close()
	if _, err := src.Write([]byte("probe")); err != nil {
		return err
	}
	dst, err := os.CreateTemp(root, ".reflink-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(dst.Name())
	defer dst.Close()
	if err := unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())); err != nil {
		return fmt.Errorf("%w: %w", errNoReflink, err)
	}
	return nil
}

// copyInto copies the entries of the directory src into the existing directory dst (copyTree for each).
func copyInto(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		if err := copyTree(filepath.Join(src, ent.Name()), filepath.Join(dst, ent.Name()), false); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the tree src to dst (which must not exist): directories, regular files (cloned with FICLONE
// when reflink is set, else copied), symlinks, hard links (as hard links) and FIFOs, with their modes (without
// the set-user-id and set-group-id bits of files) and times, and their owners when running as root. Sockets and
// devices are left out.
func copyTree(src, dst string, reflink bool) error {
	asRoot := os.Geteuid() == 0
	type dirAttrs struct {
		path string
		fi   fs.FileInfo
	}
	var dirs []dirAttrs
	links := map[string]string{} // "dev:ino" of a file with hard links -> its first copy
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, werr error) error {
		if werr != nil {
			return werr
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode()
		switch {
		case mode.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dirAttrs{target, fi})
			if asRoot && st != nil {
				return os.Lchown(target, int(st.Uid), int(st.Gid))
			}
			return nil
		case mode&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(t, target); err != nil {
				return err
			}
		case mode.IsRegular():
			if st != nil && st.Nlink > 1 {
				key := fmt.Sprint(st.Dev, ":", st.Ino)
				if first, ok := links[key]; ok {
					return os.Link(first, target)
				}
				links[key] = target
			}
			if err := copyFile(p, target, reflink); err != nil {
				return err
			}
		case mode&fs.ModeNamedPipe != 0:
			if err := unix.Mkfifo(target, 0o600); err != nil {
				return err
			}
		default:
			return nil // sockets and devices
		}
		return setAttrs(target, fi, st, asRoot)
	})
	if err != nil {
		return err
	}
	// Directories last, deepest first: their modes may forbid writing into them, and writing changes their times.
	for i := len(dirs) - 1; i >= 0; i-- {
		st, _ := dirs[i].fi.Sys().(*syscall.Stat_t)
		if err := setAttrs(dirs[i].path, dirs[i].fi, st, false); err != nil {
			return err
		}
	}
	return nil
}

// setAttrs gives target the owner (as root), mode and times of fi.
func setAttrs(target string, fi fs.FileInfo, st *syscall.Stat_t, chown bool) error {
	symlink := fi.Mode()&fs.ModeSymlink != 0
	if chown && st != nil {
		if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	if !symlink {
		// Never a set-user-id or set-group-id file: a copy of a sandbox's files must not hand anyone (on the host
		// or in another sandbox) the rights of their owner. Directories keep set-group-id (group inheritance).
		keep := fs.ModePerm | fs.ModeSticky
		if fi.IsDir() {
			keep |= fs.ModeSetgid
		}
		if err := os.Chmod(target, fi.Mode()&keep); err != nil {
			return err
		}
	}
	times := []unix.Timespec{unix.NsecToTimespec(fi.ModTime().UnixNano()), unix.NsecToTimespec(fi.ModTime().UnixNano())}
	if st != nil {
		times[0] = unix.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec}
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, target, times, unix.AT_SYMLINK_NOFOLLOW)
}

// copyFile copies a regular file's content, by FICLONE when reflink is set.
func copyFile(src, dst string, reflink bool) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if reflink {
		err = unix.IoctlFileClone(int(out.Fd()), int(in.Fd()))
		if err != nil {
			err = fmt.Errorf("%w: %s: %w", errNoReflink, src, err)
		}
	} else {
		_, err = io.Copy(out, in) // copy_file_range where the kernel can
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// stripSetID clears the set-user-id and set-group-id bits of every file under root (not following symlinks):
// a setup's artifact is shared by every sandbox that starts from it.
func stripSetID(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			return os.Chmod(p, fi.Mode()&(fs.ModePerm|fs.ModeSticky))
		}
		return nil
	})
}
