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
)

// A sandbox with disk_mb has its home on a file system of its own: home.img, a sparse ext4 image of that size
// beside the home, mounted (loop, nosuid, nodev) on home/ when the sandbox is created and again wherever it is
// not (after a stop, which unmounts it, or a reboot). Writing past it fails with ENOSPC inside the sandbox; the
// host's disk holds only what was written. Mounting needs root: an unprivileged provider refuses disk_mb.
const diskImageFile = "home.img"

// diskImagesWork reports why this process cannot give a home a disk image, nil when it can.
func diskImagesWork() error {
	if os.Geteuid() != 0 {
		return errors.New("a sandbox's disk is a file system image that only root can mount; run the provider as root or remove disk_mb")
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

// makeDiskHome makes dir/home.img of sizeMB MiB and mounts it on dir/home.
func makeDiskHome(dir string, sizeMB int64, uid, gid int) error {
	img := filepath.Join(dir, diskImageFile)
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
	// No reserved blocks, the root directory mode 0700 like a plain home.
	out, err := exec.Command(toolPath("mkfs.ext4"), "-q", "-F", "-m", "0", "-E", "root_owner="+strconv.Itoa(uid)+":"+strconv.Itoa(gid), img).CombinedOutput()
	if err != nil {
		return fmt.Errorf("making the file system of the disk image: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if err := os.Mkdir(filepath.Join(dir, homeDir), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := mountDiskHome(dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, homeDir, "lost+found")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Chmod(filepath.Join(dir, homeDir), 0o700)
}

// mountDiskHome mounts dir/home.img on dir/home unless it already is.
func mountDiskHome(dir string) error {
	if homeMounted(dir) {
		return nil
	}
	out, err := exec.Command(toolPath("mount"), "-o", "loop,nosuid,nodev", filepath.Join(dir, diskImageFile), filepath.Join(dir, homeDir)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mounting the disk image of %s: %w: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}
