package daytonafake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// hostPath maps a path inside the sandbox (absolute, or relative to its home, which is the daemon's working
// directory) to the host. ".." cannot climb above the sandbox's root.
func (sb *sandbox) hostPath(p string) string {
	abs := path.Clean("/" + p)
	if !path.IsAbs(p) {
		abs = path.Join(Home, p)
	}
	return filepath.Join(sb.dir, filepath.FromSlash(abs))
}

// toolboxSandbox finds the started sandbox a toolbox call is for; the answer is set when there is none.
func (s *Server) toolboxSandbox(r *http.Request, id string) (*sandbox, answer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	sb, ok := s.sandboxes[id]
	if !ok || sb.state == stDestroyed {
		return nil, toolboxError(r, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("sandbox %s not found", id)), false
	}
	if sb.state != stStarted || sb.busy() {
		return nil, toolboxError(r, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("sandbox %s is not started (state: %s)", id, sb.state)), false
	}
	return sb, answer{}, true
}

// parseCommand splits a command on spaces outside quotes and drops the quotes, as the daemon's
// process/execute does (no shell, no escapes).
func parseCommand(command string) []string {
	var args []string
	var cur strings.Builder
	inQuotes := false
	var quote rune
	for _, r := range command {
		switch {
		case r == '"' || r == '\'':
			switch {
			case !inQuotes:
				inQuotes, quote = true, r
			case quote == r:
				inQuotes, quote = false, 0
			default:
				cur.WriteRune(r)
			}
		case r == ' ' && !inQuotes:
			if cur.Len() > 0 {
				args = append(args, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		args = append(args, cur.String())
	}
	return args
}

func (s *Server) execute(r *http.Request, id string) answer {
	var b struct {
		Command *string           `json:"command"`
		Cwd     *string           `json:"cwd"`
		Envs    map[string]string `json:"envs"`
		Timeout *int              `json:"timeout"`
	}
	if _, ok := decodeBody(r, &b); !ok || b.Command == nil || strings.TrimSpace(*b.Command) == "" {
		return toolboxError(r, http.StatusBadRequest, "INVALID_REQUEST_BODY", "command is required")
	}
	if b.Timeout != nil && *b.Timeout < 0 {
		return toolboxError(r, http.StatusBadRequest, "INVALID_REQUEST_BODY", "timeout must be a non-negative number")
	}
	parts := parseCommand(*b.Command)
	if len(parts) == 0 {
		return toolboxError(r, http.StatusBadRequest, "BAD_REQUEST", "empty command")
	}
	sb, a, ok := s.toolboxSandbox(r, id)
	if !ok {
		return a
	}
	s.mu.Lock()
	dir := sb.home()
	if b.Cwd != nil && *b.Cwd != "" {
		dir = sb.hostPath(*b.Cwd)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + sb.home(), "USER=" + User, "TMPDIR=" + filepath.Join(sb.dir, "tmp")}
	for k, v := range sb.env {
		env = append(env, k+"="+v)
	}
	for k, v := range b.Envs {
		env = append(env, k+"="+v)
	}
	s.mu.Unlock()

	cmd := exec.Command(parts[0], parts[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return jsonAnswer(http.StatusOK, map[string]any{"exitCode": -1, "result": err.Error()})
	}
	sb.procsMu.Lock()
	sb.procs[cmd] = true
	sb.procsMu.Unlock()
	defer func() {
		sb.procsMu.Lock()
		delete(sb.procs, cmd)
		sb.procsMu.Unlock()
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var timeoutC <-chan time.Time
	if b.Timeout != nil && *b.Timeout > 0 {
		t := time.NewTimer(time.Duration(*b.Timeout) * time.Second)
		defer t.Stop()
		timeoutC = t.C
	}
	select {
	case <-timeoutC:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err := <-done; err == nil {
			return jsonAnswer(http.StatusOK, map[string]any{"exitCode": 0, "result": out.String()}) // finished just in time
		}
		return toolboxError(r, http.StatusRequestTimeout, "PROCESS_EXECUTION_TIMEOUT",
			fmt.Sprintf("Command execution timed out after %d seconds. The timeout can be increased by adjusting the timeout parameter in the request.", *b.Timeout))
	case <-s.closed:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		waitErr := <-done
		return toolboxError(r, http.StatusBadGateway, "INTERNAL_SERVER_ERROR", fmt.Sprintf("fake closed (command ended: %v)", waitErr))
	case err := <-done:
		code := -1
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		}
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) && code == 0 {
			code = -1
		}
		return jsonAnswer(http.StatusOK, map[string]any{"exitCode": code, "result": out.String()})
	}
}

func (s *Server) upload(r *http.Request, id string) answer {
	sb, a, ok := s.toolboxSandbox(r, id)
	if !ok {
		return a
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"errors": []string{"invalid multipart form"}})
	}
	dests := map[string]string{}
	var errs []string
	var files []map[string]any
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, "reading part: "+err.Error())
			break
		}
		name := part.FormName()
		idx := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(name, "files["), "].path"), "].file")
		switch {
		case strings.HasSuffix(name, ".path"):
			data, _ := io.ReadAll(part)
			dest := strings.TrimSpace(string(data))
			if dest == "" {
				errs = append(errs, fmt.Sprintf("path[%s]: empty path", idx))
				continue
			}
			dests[idx] = dest
		case strings.HasSuffix(name, ".file"):
			dest, ok := dests[idx]
			if !ok {
				errs = append(errs, fmt.Sprintf("file[%s]: missing .path metadata", idx))
				continue
			}
			host := sb.hostPath(dest)
			if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
				errs = append(errs, fmt.Sprintf("%s: mkdir: %v", dest, err))
				continue
			}
			f, err := os.Create(host)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", dest, err))
				continue
			}
			n, err := io.Copy(f, part)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: write: %v", dest, err))
				continue
			}
			files = append(files, map[string]any{"path": dest, "bytes": n})
		}
	}
	if len(errs) > 0 {
		return jsonAnswer(http.StatusBadRequest, map[string]any{"errors": errs, "files": files})
	}
	return jsonAnswer(http.StatusOK, map[string]any{"files": files})
}

func (s *Server) download(r *http.Request, id string) answer {
	p := r.URL.Query().Get("path")
	if p == "" {
		return toolboxError(r, http.StatusBadRequest, "BAD_REQUEST", "path is required")
	}
	sb, a, ok := s.toolboxSandbox(r, id)
	if !ok {
		return a
	}
	host := sb.hostPath(p)
	fi, err := os.Stat(host)
	switch {
	case os.IsNotExist(err):
		return toolboxError(r, http.StatusNotFound, "FILE_NOT_FOUND", fmt.Sprintf("stat %s: no such file or directory", p))
	case err != nil:
		return toolboxError(r, http.StatusBadRequest, "BAD_REQUEST", err.Error())
	case fi.IsDir():
		return toolboxError(r, http.StatusBadRequest, "BAD_REQUEST", "path must be a file")
	}
	data, err := os.ReadFile(host)
	if err != nil {
		return toolboxError(r, http.StatusForbidden, "FILE_ACCESS_DENIED", err.Error())
	}
	return answer{status: http.StatusOK, body: data, header: http.Header{"Content-Type": {"application/octet-stream"}}}
}

func (s *Server) homeDir(r *http.Request, id string) answer {
	if _, a, ok := s.toolboxSandbox(r, id); !ok {
		return a
	}
	return jsonAnswer(http.StatusOK, map[string]string{"dir": Home})
}
