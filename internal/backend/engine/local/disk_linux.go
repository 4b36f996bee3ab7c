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
	"time"

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
	for _, tool := range []string{"mkfs.ext4", "mount", "resize2fs", "e2fsck", "losetup"} {
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

// newExt4Image makes img, a sparse file of sizeMB MiB holding an ext4 file system whose root directory is
// uid:gid's (not mounted).
func newExt4Image(img string, sizeMB int64, uid, gid int) error {
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
	return mkfsExt4(img, uid, gid)
}

// makeDiskImage makes img, an ext4 image of sizeMB MiB whose root directory is uid:gid's, and mounts it on the
// existing directory mnt with the given mode (lost+found removed).
func makeDiskImage(img, mnt string, sizeMB int64, uid, gid int, mode os.FileMode) error {
	if err := newExt4Image(img, sizeMB, uid, gid); err != nil {
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
	// An image that a sandbox's namespace still mounts (its loop device attached) is mounted from that device:
	// a second loop device on the same file would be a second, unsynchronized mount of the file system.
	args := []string{"-o", "loop,nosuid,nodev", img, mnt}
	if dev := attachedLoop(img); dev != "" {
		args = []string{"-o", "nosuid,nodev", dev, mnt}
	}
	out, err := exec.Command(toolPath("mount"), args...).CombinedOutput()
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

// changeDisk applies a change of disk_mb from the options old to updated (what names the box): none is nothing;
// a larger size grows the image in place with grow (its files stay); adding, removing or shrinking a disk is
// refused (the provider plans a replacement for those).
func changeDisk(old, updated map[string]any, what string, grow func(sizeMB int64) error) error {
	a, _ := parseLimits(old)
	b, err := parseLimits(updated)
	if err != nil || a.diskMB == b.diskMB {
		return err
	}
	switch {
	case a.diskMB == 0 || b.diskMB == 0:
		return &OptionError{OptionDiskMB, fmt.Sprintf("cannot be added or removed in place (from %d to %d MiB): the %s's files would have to move; replace the %s", a.diskMB, b.diskMB, what, what)}
	case b.diskMB < a.diskMB:
		return &OptionError{OptionDiskMB, fmt.Sprintf("cannot shrink in place (from %d to %d MiB); replace the %s, or keep its size", a.diskMB, b.diskMB, what)}
	}
	if err := grow(b.diskMB); err != nil {
		return fmt.Errorf("growing the %s's disk from %d to %d MiB: %w", what, a.diskMB, b.diskMB, err)
	}
	return nil
}

// growDiskImage grows the ext4 image img to sizeMB MiB, in place: the file first, then the file system. Mounted
// on mnt, it grows online through its loop device (ext4 grows under the sandboxes using it); where the host does
// not allow that (resizing a mounted file system needs CAP_SYS_RESOURCE, which containers lack) or the image is
// not mounted, offline is called to grow it unmounted (growOffline). The caller holds the mount lock.
func growDiskImage(img, mnt string, sizeMB int64, offline func() error) error {
	fi, err := os.Stat(img)
	if err != nil {
		return err
	}
	if fi.Size() > sizeMB<<20 {
		return fmt.Errorf("the image is %d bytes, larger than %d MiB", fi.Size(), sizeMB)
	}
	if err := os.Truncate(img, sizeMB<<20); err != nil {
		return err
	}
	if mountedOn(mnt) {
		dev, err := mountSource(mnt)
		if err != nil {
			return err
		}
		if err := runTool("losetup", "-c", dev); err != nil {
			return err
		}
		if runTool("resize2fs", dev) == nil {
			return nil
		}
	}
	return offline()
}

// resizeUnmounted checks and grows an image that nothing mounts to the size of its file.
func resizeUnmounted(img string) error {
	// The kernel detaches an autoclear loop device after its last mount goes, asynchronously, and a stopped
	// init's namespace goes with its last process: wait a little for both.
	for i := 0; ; i++ {
		dev := attachedLoop(img)
		if dev == "" {
			break
		}
		if i == 100 {
			return fmt.Errorf("the image is still in use (%s) after every user stopped", dev)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// e2fsck -p exits 1 when it corrected something, which is fine.
	if out, err := exec.Command(toolPath("e2fsck"), "-f", "-p", img).CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			return fmt.Errorf("e2fsck: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	return runTool("resize2fs", img)
}

// runTool runs a host tool, its output in the error.
func runTool(name string, args ...string) error {
	out, err := exec.Command(toolPath(name), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// attachedLoop returns the loop device that backs the image img ("" when none does): while any mount of it
// remains, in the host's namespace or a sandbox's, its loop device stays attached (autoclear frees it with the
// last one).
func attachedLoop(img string) string {
	out, err := exec.Command(toolPath("losetup"), "-j", img).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	dev, _, ok := strings.Cut(line, ":")
	if !ok || !strings.HasPrefix(dev, "/dev/loop") {
		return ""
	}
	return dev
}

// growOffline grows the image of a workspace's home or a volume's data (mounted on mnt) where the host cannot
// grow it mounted: with the image's mount lock held by the caller, it takes the init lock of every box in users
// (the directories of the workspace and of the sandboxes using the image), refuses when a command runs in one,
// stops their idle inits (which hold the image mounted in their namespaces), unmounts it, grows it once no mount
// holds it, and mounts it again before any init may start (the locks are released last).
func growOffline(img, mnt string, users []string) error {
	var locks []*sandboxLock
	defer func() {
		for _, lk := range locks {
			lk.unlock()
		}
	}()
	var busy []string
	for _, dir := range users {
		rd := filepath.Join(dir, runDir)
		if _, err := os.Stat(rd); err != nil {
			continue
		}
		lk, err := lockFileAt(filepath.Join(rd, initLockFile), "sandbox", true)
		if err != nil {
			continue // removed meanwhile
		}
		locks = append(locks, lk)
		if commandsRunning(rd) {
			busy = append(busy, filepath.Base(dir))
			continue
		}
		if rec := readInitRecord(rd); rec != nil && rec.Init.alive() {
			stopInit(rec)
		}
	}
	if len(busy) > 0 {
		return fmt.Errorf("this host cannot grow a mounted file system (no CAP_SYS_RESOURCE) and commands still run in %s: apply again once they are done", strings.Join(busy, ", "))
	}
	if err := unmountAt(mnt); err != nil {
		return err
	}
	gerr := resizeUnmounted(img)
	if err := remountImage(img, mnt); err != nil {
		return errors.Join(gerr, err)
	}
	return gerr
}

// remountImage mounts the image img on mnt again (without the lost+found that e2fsck may have made).
func remountImage(img, mnt string) error {
	if err := mountDiskImage(img, mnt); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(mnt, "lost+found")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// mountSource returns the device mounted on mnt (a loop device for an image), from /proc/self/mountinfo.
func mountSource(mnt string) (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	src := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != mnt {
			continue
		}
		for i, x := range f {
			if x == "-" && i+2 < len(f) {
				src = f[i+2] // the last mount on mnt is the one seen
			}
		}
	}
	if !strings.HasPrefix(src, "/dev/loop") {
		return "", fmt.Errorf("%s is not mounted from a loop device (%q)", mnt, src)
	}
	return src, nil
}
