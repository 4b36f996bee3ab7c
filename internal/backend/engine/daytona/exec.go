package daytona

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Commands run through the toolbox's process/execute, which answers one combined output and an exit code. To
// give the separate stdout, stderr and stdin the engine contract asks for, every command runs inside a small
// POSIX sh wrapper (it needs sh, mktemp and base64 in the image, as Daytona's images have): the wrapper
// writes stdin to a temporary file, runs the argv (each argument single-quoted, never re-split) in a subshell
// with stdout and stderr to two files, and prints the exit code and both files base64-encoded between lines
// marked with a random nonce. The wrapper itself travels base64-encoded inside
// `sh -c 'eval "$(printf %s <base64> | base64 -d)"'`, which means the same whether the daemon splits the
// command on quotes and runs it directly (newer daemons) or hands it to a shell (older ones).
//
// Env: the request's env goes in the execute call's envs field; the sandbox's env is Daytona's (set at create)
// plus, once UpdateSandbox changed it, an env file inside the sandbox that the wrapper sources first
// (~/.ekairos/sandbox.env, mode 0600); the request's values are restored after it, so they win.

// maxCommandBytes keeps the sh -c argument under Linux's 128 KiB limit for one argument.
const maxCommandBytes = 120 << 10

// maxInlineStdin is the largest stdin embedded in the command; a larger one is uploaded first.
const maxInlineStdin = 48 << 10

// envFile is the sandbox env file, as a shell expression.
const envFile = `${HOME:-/home/daytona}/.ekairos/sandbox.env`

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func newNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "EKX" + hex.EncodeToString(b)
}

// wrapperScript is the script that runs argv with separate outputs; see the comment above.
func wrapperScript(nonce string, argv, envKeys []string, stdinB64, stdinFile string) string {
	var b strings.Builder
	b.WriteString(`__ekx_d=$(mktemp -d "${TMPDIR:-/tmp}/ekairos-exec.XXXXXX") || exit 125` + "\n")
	b.WriteString(`trap 'rm -rf "$__ekx_d"' EXIT` + "\n")
	for i, k := range envKeys {
		b.WriteString("__ekx_r" + strconv.Itoa(i) + "=${" + k + "-}\n")
	}
	b.WriteString(`__ekx_f="` + envFile + `"` + "\n")
	b.WriteString(`if [ -r "$__ekx_f" ]; then . "$__ekx_f"; fi` + "\n")
	for i, k := range envKeys {
		b.WriteString(k + "=$__ekx_r" + strconv.Itoa(i) + "; export " + k + "\n")
	}
	switch {
	case stdinFile != "":
		b.WriteString("mv -f " + shQuote(stdinFile) + ` "$__ekx_d/in" || exit 125` + "\n")
	case stdinB64 != "":
		b.WriteString("printf '%s' '" + stdinB64 + `' | base64 -d > "$__ekx_d/in" || exit 125` + "\n")
	default:
		b.WriteString(`: > "$__ekx_d/in"` + "\n")
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = shQuote(a)
	}
	b.WriteString("( " + strings.Join(quoted, " ") + ` ) <"$__ekx_d/in" >"$__ekx_d/out" 2>"$__ekx_d/err"` + "\n")
	b.WriteString("__ekx_c=$?\n")
	b.WriteString(`printf '\n` + nonce + `:exit:%s\n` + nonce + `:out\n' "$__ekx_c"` + "\n")
	b.WriteString(`base64 < "$__ekx_d/out"` + "\n")
	b.WriteString(`printf '` + nonce + `:err\n'` + "\n")
	b.WriteString(`base64 < "$__ekx_d/err"` + "\n")
	b.WriteString(`printf '` + nonce + `:end\n'` + "\n")
	return b.String()
}

// wrapCommand is the command text the toolbox receives for a script.
func wrapCommand(script string) string {
	return `sh -c 'eval "$(printf %s ` + base64.StdEncoding.EncodeToString([]byte(script)) + ` | base64 -d)"'`
}

