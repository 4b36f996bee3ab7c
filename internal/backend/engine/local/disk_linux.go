//go:build linux

package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A sandbox or workspace with disk_mb has its home on a file system of its own: home.img, a sparse ext4 image of
// that size beside the home, mounted (loop, nosuid, nodev) on home/ when the box is created and again wherever
// it is not (after a sandbox's stop, which unmounts it, or a reboot). A volume with disk_mb has volume.img beside
// its data/ directory, mounted on data/ once on the host for as long as the volume exists: every sandbox that
// mounts the volume binds that one mount (never a second mount of the image, which would corrupt it). Writing
// past the size fails with ENOSPC inside the sandbox; the host's disk holds only what was written. Mounting needs
// root: an unprivileged provider refuses disk_mb.
const (
	diskImageFile   = "home.img"
	volumeImageFile = "volume.img"
	// mountLockFile serializes the mounts of a box's home or a volume's data between goroutines and processes.
	mountLockFile = "mount.lock"
)

// diskImagesWork reports why this process cannot give a home a disk image, nil when it can.
func diskImagesWork() error {
	if os.Geteuid() != 0 {
		return errors.New("a disk limit is a file system image that only root can mount; run the provider as root or remove disk_mb")
	}
	for _, tool := range []string{"mkfs.ext4", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat(filepath.Join("/usr/sbin", tool)); err != nil {
				return fmt.Errorf("%s is not installed (Debian/Ubuntu: apt-get install e2fsprogs mount)", tool)
			}
		}
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return fmt.Errorf("this host has no loop devices (/dev/loop-control: %w)", err)
	}
	return nil
}

func toolPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return filepath.Join("/usr/sbin", name)
}

// makeDiskImage makes img, an ext4 image of sizeMB MiB whose root directory is uid:gid's, and mounts it on the
// existing directory mnt with the given mode (lost+found removed).
func makeDiskImage(img, mnt string, sizeMB int64, uid, gid int, mode os.FileMode) error {
	f, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(sizeMB << 20)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("making the disk image: %w", err)
	}
	if err := mkfsExt4(img, uid, gid); err != nil {
		return err
	}
	if err := mountDiskImage(img, mnt); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(mnt, "lost+found")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Chmod(mnt, mode)
}

// mkfsExt4 makes an ext4 file system in the image img whose root directory is uid:gid's.
func mkfsExt4(img string, uid, gid int) error {
	// No reserved blocks: the whole size is the sandbox's.
	out, err := exec.Command(toolPath("mkfs.ext4"), "-q", "-F", "-m", "0", "-E", "root_owner="+strconv.Itoa(uid)+":"+strconv.Itoa(gid), img).CombinedOutput()
	if err != nil {
		return fmt.Errorf("making the file system of the disk image: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// mountDiskImage mounts the image img on mnt unless something already is mounted there.
func mountDiskImage(img, mnt string) error {
	if mountedOn(mnt) {
		return nil
	}
	out, err := exec.Command(toolPath("mount"), "-o", "loop,nosuid,nodev", img, mnt).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mounting the disk image %s: %w: %s", img, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// mountedOn reports whether the directory mnt is a mount point on another file system than its parent.
func mountedOn(mnt string) bool {
	var a, b unix.Stat_t
	if unix.Lstat(filepath.Dir(mnt), &a) != nil || unix.Lstat(mnt, &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// unmountAt removes what is mounted on mnt, if anything (lazily when it is busy). The loop device of an image
// mounted by mountDiskImage is released with it (mount sets autoclear).
func unmountAt(mnt string) error {
	for i := 0; i < 8 && mountedOn(mnt); i++ {
		err := unix.Unmount(mnt, 0)
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(mnt, unix.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", mnt, err)
		}
	}
	if mountedOn(mnt) {
		return fmt.Errorf("%s is still mounted", mnt)
	}
	return nil
}

// makeDiskHome makes dir/home.img of sizeMB MiB and mounts it on dir/home.
func makeDiskHome(dir string, sizeMB int64, uid, gid int) error {
	if err := os.Mkdir(filepath.Join(dir, homeDir), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return makeDiskImage(filepath.Join(dir, diskImageFile), filepath.Join(dir, homeDir), sizeMB, uid, gid, 0o700)
}

// mountDiskHome mounts dir/home.img on dir/home unless it already is.
func mountDiskHome(dir string) error {
	return mountDiskImage(filepath.Join(dir, diskImageFile), filepath.Join(dir, homeDir))
}

// sameDisk refuses an update that changes disk_mb: the image was made at that size (what names the box).
func sameDisk(old, updated map[string]any, what string) error {
	a, _ := parseLimits(old)
	b, err := parseLimits(updated)
	if err != nil || a.diskMB == b.diskMB {
		return err
	}
	return &OptionError{OptionDiskMB, fmt.Sprintf("cannot change in place (from %d to %d MiB): the %s's disk image was made at its size; replace the %s", a.diskMB, b.diskMB, what, what)}
}
