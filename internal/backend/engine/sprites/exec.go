package sprites

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
)

// Stream ids of the non-TTY exec protocol: each binary WebSocket message is one frame, its first byte the
// stream id and the rest the payload (no length field).
const (
	StreamStdin    byte = 0x00 // client to server: stdin bytes (the server reads them only with stdin=true)
	StreamStdout   byte = 0x01 // server to client: stdout bytes
	StreamStderr   byte = 0x02 // server to client: stderr bytes
	StreamExit     byte = 0x03 // server to client: one byte, the exit code 0-255 (empty payload = 0)
	StreamStdinEOF byte = 0x04 // client to server: closes the process's stdin
)

// MaxOutputBytes caps what Exec keeps of each of stdout and stderr; the rest is read and dropped.
const MaxOutputBytes = 32 << 20

// stdinChunk is the largest stdin frame payload sent.
const stdinChunk = 32 << 10

// pingInterval keeps the socket alive through idle intermediaries while a quiet command runs.
const pingInterval = 15 * time.Second

// ErrExecInterrupted is wrapped when the exec connection ends before the exit frame: the command's exit code
// is unknown (it may still be running, or have failed), and is never reported as 0.
var ErrExecInterrupted = errors.New("sprites exec: the connection ended before the command's exit code arrived, so its outcome is unknown")

// ExecOptions is one command run over the exec WebSocket.
type ExecOptions struct {
	// Argv is the program and its arguments, sent as repeated cmd parameters; never interpreted by a shell.
	Argv []string
	// Env is the command's whole environment: the API replaces the sprite's default environment when any
	// variable is sent. nil sends none (the sprite's default environment).
	Env map[string]string
	// Dir is the working directory; "" = the server's default (/home/sprite).
	Dir string
	// Stdin is written to the command's stdin, which is then closed.
	Stdin []byte
	// Timeout, when positive, sends SIGKILL to the command once it has run that long; the result then says
	// TimedOut.
	Timeout time.Duration
}

// ExecResult is a command's outcome.
type ExecResult struct {
	ExitCode int // 0-255 as the API reports it; -1 when a timed-out command never reported one
	Stdout   []byte
	Stderr   []byte
	TimedOut bool
	Duration time.Duration
}

// execURL builds the WebSocket URL. Its query holds env values: it must never appear in an error or a log.
func (c *Client) execURL(name string, o ExecOptions) string {
	u := *c.base
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	p := spritePath(name, "/exec")
	unescaped, _ := url.PathUnescape(p)
	u.Path = c.base.Path + unescaped
	u.RawPath = c.base.EscapedPath() + p
	q := url.Values{}
	for _, a := range o.Argv {
		q.Add("cmd", a)
	}
	q.Set("path", o.Argv[0])
	q.Set("stdin", "true")
	keys := make([]string, 0, len(o.Env))
	for k := range o.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Add("env", k+"="+o.Env[k])
	}
	if o.Dir != "" {
		q.Set("dir", o.Dir)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Client) dialer() *websocket.Dialer {
	d := &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: c.reqTimeout}
	if t, ok := c.http.Transport.(*http.Transport); ok && t != nil {
		if t.TLSClientConfig != nil {
			d.TLSClientConfig = t.TLSClientConfig.Clone()
		}
		if t.Proxy != nil {
			d.Proxy = t.Proxy
		}
		d.NetDialContext = t.DialContext
	} else if c.http.Transport != nil {
		// A custom RoundTripper cannot dial a WebSocket; use the defaults but keep TLS verification on.
		d.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return d
}

