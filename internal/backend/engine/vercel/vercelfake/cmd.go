package vercelfake

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// commandPath is the PATH commands get; the host's own environment never reaches them.
const commandPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

type logLine struct {
	Stream string `json:"stream"`
	Data   string `json:"data"`
}

type command struct {
	id          string
	name        string
	args        []string
	cwd         string
	sessionID   string
	startedAt   int64
	exitCode    *int
	durationMs  int64
	logs        []logLine
	done        bool
	bySession   bool // killed because its session stopped
	changed     chan struct{}
	proc        *os.Process
	timer       *time.Timer
	pendingUTF8 map[string][]byte
}

type commandView struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Args       []string `json:"args"`
	Cwd        string   `json:"cwd"`
	SessionID  string   `json:"sessionId"`
	ExitCode   *int     `json:"exitCode"`
	StartedAt  int64    `json:"startedAt"`
	DurationMs *int64   `json:"durationMs,omitempty"`
}

func (c *command) view() commandView {
	v := commandView{ID: c.id, Name: c.name, Args: nonNil(c.args), Cwd: c.cwd, SessionID: c.sessionID, ExitCode: c.exitCode, StartedAt: c.startedAt}
	if c.done {
		d := c.durationMs
		v.DurationMs = &d
	}
	return v
}

// notify wakes the command's waiters. f.mu is held.
func (c *command) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// killAll kills the session's running commands. f.mu is held.
func (s *session) killAll(bySession bool) {
	for _, c := range s.cmds {
		if !c.done && c.proc != nil {
			c.bySession = c.bySession || bySession
			killGroup(c.proc)
		}
	}
}

type runBody struct {
	Command *string           `json:"command"`
	Args    []string          `json:"args"`
	Cwd     *string           `json:"cwd"`
	Env     map[string]string `json:"env"`
	Sudo    *bool             `json:"sudo"`
	Wait    *bool             `json:"wait"`
	Logs    *bool             `json:"logs"`
	Timeout *int64            `json:"timeout"`
}

func (f *Fake) runCommand(w http.ResponseWriter, r *http.Request) {
	var b runBody
	if err := decodeBody(r, &b, false); err != nil {
		writeErr(w, err)
		return
	}
	if b.Command == nil || *b.Command == "" {
		writeErr(w, badRequest("`command` is required."))
		return
	}
	if b.Timeout != nil && *b.Timeout < 100 {
		writeErr(w, badRequest("`timeout` should be >= 100."))
		return
	}
	wait := b.Wait != nil && *b.Wait
	logs := b.Logs != nil && *b.Logs
	if logs && !wait {
		writeErr(w, badRequest("`logs` can only be used with `wait`."))
		return
	}
	if err := validateEnv(b.Env); err != nil {
		writeErr(w, err)
		return
	}

	f.mu.Lock()
	s, err := f.sessionFor(r.PathValue("sessionId"))
	if err == nil {
		err = f.runnable(r.Context(), s)
	}
	if err != nil {
		f.mu.Unlock()
		writeErr(w, err)
		return
	}
	cwd := sessionCwd
	if b.Cwd != nil && *b.Cwd != "" {
		cwd = path.Clean(path.Join(sessionCwd, *b.Cwd))
		if path.IsAbs(*b.Cwd) {
			cwd = path.Clean(*b.Cwd)
		}
	}
	hostCwd := filepath.Join(s.root, filepath.FromSlash(cwd))
	if st, serr := os.Stat(hostCwd); serr != nil || !st.IsDir() {
		f.mu.Unlock()
		writeErr(w, badRequest("`cwd` %s is not a directory in the sandbox.", cwd))
		return
	}
	env := map[string]string{"PATH": commandPath, "HOME": filepath.Join(s.root, filepath.FromSlash(sessionCwd)), "LANG": "C.UTF-8"}
	if sb := f.sandboxes[s.sandbox]; sb != nil {
		for k, v := range sb.env {
			env[k] = v
		}
	}
	for k, v := range b.Env {
		env[k] = v
	}
	c := &command{
		id: newID("cmd_"), name: *b.Command, args: b.Args, cwd: cwd, sessionID: s.id, startedAt: nowMs(),
		changed: make(chan struct{}), pendingUTF8: map[string][]byte{},
	}
	s.cmds[c.id] = c
	s.cmdOrder = append(s.cmdOrder, c.id)
	f.start(c, hostCwd, env, b.Timeout)
	f.mu.Unlock()

	if !wait {
		f.mu.Lock()
		v := c.view()
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"command": v})
		return
	}
	f.streamCommand(r.Context(), w, c, logs, true)
}

