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
	"strings"
	"syscall"
)

// maxReadBytes caps ReadFile.
const maxReadBytes = 256 << 20

// WriteFile implements backend.Engine. The path is relative to the home, or absolute under /home/sandbox (or
// the host path of the home); a path that leaves the home, lexically or through a symlink, is refused. Missing
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

// openHome checks that the sandbox exists and returns its home (its workspace's for a sandbox on a workspace;
// an overlay home mounted again if need be) as an os.Root with p made relative to it.
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
