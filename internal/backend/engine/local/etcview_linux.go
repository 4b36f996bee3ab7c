//go:build linux

package local

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// etcFiles are the parts of the host's /etc that commands see, read-only: what name lookup, TLS, dynamic linking,
// locales, time zones and shells need, and nothing that holds host secrets (no shadow, ssh, ssl/private, app
// configuration).
var etcFiles = []string{
	"alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "crypto-policies",
	"debian_version", "fonts", "gai.conf", "group", "host.conf", "hosts", "inputrc", "ld.so.cache",
	"ld.so.conf", "ld.so.conf.d", "locale.alias", "locale.conf", "localtime", "lsb-release", "magic",
	"mime.types", "nsswitch.conf", "os-release", "passwd", "perl", "pki/ca-trust", "pki/tls/cert.pem",
	"pki/tls/certs", "pki/tls/openssl.cnf", "profile", "protocols", "python3", "redhat-release",
	"resolv.conf", "services", "shells", "ssl/certs", "ssl/openssl.cnf", "system-release", "terminfo",
	"timezone",
}

// etcViewMaxAge is how long an etc view that no engine uses any more is kept (running commands may still
// have it mounted).
const etcViewMaxAge = 7 * 24 * time.Hour

// etcView returns a directory holding a copy of etcFiles, to be mounted read-only as the sandbox's /etc in one
// bind mount: a bind mount per file would cost bubblewrap a millisecond or more each. The view is named by the
// hash of its content and checked once per engine, so that it follows the host's /etc from one provider run to
// the next, engines with the same view share it, and an unchanged /etc is only read, not copied again. Views
// no engine has used for etcViewMaxAge are removed.
func (e *Engine) etcView() (string, error) {
	e.viewMu.Lock()
	defer e.viewMu.Unlock()
	if e.etcDir != "" {
		return e.etcDir, nil
	}
	sys := filepath.Join(e.root, "system")
	if err := os.MkdirAll(sys, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", sys, err)
	}
	sum, err := etcSum("")
	if err != nil {
		return "", fmt.Errorf("reading the host's /etc: %w", err)
	}
	view := filepath.Join(sys, "etc-"+sum)
	if _, err := os.Stat(view); err == nil {
		now := time.Now()
		_ = os.Chtimes(view, now, now) // in use
	} else {
		if view, err = makeEtcView(sys); err != nil {
			return "", fmt.Errorf("making the sandbox /etc: %w", err)
		}
	}
	if ents, err := os.ReadDir(sys); err == nil {
		for _, ent := range ents {
			p := filepath.Join(sys, ent.Name())
			if p != view && (strings.HasPrefix(ent.Name(), "etc-") || strings.HasPrefix(ent.Name(), ".etc-")) && olderThan(ent, etcViewMaxAge) {
				_ = removeAll(p)
			}
		}
	}
	e.etcDir = view
	return view, nil
}

// etcSum hashes etcFiles as copyEtc reads them; with dst != "" it copies them there too.
func etcSum(dst string) (string, error) {
	h := sha256.New()
	for _, name := range etcFiles {
		if err := copyEtc(h, "/etc", dst, name); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// makeEtcView copies etcFiles into sys/etc-<hash> through a temporary directory.
func makeEtcView(sys string) (string, error) {
	tmp, err := os.MkdirTemp(sys, ".etc-")
	if err != nil {
		return "", err
	}
	sum, err := etcSum(tmp)
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	view := filepath.Join(sys, "etc-"+sum)
	if err := os.Rename(tmp, view); err != nil {
		_ = os.RemoveAll(tmp)
		if _, serr := os.Stat(view); serr != nil {
			return "", err
		}
		// Another engine made the same view meanwhile.
	}
	return view, nil
}

// copyEtc copies srcRoot/name to dstRoot/name: directories recursively, symlinks as symlinks, except that a
// symlink at the top that points outside /usr and /etc is replaced by what it points to (e.g. /etc/resolv.conf
// -> /run/...), since only /usr and /etc exist in the sandbox. Missing or unreadable entries are skipped. What
// is copied is fed to h; with dstRoot "" nothing is written.
func copyEtc(h hash.Hash, srcRoot, dstRoot, name string) error {
	src := filepath.Join(srcRoot, name)
	fi, err := os.Lstat(src)
	if err != nil {
		return skippable(err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(src)
		if err != nil {
			return skippable(err)
		}
		abs := t
		if !path.IsAbs(abs) {
			abs = path.Join(path.Dir(src), t)
		}
		if !within(path.Clean(abs), "/usr") && !within(path.Clean(abs), "/etc") {
			if fi, err = os.Stat(src); err != nil {
				return skippable(err) // dangling
			}
		}
	}
	if dstRoot != "" {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dstRoot, name)), 0o755); err != nil {
			return err
		}
	}
	if !fi.IsDir() || fi.Mode()&fs.ModeSymlink != 0 {
		return copyEntry(h, src, dstRoot, name, fi)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, werr error) error {
		if werr != nil {
			if err := skippable(werr); err != nil {
				return err
			}
			if d != nil && d.IsDir() && p != src {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(srcRoot, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return skippable(err)
		}
		return copyEntry(h, p, dstRoot, rel, info)
	})
}

// skippable returns nil for the errors of an entry that is missing or unreadable (left out of the view), and
// err otherwise.
func skippable(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil
	}
	return err
}

// copyEntry hashes one directory (empty), symlink or regular file as rel, and copies it to dstRoot/rel unless
// dstRoot is "".
func copyEntry(h hash.Hash, src, dstRoot, rel string, fi fs.FileInfo) error {
	dst := filepath.Join(dstRoot, rel)
	mode := fi.Mode()
	switch {
	case mode.IsDir():
		fmt.Fprintf(h, "d %s %o\n", rel, mode.Perm())
		if dstRoot == "" {
			return nil
		}
		if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return skippable(err)
		}
		fmt.Fprintf(h, "l %s %s\n", rel, t)
		if dstRoot == "" {
			return nil
		}
		return os.Symlink(t, dst)
	case mode.IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return skippable(err) // unreadable by the provider's user: not for the sandbox either
		}
		defer in.Close()
		fmt.Fprintf(h, "f %s %o\n", rel, mode.Perm())
		if dstRoot == "" {
			_, err = io.Copy(h, in)
			return err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm())
		if err != nil {
			return err
		}
		_, err = io.Copy(io.MultiWriter(out, h), in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil
}
