package spritesfake_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

type client struct {
	t     *testing.T
	f     *spritesfake.Fake
	token string
}

func (c *client) do(method, path string, body any) (int, []byte, http.Header) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.f.URL()+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (c *client) want(method, path string, body any, status int, contains string) []byte {
	c.t.Helper()
	got, b, _ := c.do(method, path, body)
	if got != status || !strings.Contains(string(b), contains) {
		c.t.Fatalf("%s %s: %d %s; want %d containing %q", method, path, got, b, status, contains)
	}
	return b
}

func start(t *testing.T, opts spritesfake.Options) (*spritesfake.Fake, *client) {
	f := spritesfake.Start(t, opts)
	return f, &client{t: t, f: f, token: f.Token()}
}

func TestAuth(t *testing.T) {
	f, c := start(t, spritesfake.Options{})
	anon := &client{t: t, f: f}
	anon.want("GET", "/v1/sprites", nil, 401, `"error":"unauthorized"`)
	wrong := &client{t: t, f: f, token: "nope"}
	wrong.want("POST", "/v1/sprites", map[string]any{"name": "a"}, 401, "unauthorized")
	c.want("POST", "/v1/sprites", map[string]any{"name": "a"}, 201, `"status":"cold"`)
	// WebSocket upgrades too.
	u := strings.Replace(f.URL(), "http", "ws", 1) + "/v1/sprites/a/exec?cmd=true"
	_, resp, err := websocket.DefaultDialer.DialContext(t.Context(), u, http.Header{"Authorization": {"Bearer nope"}})
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("WebSocket with a wrong token: %v, %v", err, resp)
	}
}

func TestCreateRules(t *testing.T) {
	f, c := start(t, spritesfake.Options{})
	c.want("POST", "/v1/sprites", map[string]any{"name": "Bad_Name"}, 400, "invalid_name")
	c.want("POST", "/v1/sprites", map[string]any{"name": strings.Repeat("a", 64)}, 400, "invalid_name")
	c.want("POST", "/v1/sprites", map[string]any{}, 400, `"errors":["name is required"]`)
	c.want("POST", "/v1/sprites", map[string]any{"name": "a", "wait_for_capacity": "yes"}, 400, `{"errors":["invalid wait_for_capacity parameter"]}`)
	c.want("POST", "/v1/sprites", map[string]any{"name": "a", "surprise": 1}, 400, "unknown field(s): surprise")
	c.want("POST", "/v1/sprites", map[string]any{"name": "a", "url_settings": map[string]any{"auth": "open"}}, 400, "url_settings.auth")
	c.want("POST", "/v1/sprites", map[string]any{"name": "a", "labels": []any{1}}, 400, "labels")
	c.want("POST", "/v1/sprites", map[string]any{"name": "a", "runtime": "node"}, 400, "runtime")
	b := c.want("POST", "/v1/sprites", map[string]any{"name": "a", "url_settings": map[string]any{"auth": "public"}, "labels": []string{"x"},
		"wait_for_capacity": true, "runtime": "dev", "config": map[string]any{"cpus": 8}, "environment": map[string]string{"A": "b"}}, 201, `"auth":"public"`)
	var s map[string]any
	_ = json.Unmarshal(b, &s)
	if !strings.HasPrefix(s["id"].(string), "sprite-") || s["url"] != "https://a-fake0.sprites.app" || s["status"] != "cold" { //nolint:forcetypeassert // test
		t.Errorf("created sprite = %v", s)
	}
	c.want("POST", "/v1/sprites", map[string]any{"name": "a"}, 409, "sprite_already_exists")
	c.want("GET", "/v1/sprites/b", nil, 404, `{"error":"sprite not found"}`)
	c.want("PUT", "/v1/sprites/a", map[string]any{}, 400, "url_settings or labels is required")
	c.want("PUT", "/v1/sprites/a", map[string]any{"labels": []string{"y"}}, 200, `"labels":["y"]`)
	c.want("DELETE", "/v1/sprites/a", nil, 204, "")
	c.want("DELETE", "/v1/sprites/a", nil, 404, "sprite not found")
	if n := f.Count("POST /v1/sprites"); n != 10 {
		t.Errorf("Count(POST /v1/sprites) = %d", n)
	}
}

