package harness

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// CopyTree copies the tree src into dst: directories (with their permissions, at least owner rwx), regular
// files (with their permissions, replacing a file of the same name) and, with keepLinks, symbolic links (not
// followed; without keepLinks they are left out, as a snapshot that does not keep mounts). Sockets, fifos
// and devices are not copied.
func CopyTree(src, dst string, keepLinks bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			if !keepLinks {
				return nil
			}
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer func() { _ = in.Close() }()
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
			if err != nil {
				return err
			}
			_, cerr := io.Copy(out, in)
			return errors.Join(cerr, out.Close())
		}
		return nil
	})
}
