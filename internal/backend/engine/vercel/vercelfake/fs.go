package vercelfake

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxUpload bounds a file write's body.
const maxUpload = 64 << 20

// sessionRoot checks that a session can take file operations and returns its tree. It takes f.mu itself.
func (f *Fake) sessionRoot(ctx context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.sessionFor(id)
	if err != nil {
		return "", err
	}
	if err := f.runnable(ctx, s); err != nil {
		return "", err
	}
	return s.root, nil
}

// inSandbox resolves a path against a base directory of the sandbox (relative to the home when base is "") and
// returns it relative to the sandbox's "/", for os.Root.
func inSandbox(p, base string) (string, error) {
	if base == "" {
		base = sessionCwd
	}
	if !path.IsAbs(base) {
		base = path.Join(sessionCwd, base)
	}
	if !path.IsAbs(p) {
		p = path.Join(base, p)
	}
	rel := strings.TrimPrefix(path.Clean(p), "/")
	if rel == "" {
		rel = "."
	}
	return rel, nil
}

func (f *Fake) writeFiles(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/gzip" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Files must be sent as a gzip-compressed tar archive (content-type: application/gzip).", nil)
		return
	}
	xcwd := r.Header.Get("x-cwd")
	if xcwd == "" {
		xcwd = sessionCwd
	}
	if !path.IsAbs(xcwd) {
		writeErr(w, badRequest("the x-cwd header should be an absolute path."))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxUpload+1))
	if err != nil {
		writeErr(w, badRequest("cannot read the body: %v", err))
		return
	}
	if len(body) > maxUpload {
		writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large", "The archive is too large.", nil)
		return
	}
	rootDir, err := f.sessionRoot(r.Context(), r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := extractTarGz(bytes.NewReader(body), rootDir, xcwd); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// extractTarGz extracts a gzipped tar into the sandbox tree at rootDir, below the sandbox directory dir.
func extractTarGz(rd io.Reader, rootDir, dir string) error {
	zr, err := gzip.NewReader(rd)
	if err != nil {
		return badRequest("the body is not gzip: %v", err)
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return badRequest("the body is not a valid tar archive: %v", err)
		}
		name := path.Clean(h.Name)
		if path.IsAbs(h.Name) || name == ".." || strings.HasPrefix(name, "../") {
			return badRequest("tar entry %q is absolute or leaves the extraction directory.", h.Name)
		}
		rel, _ := inSandbox(name, dir)
		mode := fs.FileMode(h.Mode) & 0o777
		switch h.Typeflag {
		case tar.TypeDir:
			if mode == 0 {
				mode = 0o755
			}
			if err := root.MkdirAll(rel, mode); err != nil {
				return badRequest("cannot make %s: %v", name, err)
			}
		case tar.TypeReg:
			if mode == 0 {
				mode = 0o644
			}
			if d := path.Dir(rel); d != "." {
				if err := root.MkdirAll(d, 0o755); err != nil {
					return badRequest("cannot make the parent of %s: %v", name, err)
				}
			}
			out, err := root.OpenFile(rel, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
			if err != nil {
				return badRequest("cannot write %s: %v", name, err)
			}
			_, cerr := io.Copy(out, tr)
			if err := errors.Join(cerr, out.Close()); err != nil {
				return badRequest("cannot write %s: %v", name, err)
			}
			if err := root.Chmod(rel, mode); err != nil {
				return badRequest("cannot chmod %s: %v", name, err)
			}
		case tar.TypeSymlink:
			_ = root.Remove(rel)
			if err := root.Symlink(h.Linkname, rel); err != nil {
				return badRequest("cannot make the link %s: %v", name, err)
			}
		default:
			return badRequest("tar entry %q has an unsupported type %q.", h.Name, string(h.Typeflag))
		}
	}
}

type pathBody struct {
	Path      *string `json:"path"`
	Cwd       *string `json:"cwd"`
	Recursive *bool   `json:"recursive"`
}

func (b pathBody) resolve() (string, error) {
	if b.Path == nil || *b.Path == "" {
		return "", badRequest("`path` is required.")
	}
	base := ""
	if b.Cwd != nil {
		base = *b.Cwd
	}
	return inSandbox(*b.Path, base)
}

func (f *Fake) readFile(w http.ResponseWriter, r *http.Request) {
	var b pathBody
	if err := decodeBody(r, &b, false); err != nil {
		writeErr(w, err)
		return
	}
	if b.Recursive != nil {
		writeErr(w, badRequest("should NOT have additional property `recursive`."))
		return
	}
	rel, err := b.resolve()
	if err != nil {
		writeErr(w, err)
		return
	}
	rootDir, err := f.sessionRoot(r.Context(), r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		writeErr(w, err)
		return
	}
	defer root.Close()
	st, err := root.Stat(rel)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "File not found: /"+strings.TrimPrefix(rel, "./"), nil)
		return
	}
	if st.IsDir() {
		writeErr(w, badRequest("/%s is a directory.", rel))
		return
	}
	data, err := root.ReadFile(rel)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment; filename="+strconv.Quote(path.Base(rel)))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (f *Fake) mkdir(w http.ResponseWriter, r *http.Request) {
	var b pathBody
	if err := decodeBody(r, &b, false); err != nil {
		writeErr(w, err)
		return
	}
	rel, err := b.resolve()
	if err != nil {
		writeErr(w, err)
		return
	}
	rootDir, err := f.sessionRoot(r.Context(), r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		writeErr(w, err)
		return
	}
	defer root.Close()
	if b.Recursive != nil && *b.Recursive {
		err = root.MkdirAll(rel, 0o755)
	} else {
		err = root.Mkdir(rel, 0o755)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		writeErr(w, badRequest("File exists: /%s", rel))
		return
	case errors.Is(err, fs.ErrNotExist):
		writeErr(w, badRequest("No such file or directory: the parent of /%s does not exist (send recursive: true).", rel))
		return
	case err != nil:
		writeErr(w, badRequest("cannot make /%s: %v", rel, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// fetchSource fills a new session's home from a git or tarball source.
func fetchSource(src *sourceBody, dest string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch src.Type {
	case "tarball":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("fetching the tarball: %s", resp.Status)
		}
		br := bufio.NewReader(resp.Body)
		if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			return extractTarGz(br, dest, "/")
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := io.Copy(zw, br); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		return extractTarGz(&buf, dest, "/")
	case "git":
		u := src.URL
		if src.Username != "" {
			if pu, err := url.Parse(u); err == nil {
				pu.User = url.UserPassword(src.Username, src.Password)
				u = pu.String()
			}
		}
		args := []string{"clone", "--quiet"}
		if src.Depth != nil && src.Revision == "" {
			args = append(args, "--depth", strconv.Itoa(*src.Depth))
		}
		args = append(args, u, dest)
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Env = []string{"PATH=" + commandPath, "GIT_TERMINAL_PROMPT=0", "HOME=" + dest}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git clone failed: %w: %s", err, bytes.TrimSpace(out))
		}
		if src.Revision != "" {
			cmd := exec.CommandContext(ctx, "git", "-C", dest, "checkout", "--quiet", src.Revision)
			cmd.Env = []string{"PATH=" + commandPath, "HOME=" + dest}
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("git checkout %s failed: %w: %s", src.Revision, err, bytes.TrimSpace(out))
			}
		}
	}
	return nil
}
