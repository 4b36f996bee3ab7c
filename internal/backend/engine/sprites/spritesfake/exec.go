package spritesfake

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
	"github.com/gorilla/websocket"
)

// Frame stream ids of the non-TTY exec protocol.
const (
	streamStdin    byte = 0x00
	streamStdout   byte = 0x01
	streamStderr   byte = 0x02
	streamExit     byte = 0x03
	streamStdinEOF byte = 0x04
)

// defaultEnv is a command's environment when the request sends none.
var defaultEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/home/sprite",
	"USER=sprite",
	"LANG=C.UTF-8",
}

// session is one running command.
type session struct {
	cmd      *exec.Cmd
	mu       sync.Mutex
	exited   bool
	signaled bool
}

// signals the exec API's signal message may name (with or without the SIG prefix).
var signals = map[string]syscall.Signal{
	"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

// kill signals the command's whole process group; an unknown signal name is ignored.
func (se *session) kill(name string) {
	sig, ok := signals[strings.TrimPrefix(strings.ToUpper(name), "SIG")]
	if !ok {
		return
	}
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.exited || se.cmd.Process == nil {
		return
	}
	se.signaled = true
	_ = syscall.Kill(-se.cmd.Process.Pid, sig)
}

// execRequest is a parsed exec query.
type execRequest struct {
	argv    []string
	path    string
	env     []string
	envSet  bool
	dir     string // sprite path
	hostDir string
	stdin   bool
	after   time.Duration // max_run_after_disconnect
}

// parseExec reads the exec query; a bad one is answered and nil returned.
func (f *Fake) parseExec(w http.ResponseWriter, q url.Values, s *sprite) *execRequest {
	req := &execRequest{argv: q["cmd"], path: q.Get("path"), stdin: q.Get("stdin") == "true", after: f.opts.MaxRunAfterDisconnect}
	if len(req.argv) == 0 {
		http.Error(w, "No command specified", http.StatusBadRequest)
		return nil
	}
	if q.Get("tty") == "true" || q.Get("detachable") == "true" || q.Get("cc") == "true" || q.Get("id") != "" {
		apiError(w, http.StatusBadRequest, "unsupported", "tty, detachable, cc and id are not supported by this fake")
		return nil
	}
	if req.path == "" {
		req.path = req.argv[0]
	}
	if envs, ok := q["env"]; ok {
		req.envSet = true
		for _, kv := range envs {
			if i := strings.IndexByte(kv, '='); i <= 0 {
				apiError(w, http.StatusBadRequest, "invalid_env", "env parameters must be KEY=VALUE")
				return nil
			}
		}
		req.env = envs
	} else {
		req.env = append([]string(nil), defaultEnv...)
	}
	req.dir = q.Get("dir")
	if req.dir == "" {
		req.dir = "/home/sprite"
	}
	if !path.IsAbs(req.dir) {
		req.dir = path.Join("/home/sprite", req.dir)
	}
	req.hostDir = filepath.Join(s.rootfs(), filepath.FromSlash(path.Clean(req.dir)))
	if v := q.Get("max_run_after_disconnect"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			apiError(w, http.StatusBadRequest, "invalid_parameter", "invalid max_run_after_disconnect")
			return nil
		}
		req.after = d
	}
	return req
}

func (req *execRequest) record(transport string) ExecRecord {
	names := make([]string, 0, len(req.env))
	if req.envSet {
		for _, kv := range req.env {
			names = append(names, kv[:strings.IndexByte(kv, '=')])
		}
		sort.Strings(names)
	}
	return ExecRecord{Transport: transport, Argv: append([]string(nil), req.argv...), Path: req.path, Dir: req.dir,
		EnvNames: names, Stdin: req.stdin, ExitCode: -1}
}

// started is a started command with its pipes.
type started struct {
	se     *session
	stdin  io.WriteCloser // nil without stdin=true
	stdout io.ReadCloser
	stderr io.ReadCloser
	logIdx int
}

