package daytonafake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
	"github.com/google/uuid"
)

// Sandbox user, home and per-sandbox maxima of the fake (tier 1).
const (
	User      = "daytona"
	Home      = "/home/daytona"
	maxCPU    = 4
	maxMemory = 8
	maxDisk   = 10
)

// step is a state a resource enters at a time.
type step struct {
	state string
	at    time.Time
}

// machine is a state that moves through queued steps as time passes.
type machine struct {
	state string
	queue []step
}

func (m *machine) advance(now time.Time) {
	for len(m.queue) > 0 && !now.Before(m.queue[0].at) {
		m.state = m.queue[0].state
		m.queue = m.queue[1:]
	}
}

// busy reports a transition in progress: more steps to come, or a transitional state held (SetHold).
func (m *machine) busy() bool { return len(m.queue) > 0 || transitionalStates[m.state] }

var transitionalStates = map[string]bool{
	stCreating: true, stRestoring: true, stDestroying: true, stStarting: true, stStopping: true, stPendingBuild: true,
	stBuildingSnapshot: true, stPullingSnapshot: true, stArchiving: true, stSnapshotting: true,
	volPendingCreate: true, volPendingDelete: true, volDeleting: true, snapPending: true, snapPulling: true,
}

// plan replaces the queue: the states follow each other, one step delay apart, from now.
func (m *machine) plan(now time.Time, delay time.Duration, first string, then ...string) {
	m.state = first
	m.queue = nil
	for i, st := range then {
		m.queue = append(m.queue, step{state: st, at: now.Add(time.Duration(i+1) * delay)})
	}
}

type mount struct {
	VolumeID  string `json:"volumeId"`
	MountPath string `json:"mountPath"`
	Subpath   string `json:"subpath,omitempty"`
}

type sandbox struct {
	machine
	id, name, org    string
	snapshot         string
	buildInfo        map[string]any
	env              map[string]string
	labels           map[string]string
	public           bool
	blockAll         bool
	allowList        string
	domainAllowList  string
	target           string
	cpu, mem, disk   int
	autoStop         int
	autoArchive      int
	autoDelete       int
	volumes          []mount
	desired          string
	errorReason      string
	createdAt        time.Time
	updatedAt        time.Time
	dir              string // the sandbox's root on the host
	previewToken     string
	procsMu          sync.Mutex
	procs            map[*exec.Cmd]bool
	destroyedForever bool
	held             bool // stays in its transitional state until Release
}

func (sb *sandbox) home() string { return filepath.Join(sb.dir, filepath.FromSlash(Home)) }

func (sb *sandbox) killAll() {
	sb.procsMu.Lock()
	defer sb.procsMu.Unlock()
	for c := range sb.procs {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
}

var htmlOrURL = regexp.MustCompile(`<[^>]*>|://|[\x00-\x1f\x7f]`)

// mountPathOK applies the API's mount path rules.
func mountPathOK(p string) string {
	if !strings.HasPrefix(p, "/") || p == "/" || strings.Contains(p, "//") {
		return "Invalid mount path " + p + ": must be an absolute path other than / without //"
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p[1:], "/"), "/") {
		if seg == "." || seg == ".." {
			return "Invalid mount path " + p + ": must not contain . or .. segments"
		}
	}
	for _, r := range []string{"/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin", "/lib", "/lib64"} {
		if p == r || strings.HasPrefix(p, r+"/") {
			return "Invalid mount path " + p + ": cannot mount under " + r
		}
	}
	return ""
}

type createSandboxBody struct {
	Name                *string           `json:"name"`
	Snapshot            *string           `json:"snapshot"`
	BuildInfo           map[string]any    `json:"buildInfo"`
	User                *string           `json:"user"`
	Env                 map[string]string `json:"env"`
	Labels              map[string]string `json:"labels"`
	Public              *bool             `json:"public"`
	Target              *string           `json:"target"`
	CPU                 *int              `json:"cpu"`
	GPU                 *int              `json:"gpu"`
	Memory              *int              `json:"memory"`
	Disk                *int              `json:"disk"`
	AutoStopInterval    *int              `json:"autoStopInterval"`
	AutoArchiveInterval *int              `json:"autoArchiveInterval"`
	AutoDeleteInterval  *int              `json:"autoDeleteInterval"`
	Volumes             []mount           `json:"volumes"`
	NetworkBlockAll     *bool             `json:"networkBlockAll"`
	NetworkAllowList    *string           `json:"networkAllowList"`
	DomainAllowList     *string           `json:"domainAllowList"`
}