// parseFrame reads the wrapper's output.
func parseFrame(result, nonce string) (code int, stdout, stderr []byte, ok bool) {
	i := strings.Index(result, nonce+":exit:")
	if i < 0 {
		return 0, nil, nil, false
	}
	rest := result[i+len(nonce)+len(":exit:"):]
	nl := strings.IndexByte(rest, '\n')
	if nl < 0 {
		return 0, nil, nil, false
	}
	code, err := strconv.Atoi(strings.TrimSpace(rest[:nl]))
	if err != nil {
		return 0, nil, nil, false
	}
	rest = rest[nl+1:]
	if !strings.HasPrefix(rest, nonce+":out\n") {
		return 0, nil, nil, false
	}
	rest = rest[len(nonce)+len(":out\n"):]
	k := strings.Index(rest, nonce+":err\n")
	m := strings.Index(rest, nonce+":end")
	if k < 0 || m < k {
		return 0, nil, nil, false
	}
	stdout, err1 := decodeB64(rest[:k])
	stderr, err2 := decodeB64(rest[k+len(nonce)+len(":err\n") : m])
	if err1 != nil || err2 != nil {
		return 0, nil, nil, false
	}
	return code, stdout, stderr, true
}

func decodeB64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}

// toolboxURL returns the toolbox URL of a daemon path in a sandbox.
func (e *Engine) toolboxURL(ctx context.Context, d *sandboxDTO, daemonPath string) (string, error) {
	base := d.ToolboxProxyURL
	if base == "" {
		var u toolboxURLDTO
		if err := e.c.do(ctx, request{method: http.MethodGet, path: "/sandbox/" + url.PathEscape(d.ID) + "/toolbox-proxy-url", idempotent: true, out: &u}); err != nil {
			return "", err
		}
		base = u.URL
	}
	if base == "" {
		return "", fmt.Errorf("daytona: sandbox %s has no toolbox proxy URL", d.ID)
	}
	return strings.TrimRight(base, "/") + "/" + url.PathEscape(d.ID) + "/" + daemonPath, nil
}

