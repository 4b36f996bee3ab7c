package vercel

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Session statuses (the API's values).
const (
	StatusPending      = "pending"
	StatusRunning      = "running"
	StatusStopping     = "stopping"
	StatusStopped      = "stopped"
	StatusFailed       = "failed"
	StatusAborted      = "aborted"
	StatusSnapshotting = "snapshotting"
)

// Sandbox is a named sandbox (key "sandbox" in answers). Times are ms since the epoch, durations ms.
type Sandbox struct {
	Name               string             `json:"name"`
	Persistent         bool               `json:"persistent"`
	Region             string             `json:"region,omitempty"`
	VCPUs              int                `json:"vcpus,omitempty"`
	Memory             int                `json:"memory,omitempty"`
	Runtime            string             `json:"runtime,omitempty"`
	Image              string             `json:"image,omitempty"`
	Timeout            int64              `json:"timeout,omitempty"`
	NetworkPolicy      json.RawMessage    `json:"networkPolicy,omitempty"` // response form: header names, never values
	CreatedAt          int64              `json:"createdAt"`
	UpdatedAt          int64              `json:"updatedAt"`
	ExpiresAt          int64              `json:"expiresAt,omitempty"`
	CurrentSessionID   string             `json:"currentSessionId"`
	CurrentSnapshotID  string             `json:"currentSnapshotId,omitempty"`
	Status             string             `json:"status"`
	StatusUpdatedAt    int64              `json:"statusUpdatedAt,omitempty"`
	Cwd                string             `json:"cwd,omitempty"`
	Tags               map[string]string  `json:"tags,omitempty"`
	SnapshotExpiration *int64             `json:"snapshotExpiration,omitempty"`
	KeepLastSnapshots  *KeepLastSnapshots `json:"keepLastSnapshots,omitempty"`
}

// Session is one VM run of a sandbox.
type Session struct {
	ID                string          `json:"id"`
	Status            string          `json:"status"`
	Memory            int             `json:"memory"`
	VCPUs             int             `json:"vcpus"`
	Region            string          `json:"region"`
	Runtime           string          `json:"runtime,omitempty"`
	Timeout           int64           `json:"timeout"`
	RequestedAt       int64           `json:"requestedAt"`
	StartedAt         int64           `json:"startedAt,omitempty"`
	RequestedStopAt   int64           `json:"requestedStopAt,omitempty"`
	StoppedAt         int64           `json:"stoppedAt,omitempty"`
	SourceSnapshotID  string          `json:"sourceSnapshotId,omitempty"`
	CreatedAt         int64           `json:"createdAt"`
	UpdatedAt         int64           `json:"updatedAt"`
	Cwd               string          `json:"cwd"`
	NetworkPolicy     json.RawMessage `json:"networkPolicy,omitempty"`
	SourceSandboxName string          `json:"sourceSandboxName,omitempty"` // in the REST docs, not in the SDK's schema
}

// Route is the public URL of one port.
type Route struct {
	URL       string `json:"url"`
	Subdomain string `json:"subdomain"`
	Port      int    `json:"port"`
}

// SandboxResponse is the answer of create, get, update and resume.
type SandboxResponse struct {
	Sandbox Sandbox  `json:"sandbox"`
	Session *Session `json:"session,omitempty"`
	Routes  []Route  `json:"routes,omitempty"`
	Resumed bool     `json:"resumed,omitempty"`
}

// Snapshot is a saved filesystem.
type Snapshot struct {
	ID              string `json:"id"`
	SourceSessionID string `json:"sourceSessionId"`
	Region          string `json:"region"`
	Status          string `json:"status"` // created, deleted, failed
	SizeBytes       int64  `json:"sizeBytes"`
	ExpiresAt       int64  `json:"expiresAt,omitempty"` // 0 = never
	CreatedAt       int64  `json:"createdAt"`
	UpdatedAt       int64  `json:"updatedAt"`
	LastUsedAt      int64  `json:"lastUsedAt,omitempty"`
	CreationMethod  string `json:"creationMethod,omitempty"` // automatic, manual
	ParentID        string `json:"parentId,omitempty"`
}

// Usable reports whether a snapshot can still start a sandbox at time now.
func (s *Snapshot) Usable(now time.Time) bool {
	return s != nil && s.Status == "created" && (s.ExpiresAt == 0 || now.UnixMilli() < s.ExpiresAt)
}

// Command is a command run in a session. ExitCode is nil while it runs.
type Command struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Args       []string `json:"args"`
	Cwd        string   `json:"cwd"`
	SessionID  string   `json:"sessionId"`
	ExitCode   *int     `json:"exitCode"`
	StartedAt  int64    `json:"startedAt"`
	DurationMs *int64   `json:"durationMs,omitempty"`
}