// dial opens the exec WebSocket, retrying failed handshakes under the client's retry policy (the command has
// not started until the upgrade succeeds).
func (c *Client) dial(ctx context.Context, name string, o ExecOptions) (*websocket.Conn, error) {
	path := spritePath(name, "/exec")
	rawURL := c.execURL(name, o)
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+c.token)
	hdr.Set("User-Agent", "terraform-provider-sandbox")
	var conn *websocket.Conn
	// A handshake that failed started no command: sending it again is safe.
	err := c.withRetry(ctx, httpapi.Call{Idempotent: true}, func(ctx context.Context) error {
		cn, resp, err := c.dialer().DialContext(ctx, rawURL, hdr)
		if err == nil {
			conn = cn
			return nil
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			defer func() { _ = resp.Body.Close() }()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			var apiErr *APIError
			_ = errors.As(apiError(&httpapi.Request{Method: "GET", Path: path + " (WebSocket)"}, resp.StatusCode, resp.Header,
				[]byte(c.redact(string(body)))), &apiErr)
			// The request carried env values: an answer that echoes them must not put them in an error.
			apiErr.Code = redactValues(apiErr.Code, o.Env)
			apiErr.Message = redactValues(apiErr.Message, o.Env)
			return apiErr
		}
		return &transportError{op: "sprites API GET " + path + " (WebSocket)", err: c.scrubSecrets(err, rawURL)}
	})
	return conn, err
}

