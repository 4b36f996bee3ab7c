package spritesfake

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fsError answers the filesystem API's error shape.
func fsError(w http.ResponseWriter, status int, code, msg, p string) {
	writeJSON(w, status, map[string]any{"error": msg, "code": code, "path": p})
}

// fsErr maps an OS error to the filesystem API's answer.
func fsErr(w http.ResponseWriter, err error, p string) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fsError(w, http.StatusNotFound, "ENOENT", "no such file or directory", p)
	case errors.Is(err, syscall.EISDIR):
		fsError(w, http.StatusBadRequest, "EISDIR", "is a directory", p)
	case errors.Is(err, syscall.ENOTDIR):
		fsError(w, http.StatusBadRequest, "ENOTDIR", "not a directory", p)
	case errors.Is(err, syscall.ENOTEMPTY): // before ErrExist, which it also matches
		fsError(w, http.StatusConflict, "ENOTEMPTY", "directory not empty", p)
	case errors.Is(err, fs.ErrExist):
		fsError(w, http.StatusConflict, "EEXIST", "file exists", p)
	case errors.Is(err, fs.ErrPermission):
		fsError(w, http.StatusForbidden, "EACCES", "permission denied", p)
	default:
		fsError(w, http.StatusBadRequest, "EINVAL", "invalid path or operation", p)
	}
}

// resolve turns the path and workingDir parameters into a path relative to the sprite's root.
func resolve(w http.ResponseWriter, r *http.Request) (string, string, bool) {
	q := r.URL.Query()
	p, wd := q.Get("path"), q.Get("workingDir")
	if p == "" {
		fsError(w, http.StatusBadRequest, "EINVAL", "path is required", "")
		return "", "", false
	}
	if wd == "" || !path.IsAbs(wd) {
		fsError(w, http.StatusBadRequest, "EINVAL", "workingDir is required and must be absolute", p)
		return "", "", false
	}
	if strings.ContainsRune(p, 0) {
		fsError(w, http.StatusBadRequest, "EINVAL", "invalid path", p)
		return "", "", false
	}
	abs := p
	if !path.IsAbs(abs) {
		abs = path.Join(wd, p)
	}
	abs = path.Clean(abs)
	rel := strings.TrimPrefix(abs, "/")
	if rel == "" {
		rel = "."
	}
	return abs, rel, true
}

func (f *Fake) handleFS(w http.ResponseWriter, r *http.Request, s *sprite, op string) {
	f.touch(s)
	abs, rel, ok := resolve(w, r)
	if !ok {
		return
	}
	root, err := os.OpenRoot(s.rootfs())
	if err != nil {
		fsErr(w, err, abs)
		return
	}
	defer func() { _ = root.Close() }()
	q := r.URL.Query()
	switch {
	case op == "read" && r.Method == http.MethodGet:
		fh, err := root.Open(rel)
		if err != nil {
			fsErr(w, err, abs)
			return
		}
		defer func() { _ = fh.Close() }()
		fi, err := fh.Stat()
		if err != nil {
			fsErr(w, err, abs)
			return
		}
		if fi.IsDir() {
			fsErr(w, syscall.EISDIR, abs)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, fh)
	case op == "write" && r.Method == http.MethodPut:
		mode := os.FileMode(0o644)
		if m := q.Get("mode"); m != "" {
			n, err := strconv.ParseUint(m, 8, 32)
			if err != nil || n > 0o7777 {
				fsError(w, http.StatusBadRequest, "EINVAL", "invalid mode", abs)
				return
			}
			mode = os.FileMode(n)
		}
		if q.Get("mkdirParents") == "true" {
			if d := path.Dir(rel); d != "." {
				if err := root.MkdirAll(d, 0o755); err != nil {
					fsErr(w, err, abs)
					return
				}
			}
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
		if err != nil {
			fsError(w, http.StatusBadRequest, "EIO", "could not read the body", abs)
			return
		}
		fh, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
		if err != nil {
			fsErr(w, err, abs)
			return
		}
		_, werr := fh.Write(body)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			fsErr(w, werr, abs)
			return
		}
		if err := root.Chmod(rel, mode); err != nil {
			fsErr(w, err, abs)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"path": abs, "size": len(body), "mode": fmt.Sprintf("%04o", mode.Perm())})
	case op == "list" && r.Method == http.MethodGet:
		fh, err := root.Open(rel)
		if err != nil {
			fsErr(w, err, abs)
			return
		}
		defer func() { _ = fh.Close() }()
		ents, err := fh.ReadDir(-1)
		if err != nil {
			fsErr(w, err, abs)
			return
		}
		out := make([]any, 0, len(ents))
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				continue
			}
			typ := "file"
			switch {
			case fi.IsDir():
				typ = "directory"
			case fi.Mode()&fs.ModeSymlink != 0:
				typ = "symlink"
			}
			out = append(out, map[string]any{"name": e.Name(), "path": path.Join(abs, e.Name()), "type": typ,
				"size": fi.Size(), "mode": fmt.Sprintf("%04o", fi.Mode().Perm()), "modTime": fi.ModTime().UTC().Format(time.RFC3339), "isDir": fi.IsDir()})
		}
		writeJSON(w, http.StatusOK, map[string]any{"path": abs, "entries": out, "count": len(out)})
	case op == "delete" && r.Method == http.MethodDelete:
		if rel == "." {
			fsError(w, http.StatusBadRequest, "EINVAL", "refusing to delete /", abs)
			return
		}
		if _, err := root.Lstat(rel); err != nil {
			fsErr(w, err, abs)
			return
		}
		if q.Get("recursive") == "true" {
			err = root.RemoveAll(rel)
		} else {
			err = root.Remove(rel)
		}
		if err != nil {
			fsErr(w, err, abs)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"deleted": []string{abs}, "count": 1})
	default:
		apiError(w, http.StatusNotFound, "not found", "")
	}
}