// Source is where a new sandbox's filesystem comes from: {type:"git", url, depth?, revision?, username?,
// password?}, {type:"tarball", url} or {type:"snapshot", snapshotId}.
type Source struct {
	Type       string `json:"type"`
	URL        string `json:"url,omitempty"`
	Depth      int    `json:"depth,omitempty"`
	Revision   string `json:"revision,omitempty"`
	Username   string `json:"username,omitempty"`
	Password   string `json:"password,omitempty"`
	SnapshotID string `json:"snapshotId,omitempty"`
}

// Resources are a sandbox's vCPUs (memory is vcpus x 2048 MB).
type Resources struct {
	VCPUs int `json:"vcpus"`
}

// KeepLastSnapshots keeps only the newest snapshots of a sandbox.
type KeepLastSnapshots struct {
	Count         int    `json:"count"`
	Expiration    *int64 `json:"expiration,omitempty"`
	DeleteEvicted *bool  `json:"deleteEvicted,omitempty"`
}

// CreateSandboxRequest is the body of a create. The client adds projectId. With Runtime set it goes to
// /v2/sandboxes (runtime images), without to /v3/sandboxes (Image, or the default image, or a snapshot source).
type CreateSandboxRequest struct {
	ProjectID          string             `json:"projectId"`
	Name               string             `json:"name,omitempty"`
	Runtime            string             `json:"runtime,omitempty"`
	Image              string             `json:"image,omitempty"`
	Source             *Source            `json:"source,omitempty"`
	Ports              []int              `json:"ports,omitempty"`
	Timeout            int64              `json:"timeout,omitempty"`
	Resources          *Resources         `json:"resources,omitempty"`
	Persistent         *bool              `json:"persistent,omitempty"`
	Env                map[string]string  `json:"env,omitempty"`
	Tags               map[string]string  `json:"tags,omitempty"`
	NetworkPolicy      *NetworkPolicy     `json:"networkPolicy,omitempty"`
	SnapshotExpiration *int64             `json:"snapshotExpiration,omitempty"`
	KeepLastSnapshots  *KeepLastSnapshots `json:"keepLastSnapshots,omitempty"`
}

// UpdateSandboxRequest is the body of a PATCH; nil fields are left unchanged. Env replaces the default env of
// commands ({} clears it; a field of the REST reference, not sent by SDK 3.5.0).
type UpdateSandboxRequest struct {
	Persistent         *bool              `json:"persistent,omitempty"`
	Resources          *Resources         `json:"resources,omitempty"`
	Timeout            *int64             `json:"timeout,omitempty"`
	NetworkPolicy      *NetworkPolicy     `json:"networkPolicy,omitempty"`
	Tags               map[string]string  `json:"tags,omitempty"`
	Ports              *[]int             `json:"ports,omitempty"`
	SnapshotExpiration *int64             `json:"snapshotExpiration,omitempty"`
	KeepLastSnapshots  *KeepLastSnapshots `json:"keepLastSnapshots,omitempty"`
	CurrentSnapshotID  *string            `json:"currentSnapshotId,omitempty"`
	Env                *map[string]string `json:"env,omitempty"`
}

// NetworkPolicy is a request form of the API's network policy: {"mode":"allow-all"}, {"mode":"deny-all"}, or
// {"allow": {domain: [rules]}} where everything not allowed is denied.
type NetworkPolicy struct {
	Mode  string                  `json:"mode,omitempty"`
	Allow map[string][]PolicyRule `json:"allow,omitempty"`
}

// PolicyRule is one rule of an allowed domain; only header transforms (credential injection) are used here.
type PolicyRule struct {
	Transform []PolicyTransform `json:"transform,omitempty"`
}

// PolicyTransform sets headers on requests to the domain (TLS to it is intercepted for this).
type PolicyTransform struct {
	Headers map[string]string `json:"headers"`
}