// startedSandbox reads a sandbox that must be running for the toolbox.
func (e *Engine) startedSandbox(ctx context.Context, id string) (*sandboxDTO, error) {
	d, err := e.getSandbox(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.State != stStarted {
		return nil, fmt.Errorf("daytona sandbox %s is %s, not started: commands and files need a running sandbox (start it first)", id, d.State)
	}
	return d, nil
}

// Exec implements backend.Engine. The sandbox must be started. Cwd is relative to the sandbox's working
// directory (its home, /home/daytona, unless the image sets another WORKDIR) or absolute. The timeout is the
// request's, else the sandbox's (its spec's Timeout), else Config.DefaultCommandTimeout; Daytona counts it in
// whole seconds (rounded up). A timed-out command's output is lost: Daytona answers 408 without it.
func (e *Engine) Exec(ctx context.Context, externalID string, req backend.ExecRequest) (*backend.ExecResult, error) {
	d, err := e.startedSandbox(ctx, externalID)
	if err != nil {
		return nil, err
	}
	return e.execIn(ctx, d, req, "")
}

// execIn runs a request in a started sandbox; cwdBase, when set, is where relative (and empty) cwds resolve.
func (e *Engine) execIn(ctx context.Context, d *sandboxDTO, req backend.ExecRequest, cwdBase string) (*backend.ExecResult, error) {
	if len(req.Argv) == 0 {
		return nil, errors.New("daytona: exec needs a command (argv is empty)")
	}
	for _, a := range req.Argv {
		if strings.ContainsRune(a, 0) {
			return nil, errors.New("daytona: exec: an argument contains NUL")
		}
	}
	if err := backend.CheckEnv(req.Env); err != nil {
		return nil, fmt.Errorf("command %w", err)
	}
	var sandboxTimeout time.Duration
	if ms, err := strconv.ParseInt(d.Labels[LabelCommandTimeout], 10, 64); err == nil && ms > 0 {
		sandboxTimeout = time.Duration(ms) * time.Millisecond
	}
	timeout := backend.CommandTimeout(req.Timeout, sandboxTimeout, e.cmdTimeout)
	secs := int((timeout + time.Second - 1) / time.Second)
	cwd := req.Cwd
	if cwdBase != "" && !path.IsAbs(cwd) {
		cwd = path.Join(cwdBase, cwd)
	}
	keys := make([]string, 0, len(req.Env))
	for k := range req.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	nonce := newNonce()
	var stdinB64, stdinFile string
	if len(req.Stdin) > maxInlineStdin {
		stdinFile = "/tmp/ekairos-stdin-" + nonce
		if err := e.upload(ctx, d, stdinFile, req.Stdin); err != nil {
			return nil, fmt.Errorf("daytona: uploading the command's stdin: %w", err)
		}
	} else if len(req.Stdin) > 0 {
		stdinB64 = base64.StdEncoding.EncodeToString(req.Stdin)
	}
	command := wrapCommand(wrapperScript(nonce, req.Argv, keys, stdinB64, stdinFile))
	if len(command) > maxCommandBytes {
		return nil, fmt.Errorf("daytona: the command is too long (%d bytes encoded, at most %d)", len(command), maxCommandBytes)
	}
	target, err := e.toolboxURL(ctx, d, "process/execute")
	if err != nil {
		return nil, err
	}
	env := req.Env
	if len(env) == 0 {
		env = nil
	}
	body := executeDTO{Command: command, Cwd: cwd, Envs: env, Timeout: secs}
	// The HTTP call waits for the command: bound it by the command's timeout plus a margin.
	callCtx, cancel := context.WithTimeout(ctx, timeout+time.Minute)
	defer cancel()
	start := time.Now()
	var out executeResultDTO
	err = e.c.do(callCtx, request{method: http.MethodPost, path: "toolbox/" + d.ID + "/process/execute", fullURL: target, body: body, out: &out})
	took := time.Since(start)
	if statusOf(err) == http.StatusRequestTimeout {
		return &backend.ExecResult{ExitCode: -1, TimedOut: true, Duration: took}, nil
	}
	if err != nil {
		return nil, e.toolboxErr(ctx, d.ID, err)
	}
	code, stdout, stderr, ok := parseFrame(out.Result, nonce)
	if !ok {
		exit := -1
		if out.ExitCode != nil {
			exit = *out.ExitCode
		} else if out.Code != nil {
			exit = *out.Code
		}
		text := out.Result
		if len(text) > 512 {
			text = text[:512] + "..."
		}
		return nil, fmt.Errorf("daytona: the command wrapper did not run in sandbox %s (does the image have sh, mktemp and base64?): exit code %d, output %q", d.ID, exit, text)
	}
	return &backend.ExecResult{ExitCode: code, Stdout: stdout, Stderr: stderr, Duration: took}, nil
}

// toolboxErr turns a toolbox 404 into backend.ErrNotFound when the sandbox itself is gone.
func (e *Engine) toolboxErr(ctx context.Context, id string, err error) error {
	if statusOf(err) == http.StatusNotFound {
		if _, gerr := e.getSandbox(ctx, id); errors.Is(gerr, backend.ErrNotFound) {
			return gerr
		}
	}
	return err
}

// sandboxPath checks a file path: relative ones must stay inside the sandbox's working directory, absolute
// ones may name any place in the sandbox.
func sandboxPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q contains NUL", p)
	}
	c := path.Clean(p)
	if path.IsAbs(p) {
		return c, nil
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q escapes the sandbox's working directory", p)
	}
	if c == "." {
		return "", fmt.Errorf("path %q names the working directory, not a file", p)
	}
	return c, nil
}

// WriteFile implements backend.Engine through the toolbox's bulk upload, which makes the parent directories.
// Relative paths are relative to the sandbox's working directory.
func (e *Engine) WriteFile(ctx context.Context, externalID, p string, data []byte) error {
	clean, err := sandboxPath(p)
	if err != nil {
		return fmt.Errorf("daytona: writing %q: %w", p, err)
	}
	d, err := e.startedSandbox(ctx, externalID)
	if err != nil {
		return err
	}
	return e.upload(ctx, d, clean, data)
}