// scrubSecrets returns err with rawURL (whose query holds env values) and the token removed from its text.
func (c *Client) scrubSecrets(err error, rawURL string) error {
	err = c.scrubURLError(err)
	msg := err.Error()
	clean := strings.ReplaceAll(msg, rawURL, "[exec URL]")
	if i := strings.Index(rawURL, "?"); i >= 0 {
		clean = strings.ReplaceAll(clean, rawURL[i:], "?[redacted]")
	}
	clean = c.redact(clean)
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

// publicEnv are variables whose values are not secret (and are common words, like "sprite").
var publicEnv = map[string]bool{"PATH": true, "HOME": true, "USER": true, "LANG": true, "LC_ALL": true, "TERM": true, "SHELL": true, "PWD": true}

// redactValues replaces env values (of 4 bytes or more; shorter ones would mangle ordinary words) in s.
func redactValues(s string, env map[string]string) string {
	for k, v := range env {
		if len(v) >= 4 && !publicEnv[k] {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// scrubbedError shows a cleaned message and keeps the original for errors.Is/As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

type wsMessage struct {
	typ  int
	data []byte
	err  error
}

// Exec runs a command in a sprite over the exec WebSocket and waits for its exit frame. stdout and stderr
// are kept apart; the exit code is the one the exit frame carries. A connection that ends before the exit
// frame is an error wrapping ErrExecInterrupted (never exit code 0). A missing sprite is an error wrapping
// backend.ErrNotFound. When Timeout passes, the command is sent SIGKILL and the result says TimedOut.
func (c *Client) Exec(ctx context.Context, name string, o ExecOptions) (*ExecResult, error) {
	if len(o.Argv) == 0 || o.Argv[0] == "" {
		return nil, errors.New("sprites exec: empty argv")
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	for k := range o.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("sprites exec: invalid env name %q", k)
		}
	}
	start := time.Now()
	conn, err := c.dial(ctx, name, o)
	if err != nil {
		return nil, fmt.Errorf("starting %q in sprite %s: %w", o.Argv[0], name, err)
	}
	defer func() { _ = conn.Close() }()

	var wmu sync.Mutex
	write := func(typ int, b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		return conn.WriteMessage(typ, b)
	}

	done := make(chan struct{})
	defer close(done)
	msgs := make(chan wsMessage, 16)
	go func() {
		for {
			typ, data, err := conn.ReadMessage()
			select {
			case msgs <- wsMessage{typ: typ, data: data, err: err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { // stdin, then EOF
		for off := 0; off < len(o.Stdin); off += stdinChunk {
			end := min(off+stdinChunk, len(o.Stdin))
			frame := append([]byte{StreamStdin}, o.Stdin[off:end]...)
			if write(websocket.BinaryMessage, frame) != nil {
				return
			}
		}
		_ = write(websocket.BinaryMessage, []byte{StreamStdinEOF})
	}()
	go func() { // keepalive
		t := time.NewTicker(pingInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second))
			}
		}
	}()

	var stdout, stderr capBuffer
	res := &ExecResult{ExitCode: -1}
	var timeoutC, graceC <-chan time.Time
	if o.Timeout > 0 {
		t := time.NewTimer(o.Timeout)
		defer t.Stop()
		timeoutC = t.C
	}
	finish := func() *ExecResult {
		res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
		res.Duration = time.Since(start)
		return res
	}
	for {
		select {
		case <-ctx.Done():
			// Best effort: do not leave the command running for the server's max_run_after_disconnect.
			sig, _ := json.Marshal(map[string]string{"type": "signal", "signal": "KILL"})
			sent := make(chan struct{})
			go func() { _ = write(websocket.TextMessage, sig); close(sent) }()
			select {
			case <-sent:
			case <-time.After(500 * time.Millisecond):
			}
			return nil, fmt.Errorf("running %q in sprite %s: %w", o.Argv[0], name, ctx.Err())
		case <-timeoutC:
			timeoutC = nil
			res.TimedOut = true
			// The exec protocol's signal message; the SDKs send it the same way.
			sig, _ := json.Marshal(map[string]string{"type": "signal", "signal": "KILL"})
			_ = write(websocket.TextMessage, sig)
			g := time.NewTimer(c.killGrace)
			defer g.Stop()
			graceC = g.C
		case <-graceC:
			// Killed, but no exit code came back: report the timeout with an unknown code.
			return finish(), nil
		case m := <-msgs:
			if m.err != nil {
				if res.TimedOut {
					return finish(), nil
				}
				return nil, fmt.Errorf("running %q in sprite %s: %w (%s)", o.Argv[0], name, ErrExecInterrupted, describeClose(m.err))
			}
			switch m.typ {
			case websocket.BinaryMessage:
				if len(m.data) == 0 {
					continue
				}
				switch m.data[0] {
				case StreamStdout:
					stdout.Write(m.data[1:])
				case StreamStderr:
					stderr.Write(m.data[1:])
				case StreamExit:
					res.ExitCode = 0
					if len(m.data) > 1 {
						res.ExitCode = int(m.data[1])
					}
					c.closeNormally(conn, &wmu)
					return finish(), nil
				}
			case websocket.TextMessage:
				var msg struct {
					Type     string `json:"type"`
					ExitCode *int   `json:"exit_code"`
				}
				if json.Unmarshal(m.data, &msg) == nil && msg.Type == "exit" && msg.ExitCode != nil {
					res.ExitCode = *msg.ExitCode
					c.closeNormally(conn, &wmu)
					return finish(), nil
				}
				// port_opened, port_closed, session_info, control:...: nothing to do.
			}
		}
	}
}

// closeNormally sends the close frame (1000) without waiting: the server keeps the socket open a few seconds
// after the exit frame, and the exit frame is the end of the command.
func (c *Client) closeNormally(conn *websocket.Conn, wmu *sync.Mutex) {
	wmu.Lock()
	defer wmu.Unlock()
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
}

func describeClose(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Text != "" {
			return fmt.Sprintf("closed with code %d: %s", ce.Code, ce.Text)
		}
		return fmt.Sprintf("closed with code %d", ce.Code)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection dropped"
	}
	return "connection error: " + err.Error()
}

// capBuffer keeps at most MaxOutputBytes.
type capBuffer struct{ b bytes.Buffer }

func (c *capBuffer) Write(p []byte) {
	if room := MaxOutputBytes - c.b.Len(); room > 0 {
		if len(p) > room {
			p = p[:room]
		}
		c.b.Write(p)
	}
}

func (c *capBuffer) Bytes() []byte {
	if c.b.Len() == 0 {
		return []byte{}
	}
	return c.b.Bytes()
}