// start starts the process of a command. f.mu is held.
func (f *Fake) start(c *command, dir string, env map[string]string, timeout *int64) {
	finish := func(code int, msg string) {
		if msg != "" {
			c.logs = append(c.logs, logLine{Stream: "stderr", Data: msg})
		}
		c.exitCode = &code
		c.durationMs = nowMs() - c.startedAt
		c.done = true
		c.notify()
	}
	bin, ok := lookPath(c.name, dir)
	if !ok {
		finish(127, "sh: 1: "+c.name+": not found\n")
		return
	}
	cmd := exec.Command(bin, c.args...)
	cmd.Args[0] = c.name
	cmd.Dir = dir
	cmd.Env = make([]string, 0, len(env))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	setProcessGroup(cmd)
	stdout, err1 := cmd.StdoutPipe()
	stderr, err2 := cmd.StderrPipe()
	if err1 != nil || err2 != nil {
		finish(126, "cannot make pipes\n")
		return
	}
	if err := cmd.Start(); err != nil {
		finish(126, "sh: 1: "+c.name+": "+err.Error()+"\n")
		return
	}
	c.proc = cmd.Process
	if timeout != nil {
		c.timer = time.AfterFunc(time.Duration(*timeout)*time.Millisecond, func() { killGroup(cmd.Process) })
	}
	readers := make(chan struct{}, 2)
	for name, rd := range map[string]io.Reader{"stdout": stdout, "stderr": stderr} {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := rd.Read(buf)
				if n > 0 {
					f.mu.Lock()
					c.appendLog(name, buf[:n])
					c.notify()
					f.mu.Unlock()
				}
				if err != nil {
					break
				}
			}
			readers <- struct{}{}
		}()
	}
	go func() {
		<-readers
		<-readers
		err := cmd.Wait()
		code := exitCode(cmd.ProcessState, err)
		f.mu.Lock()
		defer f.mu.Unlock()
		if c.timer != nil {
			c.timer.Stop()
		}
		for _, name := range []string{"stdout", "stderr"} {
			if rest := c.pendingUTF8[name]; len(rest) > 0 {
				c.logs = append(c.logs, logLine{Stream: name, Data: string(rest)})
			}
		}
		finish(code, "")
	}()
}

// appendLog adds output, holding back an incomplete UTF-8 sequence at the end for the next chunk (a JSON
// string cannot carry invalid UTF-8: what is not valid becomes U+FFFD, as in any JSON encoder).
func (c *command) appendLog(stream string, b []byte) {
	data := append(c.pendingUTF8[stream], b...)
	cut := len(data)
	for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
		if utf8.RuneStart(data[i]) {
			if !utf8.FullRune(data[i:]) {
				cut = i
			}
			break
		}
	}
	c.pendingUTF8[stream] = append([]byte(nil), data[cut:]...)
	if cut > 0 {
		c.logs = append(c.logs, logLine{Stream: stream, Data: string(data[:cut])})
	}
}

// lookPath resolves a command name the way the sandbox's shell would, on commandPath only.
func lookPath(name, dir string) (string, bool) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		st, err := os.Stat(p)
		return p, err == nil && !st.IsDir() && st.Mode()&0o111 != 0
	}
	for _, d := range filepath.SplitList(commandPath) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// streamCommand writes a command's ndjson stream: the command, its logs (when asked), then the command with
// its exit code, or an error line when its session stopped under it.
func (f *Fake) streamCommand(ctx context.Context, w http.ResponseWriter, c *command, logs, withCommand bool) {
	nd := newNDJSON(w)
	f.mu.Lock()
	first := c.view()
	f.mu.Unlock()
	if withCommand {
		first.ExitCode = nil
		if err := nd.line(map[string]any{"command": first}); err != nil {
			return
		}
	}
	sent := 0
	for {
		f.mu.Lock()
		var lines []logLine
		if logs {
			lines = append(lines, c.logs[sent:]...)
			sent = len(c.logs)
		}
		done, bySession, ch, v := c.done, c.bySession, c.changed, c.view()
		f.mu.Unlock()
		for _, l := range lines {
			if err := nd.line(l); err != nil {
				return
			}
		}
		if done {
			if bySession {
				_ = nd.line(map[string]any{"stream": "error", "data": map[string]string{"code": "sandbox_stopped", "message": "The sandbox was stopped while the command was running."}})
				return
			}
			if withCommand {
				_ = nd.line(map[string]any{"command": v})
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

func (f *Fake) commandFor(w http.ResponseWriter, r *http.Request) (*session, *command, bool) {
	s, err := f.sessionFor(r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return nil, nil, false
	}
	c := s.cmds[r.PathValue("cmdId")]
	if c == nil {
		writeError(w, http.StatusNotFound, "not_found", "Command not found.", nil)
		return nil, nil, false
	}
	return s, c, true
}

func (f *Fake) getCommand(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, c, ok := f.commandFor(w, r)
	if !ok {
		return
	}
	if r.URL.Query().Get("wait") == "true" {
		for !c.done {
			ch := c.changed
			f.mu.Unlock()
			select {
			case <-r.Context().Done():
				f.mu.Lock()
				return
			case <-ch:
			}
			f.mu.Lock()
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"command": c.view()})
}

func (f *Fake) commandLogs(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	_, c, ok := f.commandFor(w, r)
	f.mu.Unlock()
	if !ok {
		return
	}
	f.streamCommand(r.Context(), w, c, true, false)
}

func (f *Fake) killCommand(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Signal *int `json:"signal"`
	}
	if err := decodeBody(r, &b, false); err != nil {
		writeErr(w, err)
		return
	}
	if b.Signal == nil || *b.Signal < 1 || *b.Signal > 31 {
		writeErr(w, badRequest("`signal` is required and should be a signal number."))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, c, ok := f.commandFor(w, r)
	if !ok {
		return
	}
	if err := f.runnable(r.Context(), s); err != nil {
		writeErr(w, err)
		return
	}
	if c.done || c.proc == nil {
		writeErr(w, badRequest("the command is not running."))
		return
	}
	signalGroup(c.proc, *b.Signal)
	writeJSON(w, http.StatusOK, map[string]any{"command": c.view()})
}

func (f *Fake) listCommands(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.sessionFor(r.PathValue("sessionId"))
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []commandView{}
	for i := len(s.cmdOrder) - 1; i >= 0; i-- {
		out = append(out, s.cmds[s.cmdOrder[i]].view())
	}
	writeJSON(w, http.StatusOK, map[string]any{"commands": out})
}