// Secrets returns the header values of the policy: they are credentials, scrubbed from errors.
func (p *NetworkPolicy) Secrets() []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, rules := range p.Allow {
		for _, r := range rules {
			for _, t := range r.Transform {
				for _, v := range t.Headers {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// CreateSandbox creates a named sandbox. A create that names the sandbox is retried like an idempotent call:
// if an attempt reached the API before failing, the next one gets 409, which the caller resolves by reading
// the sandbox by its name.
func (c *Client) CreateSandbox(ctx context.Context, req CreateSandboxRequest) (*SandboxResponse, error) {
	req.ProjectID = c.projectID
	path := "/v3/sandboxes"
	if req.Runtime != "" {
		path = "/v2/sandboxes"
	}
	var out SandboxResponse
	err := c.doJSON(ctx, request{method: http.MethodPost, path: path, body: req, idempotent: req.Name != "", secrets: req.NetworkPolicy.Secrets()}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetSandbox reads a named sandbox and its current (possibly stopped) session. It never resumes it.
func (c *Client) GetSandbox(ctx context.Context, name string) (*SandboxResponse, error) {
	var out SandboxResponse
	q := url.Values{"projectId": {c.projectID}}
	if err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v2/sandboxes/" + url.PathEscape(name), query: q, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ResumeSandbox reads a named sandbox with resume=true: a stopped one gets a new session (a billed VM),
// restored from its current snapshot when it is persistent.
func (c *Client) ResumeSandbox(ctx context.Context, name string) (*SandboxResponse, error) {
	var out SandboxResponse
	q := url.Values{"projectId": {c.projectID}, "resume": {"true"}}
	if err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v2/sandboxes/" + url.PathEscape(name), query: q, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListOptions filters ListSandboxes.
type ListOptions struct {
	NamePrefix string // sandboxes whose name starts with it (sorted by name)
}

// ListSandboxes lists the project's sandboxes, every page.
func (c *Client) ListSandboxes(ctx context.Context, opts ListOptions) ([]Sandbox, error) {
	var all []Sandbox
	cursor := ""
	for {
		q := url.Values{"project": {c.projectID}, "limit": {"50"}}
		if opts.NamePrefix != "" {
			q.Set("sortBy", "name")
			q.Set("sortOrder", "asc")
			q.Set("namePrefix", opts.NamePrefix)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Sandboxes  []Sandbox `json:"sandboxes"`
			Pagination struct {
				Next *string `json:"next"`
			} `json:"pagination"`
		}
		if err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v2/sandboxes", query: q, idempotent: true}, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Sandboxes...)
		if page.Pagination.Next == nil || *page.Pagination.Next == "" || len(page.Sandboxes) == 0 {
			return all, nil
		}
		cursor = *page.Pagination.Next
	}
}

// ProbeProject lists one sandbox of the project: an error means that the team or project cannot be reached.
func (c *Client) ProbeProject(ctx context.Context) error {
	q := url.Values{"project": {c.projectID}, "limit": {"1"}}
	return c.doJSON(ctx, request{method: http.MethodGet, path: "/v2/sandboxes", query: q, idempotent: true}, nil)
}

// UpdateSandbox changes a named sandbox's settings. Most apply to its next session; the running session's
// timeout and network policy are changed with ExtendTimeout and SetSessionNetworkPolicy.
func (c *Client) UpdateSandbox(ctx context.Context, name string, req UpdateSandboxRequest) (*SandboxResponse, error) {
	var out SandboxResponse
	q := url.Values{"projectId": {c.projectID}}
	var secrets []string
	secrets = append(secrets, req.NetworkPolicy.Secrets()...)
	if err := c.doJSON(ctx, request{method: http.MethodPatch, path: "/v2/sandboxes/" + url.PathEscape(name), query: q, body: req, idempotent: true, secrets: secrets}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSandbox deletes a named sandbox (stopping its session). With deleteOrphanSnapshots its own snapshots
// go too; otherwise they stay until they expire.
func (c *Client) DeleteSandbox(ctx context.Context, name string, deleteOrphanSnapshots bool) error {
	q := url.Values{"projectId": {c.projectID}}
	if deleteOrphanSnapshots {
		q.Set("deleteOrphanSnapshots", "true")
	}
	return c.doJSON(ctx, request{method: http.MethodDelete, path: "/v2/sandboxes/" + url.PathEscape(name), query: q, idempotent: true}, nil)
}

// GetSession reads a session and the routes of its sandbox.
func (c *Client) GetSession(ctx context.Context, id string) (*Session, []Route, error) {
	var out struct {
		Session Session `json:"session"`
		Routes  []Route `json:"routes"`
	}
	if err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v2/sandboxes/sessions/" + url.PathEscape(id), idempotent: true}, &out); err != nil {
		return nil, nil, err
	}
	return &out.Session, out.Routes, nil
}

// StopResponse is the answer of a stop: the session (stopping or stopped) and, for a persistent sandbox, the
// snapshot taken of it.
type StopResponse struct {
	Session  Session   `json:"session"`
	Sandbox  *Sandbox  `json:"sandbox,omitempty"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
}

// StopSession ends a session: its processes are killed; a persistent sandbox snapshots itself.
func (c *Client) StopSession(ctx context.Context, id string) (*StopResponse, error) {
	var out StopResponse
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: "/v2/sandboxes/sessions/" + url.PathEscape(id) + "/stop", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExtendTimeout adds d to a running session's timeout.
func (c *Client) ExtendTimeout(ctx context.Context, id string, d time.Duration) (*Session, error) {
	var out struct {
		Session Session `json:"session"`
	}
	body := map[string]int64{"duration": d.Milliseconds()}
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: "/v2/sandboxes/sessions/" + url.PathEscape(id) + "/extend-timeout", body: body}, &out); err != nil {
		return nil, err
	}
	return &out.Session, nil
}

// SetSessionNetworkPolicy replaces the network policy of a running session.
func (c *Client) SetSessionNetworkPolicy(ctx context.Context, id string, p *NetworkPolicy) (*Session, error) {
	var out struct {
		Session Session `json:"session"`
	}
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: "/v2/sandboxes/sessions/" + url.PathEscape(id) + "/network-policy", body: p, idempotent: true, secrets: p.Secrets()}, &out); err != nil {
		return nil, err
	}
	return &out.Session, nil
}

// CreateSnapshot snapshots a running session, which stops it. expiration: nil = the sandbox's default (30 days
// unless set), 0 = never, otherwise the snapshot's lifetime from its last use.
func (c *Client) CreateSnapshot(ctx context.Context, sessionID string, expiration *time.Duration) (*Snapshot, *Session, error) {
	var body any
	if expiration != nil {
		body = map[string]int64{"expiration": expiration.Milliseconds()}
	}
	var out struct {
		Snapshot Snapshot `json:"snapshot"`
		Session  Session  `json:"session"`
	}
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: "/v2/sandboxes/sessions/" + url.PathEscape(sessionID) + "/snapshot", body: body}, &out); err != nil {
		return nil, nil, err
	}
	return &out.Snapshot, &out.Session, nil
}

// GetSnapshot reads a snapshot.
func (c *Client) GetSnapshot(ctx context.Context, id string) (*Snapshot, error) {
	var out struct {
		Snapshot Snapshot `json:"snapshot"`
	}
	if err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v2/sandboxes/snapshots/" + url.PathEscape(id), idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out.Snapshot, nil
}

// ListSnapshots lists the snapshots taken of a named sandbox, newest first, every page.
func (c *Client) ListSnapshots(ctx context.Context, sandboxName string) ([]Snapshot, error) {
	var all []Snapshot
	cursor := ""
	for {
		q := url.Values{"project": {c.projectID}, "name": {sandboxName}, "limit": {"50"}, "sortOrder": {"desc"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Snapshots  []Snapshot `json:"snapshots"`
			Pagination struct {
				Next *string `json:"next"`
			} `json:"pagination"`
		}
		if err := c.doJSON(ctx, request{method: http.MethodGet, path: "/v2/sandboxes/snapshots", query: q, idempotent: true}, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Snapshots...)
		if page.Pagination.Next == nil || *page.Pagination.Next == "" || len(page.Snapshots) == 0 {
			return all, nil
		}
		cursor = *page.Pagination.Next
	}
}

// DeleteSnapshot deletes a snapshot.
func (c *Client) DeleteSnapshot(ctx context.Context, id string) error {
	return c.doJSON(ctx, request{method: http.MethodDelete, path: "/v2/sandboxes/snapshots/" + url.PathEscape(id), idempotent: true}, nil)
}

// CommandRequest is a command to run. Command is the executable (no shell parsing); Env is merged over the
// sandbox's env; Timeout 0 = none (the session's timeout bounds it).
type CommandRequest struct {
	Command string
	Args    []string
	Cwd     string
	Env     map[string]string
	Timeout time.Duration
	// Logs asks for the output in the stream. Without it only the exit code comes back.
	Logs bool
	// MaxOutput caps the bytes kept of each of stdout and stderr (the rest is read and dropped); 0 = 32 MiB.
	MaxOutput int
}

// CommandResult is a finished command read from its ndjson stream.
type CommandResult struct {
	Command         Command
	ExitCode        int
	Stdout, Stderr  []byte // the text of the log lines, each stream apart
	Truncated       bool
	Duration        time.Duration // as the API measured it
	RequestDuration time.Duration // as the client saw it
}

type commandBody struct {
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Cwd     string            `json:"cwd,omitempty"`
	Env     map[string]string `json:"env"`
	Sudo    bool              `json:"sudo"`
	Wait    bool              `json:"wait,omitempty"`
	Logs    bool              `json:"logs,omitempty"`
	Timeout int64             `json:"timeout,omitempty"`
}

func (r CommandRequest) body(wait bool) commandBody {
	b := commandBody{Command: r.Command, Args: r.Args, Cwd: r.Cwd, Env: r.Env, Wait: wait, Logs: wait && r.Logs}
	if b.Args == nil {
		b.Args = []string{}
	}
	if b.Env == nil {
		b.Env = map[string]string{}
	}
	if r.Timeout > 0 {
		b.Timeout = max(r.Timeout.Milliseconds(), 100)
	}
	return b
}

func envSecrets(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, v := range env {
		out = append(out, v)
	}
	return out
}

// RunCommand runs a command and waits for it, reading the ndjson stream the API answers with: the command,
// then (with Logs) its output lines, then the command with its exit code. An error line in the stream (the
// session went away) is a *StreamError. When ctx ends while the command runs, the command is killed.
func (c *Client) RunCommand(ctx context.Context, sessionID string, req CommandRequest) (*CommandResult, error) {
	start := time.Now()
	path := "/v2/sandboxes/sessions/" + url.PathEscape(sessionID) + "/cmd"
	resp, err := c.do(ctx, request{method: http.MethodPost, path: path, body: req.body(true), secrets: envSecrets(req.Env)})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/x-ndjson" {
		return nil, fmt.Errorf("vercel: POST %s: expected an application/x-ndjson stream, got %q", path, resp.Header.Get("Content-Type"))
	}
	limit := req.MaxOutput
	if limit <= 0 {
		limit = 32 << 20
	}
	res := &CommandResult{}
	var started *Command
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l struct {
			Command *Command        `json:"command"`
			Stream  string          `json:"stream"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("vercel: POST %s: a line of the command stream is not JSON: %w", path, err)
		}
		switch {
		case l.Command != nil && started == nil:
			started = l.Command
		case l.Command != nil:
			if l.Command.ExitCode == nil {
				continue // a progress line; the finished command carries its exit code
			}
			res.Command = *l.Command
			res.ExitCode = *l.Command.ExitCode
			if l.Command.DurationMs != nil {
				res.Duration = time.Duration(*l.Command.DurationMs) * time.Millisecond
			}
			res.RequestDuration = time.Since(start)
			return res, nil
		case l.Stream == "stdout" || l.Stream == "stderr":
			var s string
			if err := json.Unmarshal(l.Data, &s); err != nil {
				return nil, fmt.Errorf("vercel: POST %s: a log line's data is not a string: %w", path, err)
			}
			dst := &res.Stdout
			if l.Stream == "stderr" {
				dst = &res.Stderr
			}
			if room := limit - len(*dst); room > 0 {
				if len(s) > room {
					s, res.Truncated = s[:room], true
				}
				*dst = append(*dst, s...)
			} else {
				res.Truncated = true
			}
		case l.Stream == "error":
			var d struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			_ = json.Unmarshal(l.Data, &d)
			return nil, &StreamError{Code: d.Code, Message: c.scrub(d.Message, envSecrets(req.Env))}
		default:
			return nil, fmt.Errorf("vercel: POST %s: unexpected line in the command stream: %.200s", path, line)
		}
	}
	err = sc.Err()
	if ctx.Err() != nil {
		if started != nil {
			c.killQuietly(sessionID, started.ID)
		}
		return nil, fmt.Errorf("vercel: POST %s: %w", path, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("vercel: POST %s: reading the command stream: %w", path, c.scrubErr(err, nil))
	}
	return nil, fmt.Errorf("vercel: POST %s: the command stream ended before the command finished", path)
}

// killQuietly kills a command whose caller gave up; it has its own short deadline, its errors are of no use.
func (c *Client) killQuietly(sessionID, cmdID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.KillCommand(ctx, sessionID, cmdID, 9)
}

// StartCommand starts a command without waiting for it (exitCode null in the answer).
func (c *Client) StartCommand(ctx context.Context, sessionID string, req CommandRequest) (*Command, error) {
	var out struct {
		Command Command `json:"command"`
	}
	path := "/v2/sandboxes/sessions/" + url.PathEscape(sessionID) + "/cmd"
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: path, body: req.body(false), secrets: envSecrets(req.Env)}, &out); err != nil {
		return nil, err
	}
	return &out.Command, nil
}

// KillCommand sends a signal (a number: 9 = SIGKILL, 15 = SIGTERM) to a running command.
func (c *Client) KillCommand(ctx context.Context, sessionID, cmdID string, signal int) (*Command, error) {
	var out struct {
		Command Command `json:"command"`
	}
	path := "/v2/sandboxes/sessions/" + url.PathEscape(sessionID) + "/cmd/" + url.PathEscape(cmdID) + "/kill"
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: path, body: map[string]int{"signal": signal}, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out.Command, nil
}

// File is a file to write; Path is absolute inside the sandbox.
type File struct {
	Path    string
	Content []byte
	Mode    int64 // 0 = 0644
}

// WriteFiles writes files as the API expects them: a gzip-compressed tar extracted at "/" (header x-cwd), each
// entry named by its absolute path without the leading slash. Parent directories are created.
func (c *Client) WriteFiles(ctx context.Context, sessionID string, files []File) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	now := time.Now()
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/") {
			return fmt.Errorf("vercel: file path %q is not absolute", f.Path)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: mode, Size: int64(len(f.Content)), ModTime: now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("vercel: packing %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Content); err != nil {
			return fmt.Errorf("vercel: packing %s: %w", f.Path, err)
		}
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		return fmt.Errorf("vercel: packing files: %w", err)
	}
	path := "/v2/sandboxes/sessions/" + url.PathEscape(sessionID) + "/fs/write"
	return c.doJSON(ctx, request{
		method: http.MethodPost, path: path, raw: buf.Bytes(), contentType: "application/gzip",
		headers: map[string]string{"x-cwd": "/"}, idempotent: true,
	}, nil)
}

// ErrFileNotFound is returned (wrapped) by ReadFile for a file that does not exist. It wraps fs.ErrNotExist.
var ErrFileNotFound = fmt.Errorf("file not found: %w", fs.ErrNotExist)

// ReadFile reads a file (absolute, or relative to the session's working directory) as raw bytes.
func (c *Client) ReadFile(ctx context.Context, sessionID, path string) ([]byte, error) {
	p := "/v2/sandboxes/sessions/" + url.PathEscape(sessionID) + "/fs/read"
	resp, err := c.do(ctx, request{method: http.MethodPost, path: p, body: map[string]string{"path": path}, idempotent: true})
	if StatusOf(err) == http.StatusNotFound {
		// As the SDK reads it: a 404 of fs/read is a missing file (callers check the session beforehand).
		return nil, fmt.Errorf("vercel: %s: %w", path, ErrFileNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/octet-stream" {
		return nil, fmt.Errorf("vercel: POST %s: expected application/octet-stream, got %q", p, resp.Header.Get("Content-Type"))
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("vercel: POST %s: reading %s: %w", p, path, err)
	}
	if n := resp.Header.Get("Content-Length"); n != "" {
		if want, perr := strconv.Atoi(n); perr == nil && want != len(b) {
			return nil, fmt.Errorf("vercel: POST %s: %s: got %d bytes of %d", p, path, len(b), want)
		}
	}
	return b, nil
}

// Mkdir makes a directory (recursive is sent explicitly: the REST reference and the SDK disagree on its
// default).
func (c *Client) Mkdir(ctx context.Context, sessionID, path string, recursive bool) error {
	p := "/v2/sandboxes/sessions/" + url.PathEscape(sessionID) + "/fs/mkdir"
	return c.doJSON(ctx, request{method: http.MethodPost, path: p, body: map[string]any{"path": path, "recursive": recursive}, idempotent: true}, nil)
}