func (e *Engine) upload(ctx context.Context, d *sandboxDTO, dest string, data []byte) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("files[0].path", dest); err != nil {
		return fmt.Errorf("daytona: building the upload: %w", err)
	}
	fw, err := mw.CreateFormFile("files[0].file", path.Base(dest))
	if err != nil {
		return fmt.Errorf("daytona: building the upload: %w", err)
	}
	if _, err := fw.Write(data); err != nil {
		return fmt.Errorf("daytona: building the upload: %w", err)
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("daytona: building the upload: %w", err)
	}
	target, err := e.toolboxURL(ctx, d, "files/bulk-upload")
	if err != nil {
		return err
	}
	err = e.c.do(ctx, request{method: http.MethodPost, path: "toolbox/" + d.ID + "/files/bulk-upload", fullURL: target,
		raw: buf.Bytes(), contentType: mw.FormDataContentType(), idempotent: true})
	if err != nil {
		return e.toolboxErr(ctx, d.ID, err)
	}
	return nil
}

// ReadFile implements backend.Engine through the toolbox's download. A missing file is an error that does not
// wrap backend.ErrNotFound (that means a missing sandbox).
func (e *Engine) ReadFile(ctx context.Context, externalID, p string) ([]byte, error) {
	clean, err := sandboxPath(p)
	if err != nil {
		return nil, fmt.Errorf("daytona: reading %q: %w", p, err)
	}
	d, err := e.startedSandbox(ctx, externalID)
	if err != nil {
		return nil, err
	}
	target, err := e.toolboxURL(ctx, d, "files/download")
	if err != nil {
		return nil, err
	}
	var data []byte
	err = e.c.do(ctx, request{method: http.MethodGet, path: "toolbox/" + d.ID + "/files/download", fullURL: target,
		query: url.Values{"path": {clean}}, idempotent: true, rawOut: &data})
	if statusOf(err) == http.StatusNotFound {
		if _, gerr := e.getSandbox(ctx, d.ID); errors.Is(gerr, backend.ErrNotFound) {
			return nil, gerr
		}
		return nil, fmt.Errorf("daytona: file %s does not exist in sandbox %s (%s)", clean, d.ID, apiMessage(err))
	}
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

type envAct int

const (
	envNone envAct = iota
	envWrite
	envRemove
)

// envChange says what must happen to the env file for the sandbox to have want.
func envChange(d *sandboxDTO, want map[string]string) envAct {
	if sameLabels(d.Env, want) {
		if d.Labels[LabelEnvFile] != "" {
			return envRemove
		}
		return envNone
	}
	return envWrite
}

// writeEnvFile writes (or removes) the env file that makes a running sandbox's commands see want instead of
// the env it was created with (have). Daytona cannot change a sandbox's env after create.
func (e *Engine) writeEnvFile(ctx context.Context, id string, have, want map[string]string, remove bool) error {
	d, err := e.startedSandbox(ctx, id)
	if err != nil {
		return err
	}
	var req backend.ExecRequest
	if remove {
		req.Argv = []string{"sh", "-c", `rm -f "` + envFile + `"`}
	} else {
		var b strings.Builder
		b.WriteString("# written by terraform-provider-sandbox: the sandbox's declared env\n")
		for _, k := range sortedKeys(have) {
			if _, ok := want[k]; !ok && !strings.HasPrefix(k, "DAYTONA_") {
				b.WriteString("unset " + k + "\n")
			}
		}
		for _, k := range sortedKeys(want) {
			b.WriteString("export " + k + "=" + shQuote(want[k]) + "\n")
		}
		req.Argv = []string{"sh", "-c", `f="` + envFile + `" && mkdir -p "$(dirname "$f")" && umask 077 && cat > "$f.tmp" && mv -f "$f.tmp" "$f"`}
		req.Stdin = []byte(b.String())
	}
	req.Timeout = time.Minute
	res, err := e.execIn(ctx, d, req, "")
	if err != nil {
		return fmt.Errorf("daytona: updating the env of sandbox %s: %w", id, err)
	}
	if res.ExitCode != 0 || res.TimedOut {
		return fmt.Errorf("daytona: updating the env of sandbox %s: exit code %d: %s", id, res.ExitCode, bytes.TrimSpace(res.Stderr))
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