func TestListPages(t *testing.T) {
	_, c := start(t, spritesfake.Options{})
	for _, n := range []string{"b1", "a1", "a2", "a3"} {
		c.want("POST", "/v1/sprites", map[string]any{"name": n}, 201, "")
	}
	c.want("GET", "/v1/sprites?max_results=51", nil, 400, "max_results")
	c.want("GET", "/v1/sprites?continuation_token=garbage", nil, 400, "continuation_token")
	var page struct {
		Sprites []struct{ Name string } `json:"sprites"`
		HasMore bool                    `json:"has_more"`
		Next    string                  `json:"next_continuation_token"`
	}
	_ = json.Unmarshal(c.want("GET", "/v1/sprites?prefix=a&max_results=2", nil, 200, ""), &page)
	if len(page.Sprites) != 2 || page.Sprites[0].Name != "a1" || !page.HasMore {
		t.Fatalf("page 1 = %+v", page)
	}
	_ = json.Unmarshal(c.want("GET", "/v1/sprites?prefix=a&max_results=2&continuation_token="+page.Next, nil, 200, ""), &page)
	if len(page.Sprites) != 1 || page.Sprites[0].Name != "a3" || page.HasMore {
		t.Fatalf("page 2 = %+v", page)
	}
}

// wsExec dials the exec WebSocket with a raw client.
func wsExec(t *testing.T, f *spritesfake.Fake, sprite string, q url.Values) *websocket.Conn {
	t.Helper()
	u := strings.Replace(f.URL(), "http", "ws", 1) + "/v1/sprites/" + sprite + "/exec?" + q.Encode()
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), u, http.Header{"Authorization": {"Bearer " + f.Token()}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

type frame struct {
	typ  int
	data []byte
}

// readAll reads messages until the exit frame.
func readAll(t *testing.T, conn *websocket.Conn) []frame {
	t.Helper()
	var out []frame
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v (frames so far %v)", err, out)
		}
		out = append(out, frame{typ, data})
		if typ == websocket.BinaryMessage && len(data) > 0 && data[0] == 0x03 {
			return out
		}
	}
}

func TestExecFrames(t *testing.T) {
	f, c := start(t, spritesfake.Options{ExecLinger: 200 * time.Millisecond})
	c.want("POST", "/v1/sprites", map[string]any{"name": "ex"}, 201, "")
	q := url.Values{"cmd": {"sh", "-c", "cat; echo err >&2; exit 3"}, "stdin": {"true"}, "env": {"PATH=/usr/bin:/bin"}}
	conn := wsExec(t, f, "ex", q)
	if err := conn.WriteMessage(websocket.BinaryMessage, append([]byte{0x00}, "in-put"...)); err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte{0x04}); err != nil {
		t.Fatal(err)
	}
	frames := readAll(t, conn)
	var stdout, stderr []byte
	for i, fr := range frames {
		if fr.typ != websocket.BinaryMessage {
			t.Errorf("frame %d is not binary", i)
		}
		switch fr.data[0] {
		case 0x01:
			stdout = append(stdout, fr.data[1:]...)
		case 0x02:
			stderr = append(stderr, fr.data[1:]...)
		case 0x03:
			if i != len(frames)-1 || !bytes.Equal(fr.data, []byte{0x03, 3}) {
				t.Errorf("exit frame %v at %d of %d", fr.data, i, len(frames))
			}
		default:
			t.Errorf("unknown stream id %d", fr.data[0])
		}
	}
	if string(stdout) != "in-put" || string(stderr) != "err\n" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	// The server closes with 1000 after lingering.
	start := time.Now()
	_, _, err := conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Errorf("after the exit frame: %v; want a close with 1000", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %s", d)
	}
	if in, _ := f.Sprite("ex"); in.Status != "running" {
		t.Errorf("status after exec = %q", in.Status)
	}
	log := f.ExecLog("ex")
	if len(log) != 1 || log[0].ExitCode != 3 || strings.Join(log[0].EnvNames, ",") != "PATH" || log[0].Dir != "/home/sprite" {
		t.Errorf("exec log = %+v", log)
	}
}