func (s *Server) createSandbox(r *http.Request) answer {
	var b createSandboxBody
	if a, ok := decodeBody(r, &b); !ok {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceAll(now)
	if b.Snapshot != nil && *b.Snapshot != "" && b.BuildInfo != nil {
		return mainError(r, http.StatusBadRequest, "Cannot specify both snapshot and buildInfo")
	}
	hasResources := b.CPU != nil || b.Memory != nil || b.Disk != nil || b.GPU != nil
	var snap *snapshot
	if b.BuildInfo == nil {
		if hasResources {
			return mainError(r, http.StatusBadRequest, "Cannot specify Sandbox resources when using a snapshot")
		}
		ref := defaultSnapshotName
		if b.Snapshot != nil && *b.Snapshot != "" {
			ref = *b.Snapshot
		}
		snap = s.findSnapshot(ref)
		if snap == nil {
			return mainError(r, http.StatusBadRequest, fmt.Sprintf("Snapshot %s not found. Did you add it through the Daytona Dashboard?", ref))
		}
		if snap.state != snapActive {
			return mainError(r, http.StatusBadRequest, fmt.Sprintf("Snapshot %s is %s", ref, snap.state))
		}
	} else if df, _ := b.BuildInfo["dockerfileContent"].(string); strings.TrimSpace(df) == "" {
		return mainError(r, http.StatusBadRequest, "buildInfo.dockerfileContent must be a string")
	}
	cpu, mem, disk := 1, 1, 3
	if snap != nil {
		cpu, mem, disk = snap.cpu, snap.mem, snap.disk
	}
	for _, lim := range []struct {
		v   *int
		dst *int
		max int
		n   string
	}{{b.CPU, &cpu, maxCPU, "CPU"}, {b.Memory, &mem, maxMemory, "Memory"}, {b.Disk, &disk, maxDisk, "Disk"}} {
		if lim.v == nil {
			continue
		}
		if *lim.v < 1 || *lim.v > lim.max {
			return mainError(r, http.StatusBadRequest, fmt.Sprintf("%s request %d exceeds maximum allowed per sandbox (%d)", lim.n, *lim.v, lim.max))
		}
		*lim.dst = *lim.v
	}
	id := uuid.NewString()
	name := id
	if b.Name != nil && *b.Name != "" {
		name = *b.Name
		if htmlOrURL.MatchString(name) {
			return mainError(r, http.StatusBadRequest, "Sandbox name must not contain HTML tags, URLs or control characters")
		}
		for _, o := range s.sandboxes {
			if o.name == name && o.state != stDestroyed {
				return mainError(r, http.StatusConflict, fmt.Sprintf("Sandbox with name %s already exists", name))
			}
		}
	}
	var mounts []mount
	for _, v := range b.Volumes {
		if v.VolumeID == "" {
			return mainError(r, http.StatusBadRequest, "volumes.volumeId must be a string")
		}
		vol := s.findVolume(v.VolumeID)
		if vol == nil {
			return mainError(r, http.StatusNotFound, fmt.Sprintf("Volume '%s' not found", v.VolumeID))
		}
		if vol.state != volReady {
			return mainError(r, http.StatusBadRequest, fmt.Sprintf("Volume '%s' is not in a ready state. Current state: %s", vol.name, vol.state))
		}
		if msg := mountPathOK(v.MountPath); msg != "" {
			return mainError(r, http.StatusBadRequest, msg)
		}
		mounts = append(mounts, mount{VolumeID: vol.id, MountPath: v.MountPath, Subpath: v.Subpath})
	}
	sb := &sandbox{
		id: id, name: name, org: "org-fake", env: b.Env, labels: b.Labels, buildInfo: b.BuildInfo,
		target: "us", cpu: cpu, mem: mem, disk: disk, autoStop: 15, autoArchive: 10080, autoDelete: -1,
		volumes: mounts, desired: stStarted, createdAt: now, updatedAt: now, procs: map[*exec.Cmd]bool{},
		dir: filepath.Join(s.root, "sandboxes", id), previewToken: randToken(),
	}
	if sb.env == nil {
		sb.env = map[string]string{}
	}
	if snap != nil {
		sb.snapshot = snap.name
	}
	if b.Public != nil {
		sb.public = *b.Public
	}
	if b.Target != nil && *b.Target != "" {
		sb.target = *b.Target
	}
	if b.NetworkBlockAll != nil {
		sb.blockAll = *b.NetworkBlockAll
	}
	if b.NetworkAllowList != nil {
		sb.allowList = *b.NetworkAllowList
	}
	if b.DomainAllowList != nil {
		sb.domainAllowList = *b.DomainAllowList
	}
	if b.AutoStopInterval != nil {
		sb.autoStop = *b.AutoStopInterval
	}
	if b.AutoArchiveInterval != nil {
		sb.autoArchive = *b.AutoArchiveInterval
	}
	if b.AutoDeleteInterval != nil {
		sb.autoDelete = *b.AutoDeleteInterval
		if sb.autoDelete < 0 {
			sb.autoDelete = -1
		}
	}
	if err := s.makeRoot(sb, snap); err != nil {
		return mainError(r, http.StatusInternalServerError, "An unexpected error occurred.")
	}
	d := s.opts.StepDelay
	sb.held = s.hold != nil && s.hold(sb.labels)
	switch {
	case sb.held:
		sb.plan(now, d, stCreating, stStarting)
	case sb.buildInfo != nil:
		sb.plan(now, d, stPendingBuild, stBuildingSnapshot, stStarting, stStarted)
		s.builds++
	default:
		sb.plan(now, d, stCreating, stStarting, stStarted)
	}
	s.sandboxes[id] = sb
	return jsonAnswer(http.StatusOK, s.sandboxDTO(sb, true))
}

// makeRoot lays out the sandbox's directory: home (a copy of the snapshot's files), tmp, and the volumes'
// mount points as links to the volumes' directories.
func (s *Server) makeRoot(sb *sandbox, snap *snapshot) error {
	if err := os.MkdirAll(sb.home(), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(sb.dir, "tmp"), 0o755); err != nil {
		return err
	}
	if snap != nil && snap.dir != "" {
		if err := harness.CopyTree(snap.dir, sb.home(), false); err != nil {
			return err
		}
	}
	for _, m := range sb.volumes {
		vol := s.volumes[m.VolumeID]
		target := vol.dir
		if m.Subpath != "" {
			target = filepath.Join(vol.dir, filepath.FromSlash(path.Clean("/"+m.Subpath)))
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		}
		link := filepath.Join(sb.dir, filepath.FromSlash(m.MountPath))
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	return nil
}

// advanceAll moves every resource's state to now (called with s.mu held).
func (s *Server) advanceAll(now time.Time) {
	for _, sb := range s.sandboxes {
		s.advanceSandbox(sb, now)
	}
	for _, v := range s.volumes {
		v.advance(now)
	}
	for id, sn := range s.snapshots {
		sn.advance(now)
		if sn.state == snapGone {
			delete(s.snapshots, id)
		}
	}
}

func (s *Server) advanceSandbox(sb *sandbox, now time.Time) {
	sb.advance(now)
	if sb.state == stDestroyed && !sb.destroyedForever {
		sb.destroyedForever = true
		sb.killAll()
		_ = os.RemoveAll(sb.dir)
	}
}

// lookup finds a live sandbox by id or name (with s.mu held); destroyed ones are not found.
func (s *Server) lookup(idOrName string) *sandbox {
	if sb, ok := s.sandboxes[idOrName]; ok && sb.state != stDestroyed {
		return sb
	}
	for _, sb := range s.sandboxes {
		if sb.name == idOrName && sb.state != stDestroyed {
			return sb
		}
	}
	return nil
}

func notFoundSandbox(r *http.Request, idOrName string) answer {
	return mainError(r, http.StatusNotFound, fmt.Sprintf("Sandbox with ID or name %s not found", idOrName))
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sandboxDTO renders a sandbox; list items (full = false) lack env, volumes and buildInfo.
func (s *Server) sandboxDTO(sb *sandbox, full bool) map[string]any {
	var labels any
	if len(sb.labels) > 0 {
		labels = sb.labels
	}
	m := map[string]any{
		"id": sb.id, "organizationId": sb.org, "name": sb.name, "snapshot": nullable(sb.snapshot), "user": User,
		"labels": labels, "public": sb.public, "networkBlockAll": sb.blockAll,
		"networkAllowList": nullable(sb.allowList), "domainAllowList": nullable(sb.domainAllowList),
		"target": sb.target, "cpu": sb.cpu, "gpu": 0, "memory": sb.mem, "disk": sb.disk,
		"state": sb.state, "desiredState": sb.desired, "errorReason": nullable(sb.errorReason), "recoverable": false,
		"autoStopInterval": sb.autoStop, "autoArchiveInterval": sb.autoArchive, "autoDeleteInterval": sb.autoDelete,
		"createdAt": sb.createdAt.UTC().Format(time.RFC3339Nano), "updatedAt": sb.updatedAt.UTC().Format(time.RFC3339Nano),
		"toolboxProxyUrl": s.ToolboxURL(), "daemonVersion": nil, "sandboxClass": "container",
	}
	if full {
		m["env"] = sb.env
		vols := sb.volumes
		if vols == nil {
			vols = []mount{}
		}
		m["volumes"] = vols
		if sb.buildInfo != nil {
			m["buildInfo"] = sb.buildInfo
		}
	}
	return m
}

func (s *Server) getSandbox(r *http.Request, idOrName string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	sb := s.lookup(idOrName)
	if sb == nil {
		return notFoundSandbox(r, idOrName)
	}
	return jsonAnswer(http.StatusOK, s.sandboxDTO(sb, true))
}

func (s *Server) listSandboxes(r *http.Request) answer {
	q := r.URL.Query()
	var want map[string]string
	if raw := q.Get("labels"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			return mainError(r, http.StatusBadRequest, "Invalid labels JSON format")
		}
	}
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			return mainError(r, http.StatusBadRequest, "limit must not be greater than 100, limit must not be less than 1")
		}
		limit = n
	}
	offset := 0
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
		if err != nil || err2 != nil || n < 0 {
			return mainError(r, http.StatusBadRequest, "Invalid cursor")
		}
		offset = n
	}
	states := q["states"]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	var match []*sandbox
	for _, sb := range s.sandboxes {
		if sb.state == stDestroyed {
			continue
		}
		if len(states) > 0 && !contains(states, sb.state) {
			continue
		}
		ok := true
		for k, v := range want {
			if sb.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			match = append(match, sb)
		}
	}
	sort.Slice(match, func(i, j int) bool {
		if !match[i].createdAt.Equal(match[j].createdAt) {
			return match[i].createdAt.After(match[j].createdAt)
		}
		return match[i].id < match[j].id
	})
	items := []any{}
	for i := offset; i < len(match) && i < offset+limit; i++ {
		items = append(items, s.sandboxDTO(match[i], false))
	}
	var next any
	if offset+limit < len(match) {
		next = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset+limit)))
	}
	return jsonAnswer(http.StatusOK, map[string]any{"items": items, "nextCursor": next})
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func (s *Server) sandboxAction(r *http.Request, idOrName, action string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceAll(now)
	sb := s.lookup(idOrName)
	if sb == nil {
		return notFoundSandbox(r, idOrName)
	}
	d := s.opts.StepDelay
	held := sb.held
	switch action {
	case "start":
		switch {
		case sb.state == stStarted && !sb.busy():
			return jsonAnswer(http.StatusOK, s.sandboxDTO(sb, true))
		case sb.busy():
			return mainError(r, http.StatusConflict, "Sandbox state change in progress")
		case sb.state == stError || sb.state == stBuildFailed:
			return mainError(r, http.StatusBadRequest, "Sandbox is in an errored state")
		case sb.state == stStopped && held:
			sb.plan(now, d, stStarting)
		case sb.state == stStopped:
			sb.plan(now, d, stStarting, stStarted)
		case sb.state == stArchived:
			sb.plan(now, d, stRestoring, stStarting, stStarted)
		default:
			return mainError(r, http.StatusBadRequest, "Sandbox is not in valid state")
		}
		sb.desired = stStarted
		sb.previewToken = randToken()
	case "stop":
		switch {
		case sb.busy():
			return mainError(r, http.StatusConflict, "Sandbox state change in progress")
		case sb.state != stStarted:
			return mainError(r, http.StatusBadRequest, "Sandbox is not in a stoppable state")
		}
		sb.killAll()
		if sb.autoDelete == 0 {
			s.destroy(sb, now)
		} else {
			sb.plan(now, d, stStopping, stStopped)
			sb.desired = stStopped
		}
	case "archive":
		switch {
		case sb.busy():
			return mainError(r, http.StatusConflict, "Sandbox state change in progress")
		case sb.state != stStopped:
			return mainError(r, http.StatusBadRequest, "Sandbox is not stopped")
		case sb.autoDelete == 0:
			return mainError(r, http.StatusBadRequest, "Ephemeral sandboxes cannot be archived")
		}
		sb.plan(now, d, stArchiving, stArchived)
		sb.desired = stArchived
	}
	sb.updatedAt = now
	return jsonAnswer(http.StatusOK, s.sandboxDTO(sb, true))
}

