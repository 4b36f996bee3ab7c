//go:build linux

package local

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// The engine reads a few small files and opens a few descriptors for every command (the metadata, env and
// policy files, the init record, /proc/<pid>/stat, the locks, the cmds cgroup.procs files, /dev/null). os.Open
// registers each descriptor with Go's poller first (four fcntl calls and an epoll_ctl that fails for a regular
// file, the same again to undo it, an epoll_ctl more to close a cgroup file); that was a quarter of the
// engine's system calls per command. These helpers make the plain system calls.

// readSmallFile reads the file at p with open, read and close; a missing file is an error that matches
// fs.ErrNotExist, as os.ReadFile's.
func readSmallFile(p string) ([]byte, error) {
	fd, err := openRetry(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 1024)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// openFile opens p with the flags as a blocking *os.File that Go's poller leaves alone (os.NewFile only asks
// whether the descriptor is non-blocking).
func openFile(p string, flags int, perm uint32) (*os.File, error) {
	fd, err := openRetry(p, flags|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

func openRetry(p string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(p, flags, perm)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