func TestExecStdinIgnoredWithoutFlagAndEnvReplaced(t *testing.T) {
	f, c := start(t, spritesfake.Options{ExecLinger: 50 * time.Millisecond})
	c.want("POST", "/v1/sprites", map[string]any{"name": "ex"}, 201, "")
	conn := wsExec(t, f, "ex", url.Values{"cmd": {"cat"}})
	_ = conn.WriteMessage(websocket.BinaryMessage, append([]byte{0x00}, "ignored"...))
	frames := readAll(t, conn)
	if len(frames) != 1 || !bytes.Equal(frames[0].data, []byte{0x03, 0}) {
		t.Errorf("cat without stdin=true: frames %v; want only the exit frame", frames)
	}
	conn = wsExec(t, f, "ex", url.Values{"cmd": {"/usr/bin/env"}, "env": {"ONLY=this"}})
	frames = readAll(t, conn)
	if string(frames[0].data[1:]) != "ONLY=this\n" {
		t.Errorf("env with one variable: %q; want exactly it (env replaces the default environment)", frames[0].data[1:])
	}
}

func TestExecSignalAndDrop(t *testing.T) {
	f, c := start(t, spritesfake.Options{ExecLinger: 50 * time.Millisecond})
	c.want("POST", "/v1/sprites", map[string]any{"name": "ex"}, 201, "")
	conn := wsExec(t, f, "ex", url.Values{"cmd": {"sleep", "30"}})
	time.Sleep(100 * time.Millisecond)
	if in, _ := f.Sprite("ex"); in.Status != "running" {
		t.Errorf("status while a command runs = %q", in.Status)
	}
	_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"signal","signal":"SIGKILL"}`))
	frames := readAll(t, conn)
	if !bytes.Equal(frames[len(frames)-1].data, []byte{0x03, 137}) {
		t.Errorf("killed: %v; want exit code 128+9", frames)
	}
	f.Faults().Add(harness.Fault{Route: "WS /v1/sprites/{name}/exec", Extra: spritesfake.DropExec{}})
	conn = wsExec(t, f, "ex", url.Values{"cmd": {"echo", "hi"}})
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
				t.Errorf("a dropped socket sent a close frame: %v", ce)
			}
			break
		}
		if data[0] == 0x03 {
			t.Fatal("a dropped exec sent its exit frame")
		}
		got = append(got, data[1:]...)
	}
	if string(got) != "hi\n" {
		t.Errorf("output before the drop = %q", got)
	}
}

func TestExecHTTP(t *testing.T) {
	_, c := start(t, spritesfake.Options{})
	c.want("POST", "/v1/sprites", map[string]any{"name": "ex"}, 201, "")
	b := c.want("POST", "/v1/sprites/ex/exec?cmd=sh&cmd=-c&cmd=cat%3B+exit+4&stdin=true", "body-in", 200, "")
	if !bytes.HasSuffix(b, []byte{0x03, 4}) || !bytes.HasPrefix(b, append([]byte{0x01}, "body-in"...)) {
		t.Errorf("HTTP exec body = %q", b)
	}
	c.want("POST", "/v1/sprites/ex/exec?cmd=sh&tty=true", nil, 400, "tty")
	c.want("POST", "/v1/sprites/ex/exec", nil, 400, "No command specified")
}

func TestStatusIdle(t *testing.T) {
	f, c := start(t, spritesfake.Options{WarmAfter: time.Minute, ColdAfter: time.Hour})
	c.want("POST", "/v1/sprites", map[string]any{"name": "st"}, 201, `"status":"cold"`)
	c.want("GET", "/v1/sprites/st/fs/list?path=/home&workingDir=/", nil, 200, "sprite")
	c.want("GET", "/v1/sprites/st", nil, 200, `"status":"running"`)
	f.SetIdle("st", 2*time.Minute)
	c.want("GET", "/v1/sprites/st", nil, 200, `"status":"warm"`)
	f.SetIdle("st", 2*time.Hour)
	c.want("GET", "/v1/sprites/st", nil, 200, `"status":"cold"`)
}

func TestFilesystem(t *testing.T) {
	f, c := start(t, spritesfake.Options{})
	c.want("POST", "/v1/sprites", map[string]any{"name": "fs"}, 201, "")
	c.want("GET", "/v1/sprites/fs/fs/read?path=x", nil, 400, "workingDir")
	c.want("GET", "/v1/sprites/fs/fs/read?path=nope.txt&workingDir=/home/sprite", nil, 404, `"code":"ENOENT"`)
	c.want("PUT", "/v1/sprites/fs/fs/write?path=a/b.txt&workingDir=/home/sprite", "x", 404, "ENOENT")
	c.want("PUT", "/v1/sprites/fs/fs/write?path=a/b.txt&workingDir=/home/sprite&mkdirParents=true&mode=0600", "data", 200, `"mode":"0600"`)
	c.want("GET", "/v1/sprites/fs/fs/read?path=/home/sprite/a/b.txt&workingDir=/", nil, 200, "data")
	c.want("GET", "/v1/sprites/fs/fs/read?path=a&workingDir=/home/sprite", nil, 400, "EISDIR")
	// Confined to the sprite's root: .. stops at its /, and symlinks cannot leave it.
	c.want("GET", "/v1/sprites/fs/fs/read?path=../../../../../../etc/hostname&workingDir=/home/sprite", nil, 404, "ENOENT")
	info, _ := f.Sprite("fs")
	if err := os.Symlink("/etc/passwd", filepath.Join(info.RootDir, "home", "sprite", "link")); err != nil {
		t.Fatal(err)
	}
	if code, b, _ := c.do("GET", "/v1/sprites/fs/fs/read?path=link&workingDir=/home/sprite", nil); code == 200 {
		t.Errorf("a symlink out of the sprite was followed: %q", b)
	}
	c.want("GET", "/v1/sprites/fs/fs/list?path=/home/sprite&workingDir=/", nil, 200, `"name":"a"`)
	c.want("DELETE", "/v1/sprites/fs/fs/delete?path=a&workingDir=/home/sprite", nil, 409, "ENOTEMPTY")
	c.want("DELETE", "/v1/sprites/fs/fs/delete?path=a&workingDir=/home/sprite&recursive=true", nil, 200, "deleted")
}

func TestCheckpointsAndPolicy(t *testing.T) {
	f, c := start(t, spritesfake.Options{})
	c.want("POST", "/v1/sprites", map[string]any{"name": "cp"}, 201, "")
	c.want("PUT", "/v1/sprites/cp/fs/write?path=f.txt&workingDir=/home/sprite", "one", 200, "")
	b := c.want("POST", "/v1/sprites/cp/checkpoint", map[string]any{"comment": "first"}, 200, "")
	var lines []map[string]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not NDJSON: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 || lines[1]["data"] != "  ID: v0" || lines[2]["type"] != "complete" || lines[2]["data"] != "Checkpoint v0 created successfully" || lines[0]["time"] == "" {
		t.Errorf("checkpoint stream = %v", lines)
	}
	c.want("POST", "/v1/sprites/cp/checkpoint", map[string]any{"bogus": 1}, 400, "unknown field")
	f.Faults().Add(harness.Fault{Route: "POST /v1/sprites/{name}/checkpoint", Extra: spritesfake.StreamError("boom")})
	b = c.want("POST", "/v1/sprites/cp/checkpoint", nil, 200, `"error":"boom"`)
	if bytes.Contains(b, []byte("complete")) || !bytes.Contains(b, []byte(`"type":"error"`)) {
		t.Errorf("a failed checkpoint completed: %s", b)
	}
	b = c.want("GET", "/v1/sprites/cp/checkpoints", nil, 200, `"id":"v0"`)
	var list []map[string]any
	_ = json.Unmarshal(b, &list)
	if len(list) != 2 || list[1]["id"] != "Current" || list[0]["comment"] != "first" {
		t.Errorf("list = %v", list)
	}
	c.want("GET", "/v1/sprites/cp/checkpoints/v9", nil, 404, "checkpoint not found")
	c.want("PUT", "/v1/sprites/cp/fs/write?path=f.txt&workingDir=/home/sprite", "two", 200, "")
	c.want("POST", "/v1/sprites/cp/checkpoints/v9/restore", nil, 404, "checkpoint not found")
	c.want("POST", "/v1/sprites/cp/checkpoints/v0/restore", nil, 200, `"data":"Restore from v0 complete"`)
	c.want("GET", "/v1/sprites/cp/fs/read?path=f.txt&workingDir=/home/sprite", nil, 200, "one")
	c.want("DELETE", "/v1/sprites/cp/checkpoints/Current", nil, 409, "")
	c.want("DELETE", "/v1/sprites/cp/checkpoints/v0", nil, 204, "")

	c.want("GET", "/v1/sprites/cp/policy/network", nil, 200, `{"rules":[]}`)
	for _, bad := range []string{`{}`, `{"rules":[{"domain":"x.com"}]}`, `{"rules":[{"domain":"x.com","include":"defaults","action":"allow"}]}`,
		`{"rules":[{"include":"other"}]}`, `{"rules":[],"extra":1}`, `{"rules":[{"domain":"bad domain","action":"deny"}]}`} {
		c.want("POST", "/v1/sprites/cp/policy/network", bad, 400, "invalid policy config")
	}
	c.want("POST", "/v1/sprites/cp/policy/network", `{"rules":[{"domain":"*.x.com","action":"allow"},{"include":"defaults"},{"domain":"*","action":"deny"}]}`, 204, "")
	c.want("GET", "/v1/sprites/cp/policy/network", nil, 200, `{"rules":[{"domain":"*.x.com","action":"allow"},{"include":"defaults"},{"domain":"*","action":"deny"}]}`)
}

func TestRateLimitedFault(t *testing.T) {
	f, c := start(t, spritesfake.Options{})
	f.Faults().Add(spritesfake.RateLimited("POST /v1/sprites", 7))
	code, b, h := c.do("POST", "/v1/sprites", map[string]any{"name": "x"})
	if code != 429 || h.Get("Retry-After") != "7" || h.Get("X-RateLimit-Remaining") != "0" || !strings.Contains(string(b), `"retry_after_seconds":7`) {
		t.Errorf("429 fault: %d %s %v", code, b, h)
	}
	c.want("POST", "/v1/sprites", map[string]any{"name": "x"}, 201, "")
}

func TestDeleteKillsCommands(t *testing.T) {
	f, c := start(t, spritesfake.Options{})
	c.want("POST", "/v1/sprites", map[string]any{"name": "k"}, 201, "")
	conn := wsExec(t, f, "k", url.Values{"cmd": {"sleep", "30"}})
	time.Sleep(100 * time.Millisecond)
	c.want("DELETE", "/v1/sprites/k", nil, 204, "")
	frames := readAll(t, conn)
	if last := frames[len(frames)-1].data; last[1] != 137 {
		t.Errorf("a deleted sprite's command ended with %v", last)
	}
}