// destroy starts a sandbox's deletion: renamed at once, destroying, then destroyed (with s.mu held).
func (s *Server) destroy(sb *sandbox, now time.Time) {
	sb.killAll()
	sb.name = fmt.Sprintf("DESTROYED_%s_%d", sb.name, now.UnixMilli())
	sb.desired = stDestroyed
	sb.plan(now, s.opts.StepDelay, stDestroying, stDestroyed)
}

func (s *Server) deleteSandbox(r *http.Request, idOrName string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceAll(now)
	sb := s.lookup(idOrName)
	if sb == nil {
		return notFoundSandbox(r, idOrName)
	}
	if sb.state == stDestroying {
		return jsonAnswer(http.StatusOK, s.sandboxDTO(sb, true))
	}
	if sb.busy() && sb.state != stPendingBuild {
		return mainError(r, http.StatusConflict, "Sandbox state change in progress")
	}
	s.destroy(sb, now)
	return jsonAnswer(http.StatusOK, s.sandboxDTO(sb, true))
}

func (s *Server) putLabels(r *http.Request, idOrName string) answer {
	var b struct {
		Labels map[string]string `json:"labels"`
	}
	if a, ok := decodeBody(r, &b); !ok {
		return a
	}
	if b.Labels == nil {
		return mainError(r, http.StatusBadRequest, "labels must be an object")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	sb := s.lookup(idOrName)
	if sb == nil {
		return notFoundSandbox(r, idOrName)
	}
	sb.labels = b.Labels
	sb.updatedAt = time.Now()
	return jsonAnswer(http.StatusOK, map[string]any{"labels": sb.labels})
}

func (s *Server) setSetting(r *http.Request, idOrName, what, value string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	sb := s.lookup(idOrName)
	if sb == nil {
		return notFoundSandbox(r, idOrName)
	}
	if what == "public" {
		b, err := strconv.ParseBool(value)
		if err != nil {
			return mainError(r, http.StatusBadRequest, "Validation failed (boolean string is expected)")
		}
		sb.public = b
	} else {
		n, err := strconv.Atoi(value)
		if err != nil {
			return mainError(r, http.StatusBadRequest, "Validation failed (numeric string is expected)")
		}
		switch what {
		case "autostop":
			if n < 0 {
				return mainError(r, http.StatusBadRequest, "Auto-stop interval must be a non-negative integer")
			}
			sb.autoStop = n
		case "autoarchive":
			if n < 0 {
				return mainError(r, http.StatusBadRequest, "Auto-archive interval must be a non-negative integer")
			}
			sb.autoArchive = n
		case "autodelete":
			if n < 0 {
				n = -1
			}
			sb.autoDelete = n
		}
	}
	sb.updatedAt = time.Now()
	return jsonAnswer(http.StatusCreated, s.sandboxDTO(sb, true))
}

func (s *Server) networkSettings(r *http.Request, idOrName string) answer {
	var b struct {
		NetworkBlockAll  *bool   `json:"networkBlockAll"`
		NetworkAllowList *string `json:"networkAllowList"`
		DomainAllowList  *string `json:"domainAllowList"`
	}
	if a, ok := decodeBody(r, &b); !ok {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	sb := s.lookup(idOrName)
	if sb == nil {
		return notFoundSandbox(r, idOrName)
	}
	if sb.state != stStarted || sb.busy() {
		return mainError(r, http.StatusBadRequest, "Sandbox is not started")
	}
	if b.NetworkBlockAll != nil {
		sb.blockAll = *b.NetworkBlockAll
	}
	if b.NetworkAllowList != nil {
		sb.allowList = *b.NetworkAllowList
	}
	if b.DomainAllowList != nil {
		sb.domainAllowList = *b.DomainAllowList
	}
	return jsonAnswer(http.StatusOK, s.sandboxDTO(sb, true))
}

func (s *Server) toolboxProxyURL(r *http.Request, idOrName string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookup(idOrName) == nil {
		return notFoundSandbox(r, idOrName)
	}
	return jsonAnswer(http.StatusOK, map[string]string{"url": s.ToolboxURL()})
}

func (s *Server) previewURL(r *http.Request, idOrName, portStr string) answer {
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return mainError(r, http.StatusBadRequest, "Invalid port")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.lookup(idOrName)
	if sb == nil {
		return notFoundSandbox(r, idOrName)
	}
	return jsonAnswer(http.StatusOK, map[string]any{
		"sandboxId": sb.id, "url": fmt.Sprintf("https://%d-%s.proxy.daytona.fake", port, sb.id), "token": sb.previewToken,
	})
}

// SandboxState returns a sandbox's current state ("" when unknown).
func (s *Server) SandboxState(idOrName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	if sb, ok := s.sandboxes[idOrName]; ok {
		return sb.state
	}
	if sb := s.lookup(idOrName); sb != nil {
		return sb.state
	}
	return ""
}

// SandboxEnv returns a sandbox's env as Daytona keeps it (nil when unknown), for tests.
func (s *Server) SandboxEnv(idOrName string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb := s.lookup(idOrName); sb != nil {
		out := map[string]string{}
		for k, v := range sb.env {
			out[k] = v
		}
		return out
	}
	return nil
}

// DeleteSandboxOutOfBand destroys a sandbox at once, as someone deleting it outside the client would.
func (s *Server) DeleteSandboxOutOfBand(idOrName string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.lookup(idOrName)
	if sb == nil {
		return false
	}
	s.destroy(sb, time.Now())
	sb.queue = nil
	sb.state = stDestroyed
	s.advanceSandbox(sb, time.Now())
	return true
}

// SandboxInfo is what tests see of a sandbox that is not destroyed.
type SandboxInfo struct {
	ID, Name, State string
	Labels          map[string]string
}

// LiveSandboxes returns the sandboxes that are not destroyed (destroying ones included: they still exist), sorted
// by id: what someone listing the service after terraform destroy would see.
func (s *Server) LiveSandboxes() []SandboxInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	var out []SandboxInfo
	for _, sb := range s.sandboxes {
		if sb.state == stDestroyed {
			continue
		}
		labels := make(map[string]string, len(sb.labels))
		for k, v := range sb.labels {
			labels[k] = v
		}
		out = append(out, SandboxInfo{ID: sb.id, Name: sb.name, State: sb.state, Labels: labels})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LiveSandboxNames returns the names of the sandboxes that are not destroyed (a deleting one included), sorted:
// what a sweep or a kill test expects to be empty once everything is destroyed.
func (s *Server) LiveSandboxNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	var out []string
	for _, sb := range s.sandboxes {
		if sb.state != stDestroyed {
			out = append(out, sb.name)
		}
	}
	sort.Strings(out)
	return out
}