// start starts a command in a sprite. The working directory must exist, as for the real server (whose
// process start then fails).
func (f *Fake) start(s *sprite, req *execRequest, transport string) (*started, error) {
	if fi, err := os.Stat(req.hostDir); err != nil || !fi.IsDir() {
		return nil, errors.New("working directory does not exist")
	}
	cmd := exec.Command(req.path, req.argv[1:]...)
	cmd.Args[0] = req.argv[0]
	cmd.Env = req.env
	cmd.Dir = req.hostDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	st := &started{se: &session{cmd: cmd}}
	var err error
	if req.stdin {
		if st.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	if st.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if st.stderr, err = cmd.StderrPipe(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sprites[s.name] != s {
		return nil, errors.New("sprite deleted")
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.sessions[st.se] = true
	s.active++
	s.lastActive = time.Now()
	s.execLog = append(s.execLog, req.record(transport))
	st.logIdx = len(s.execLog) - 1
	return st, nil
}

// finish waits for the command (after its output was drained) and returns the exit code as the API reports
// it: the code, or 128+N for signal N, as one byte.
func (f *Fake) finish(s *sprite, st *started) int {
	err := st.se.cmd.Wait()
	st.se.mu.Lock()
	st.se.exited = true
	signaled := st.se.signaled
	st.se.mu.Unlock()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
				signaled = true
			} else {
				code = ee.ExitCode()
			}
		} else {
			code = 255
		}
	}
	code &= 0xFF
	f.mu.Lock()
	delete(s.sessions, st.se)
	s.active--
	s.lastActive = time.Now()
	if st.logIdx < len(s.execLog) {
		s.execLog[st.logIdx].ExitCode = code
		s.execLog[st.logIdx].Signaled = signaled
	}
	f.mu.Unlock()
	return code
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// handleExecWS serves the exec WebSocket (non-TTY).
func (f *Fake) handleExecWS(w http.ResponseWriter, r *http.Request, s *sprite, fault *harness.Fault) {
	req := f.parseExec(w, r.URL.Query(), s)
	if req == nil {
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	st, err := f.start(s, req, "ws")
	if err != nil {
		// The real server logs and returns: the socket closes without an exit frame.
		return
	}
	var wmu sync.Mutex
	send := func(typ int, b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		return conn.WriteMessage(typ, b)
	}

	// Client messages: stdin frames, EOF, signals. A dropped client ends the command after max_run_after_disconnect.
	clientGone := make(chan struct{})
	go func() {
		defer close(clientGone)
		for {
			typ, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			switch typ {
			case websocket.BinaryMessage:
				if len(data) == 0 || st.stdin == nil {
					continue // without stdin=true the server ignores stdin frames
				}
				switch data[0] {
				case streamStdin:
					_, _ = st.stdin.Write(data[1:])
				case streamStdinEOF:
					_ = st.stdin.Close()
				}
			case websocket.TextMessage:
				var msg struct {
					Type   string `json:"type"`
					Signal string `json:"signal"`
				}
				if json.Unmarshal(data, &msg) == nil && msg.Type == "signal" {
					st.se.kill(msg.Signal)
				}
			}
		}
	}()
	procDone := make(chan struct{})
	go func() {
		select {
		case <-clientGone:
			t := time.NewTimer(req.after)
			defer t.Stop()
			select {
			case <-t.C:
				st.se.kill("KILL")
			case <-procDone:
			}
		case <-procDone:
		}
	}()

	var wg sync.WaitGroup
	pump := func(rd io.Reader, id byte) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := rd.Read(buf)
			if n > 0 {
				_ = send(websocket.BinaryMessage, append([]byte{id}, buf[:n]...))
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(st.stdout, streamStdout)
	go pump(st.stderr, streamStderr)
	wg.Wait()
	code := f.finish(s, st)
	close(procDone)
	if st.stdin != nil {
		_ = st.stdin.Close()
	}
	if isDropExec(fault) {
		f.mu.Lock()
		if st.logIdx < len(s.execLog) {
			s.execLog[st.logIdx].ExitCode = -1
		}
		f.mu.Unlock()
		_ = conn.NetConn().Close()
		return
	}
	_ = send(websocket.BinaryMessage, []byte{streamExit, byte(code)})
	t := time.NewTimer(f.opts.ExecLinger)
	defer t.Stop()
	select {
	case <-clientGone:
	case <-t.C:
	}
	wmu.Lock()
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	wmu.Unlock()
}

// handleExecHTTP serves POST .../exec: the same frames in a chunked body, one frame per chunk.
func (f *Fake) handleExecHTTP(w http.ResponseWriter, r *http.Request, s *sprite, fault *harness.Fault) {
	req := f.parseExec(w, r.URL.Query(), s)
	if req == nil {
		return
	}
	// The body is read first: an HTTP/1 handler cannot count on reading it once it has started answering.
	var input []byte
	if req.stdin {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			apiError(w, http.StatusBadRequest, "invalid_body", "could not read the request body")
			return
		}
		input = b
	}
	st, err := f.start(s, req, "http")
	if err != nil {
		apiError(w, http.StatusBadRequest, "exec_failed", err.Error())
		return
	}
	if st.stdin != nil {
		go func() {
			_, _ = st.stdin.Write(input)
			_ = st.stdin.Close()
		}()
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	var wmu sync.Mutex
	// One frame per chunk; the short pause keeps a client's reads from merging two frames (which the
	// protocol, with no length field, cannot tell apart).
	send := func(b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = w.Write(b)
		if fl != nil {
			fl.Flush()
		}
		time.Sleep(5 * time.Millisecond)
	}
	var wg sync.WaitGroup
	pump := func(rd io.Reader, id byte) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := rd.Read(buf)
			if n > 0 {
				send(append([]byte{id}, buf[:n]...))
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(st.stdout, streamStdout)
	go pump(st.stderr, streamStderr)
	wg.Wait()
	code := f.finish(s, st)
	if isDropExec(fault) {
		panic(http.ErrAbortHandler)
	}
	send([]byte{streamExit, byte(code)})
}
