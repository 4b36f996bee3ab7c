package daytonafake

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
	"github.com/google/uuid"
)

// States the fake uses (the API's enums).
const (
	stCreating         = "creating"
	stRestoring        = "restoring"
	stDestroyed        = "destroyed"
	stDestroying       = "destroying"
	stStarted          = "started"
	stStopped          = "stopped"
	stStarting         = "starting"
	stStopping         = "stopping"
	stError            = "error"
	stBuildFailed      = "build_failed"
	stPendingBuild     = "pending_build"
	stBuildingSnapshot = "building_snapshot"
	stPullingSnapshot  = "pulling_snapshot"
	stArchived         = "archived"
	stArchiving        = "archiving"
	stSnapshotting     = "snapshotting"

	volPendingCreate = "pending_create"
	volCreating      = "creating"
	volReady         = "ready"
	volPendingDelete = "pending_delete"
	volDeleting      = "deleting"
	volDeleted       = "deleted"

	snapPending  = "pending"
	snapPulling  = "pulling"
	snapActive   = "active"
	snapInactive = "inactive"
	snapRemoving = "removing"
	snapGone     = "-gone-" // internal: removed from the map on the next advance
)

// defaultSnapshotName is the general snapshot sandboxes start from when the request names none.
const defaultSnapshotName = "daytonaio/sandbox:0.4.3"

func randToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- volumes ----

type volume struct {
	machine
	id, name  string
	createdAt time.Time
	updatedAt time.Time
	dir       string
}

func (s *Server) findVolume(idOrName string) *volume {
	if v, ok := s.volumes[idOrName]; ok && v.state != volDeleted {
		return v
	}
	for _, v := range s.volumes {
		if v.name == idOrName && v.state != volDeleted {
			return v
		}
	}
	return nil
}

func volumeDTO(v *volume) map[string]any {
	return map[string]any{
		"id": v.id, "name": v.name, "organizationId": "org-fake", "state": v.state,
		"createdAt": v.createdAt.UTC().Format(time.RFC3339Nano), "updatedAt": v.updatedAt.UTC().Format(time.RFC3339Nano),
		"lastUsedAt": nil, "errorReason": nil,
	}
}

func (s *Server) createVolume(r *http.Request) answer {
	var b struct {
		Name *string `json:"name"`
	}
	if a, ok := decodeBody(r, &b); !ok {
		return a
	}
	if b.Name == nil {
		return mainError(r, http.StatusBadRequest, "name must be a string")
	}
	name := *b.Name
	if htmlOrURL.MatchString(name) {
		return mainError(r, http.StatusBadRequest, "Volume name must not contain HTML tags, URLs or control characters")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceAll(now)
	id := uuid.NewString()
	if name == "" {
		name = id
	}
	live := 0
	for _, v := range s.volumes {
		if v.state == volDeleted {
			continue
		}
		live++
		if v.name == name {
			return mainError(r, http.StatusBadRequest, fmt.Sprintf("Volume with name %s already exists", name))
		}
	}
	if live >= 100 {
		return mainError(r, http.StatusBadRequest, "Volume quota exceeded. Maximum allowed: 100")
	}
	v := &volume{id: id, name: name, createdAt: now, updatedAt: now, dir: filepath.Join(s.root, "volumes", id)}
	if err := os.MkdirAll(v.dir, 0o755); err != nil {
		return mainError(r, http.StatusInternalServerError, "An unexpected error occurred.")
	}
	v.plan(now, s.opts.StepDelay, volPendingCreate, volCreating, volReady)
	s.volumes[id] = v
	return jsonAnswer(http.StatusOK, volumeDTO(v))
}

func (s *Server) getVolume(r *http.Request, key string, byName bool) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	if byName {
		if v := s.findVolume(key); v != nil && v.name == key {
			return jsonAnswer(http.StatusOK, volumeDTO(v))
		}
		return mainError(r, http.StatusNotFound, fmt.Sprintf("Volume with name %s not found", key))
	}
	if v, ok := s.volumes[key]; ok { // deleted volumes stay readable by id
		return jsonAnswer(http.StatusOK, volumeDTO(v))
	}
	return mainError(r, http.StatusNotFound, fmt.Sprintf("Volume with ID %s not found", key))
}

func (s *Server) listVolumes(r *http.Request) answer {
	withDeleted := r.URL.Query().Get("includeDeleted") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	list := []any{}
	ids := make([]string, 0, len(s.volumes))
	for id := range s.volumes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return s.volumes[ids[i]].createdAt.Before(s.volumes[ids[j]].createdAt) })
	for _, id := range ids {
		if v := s.volumes[id]; withDeleted || v.state != volDeleted {
			list = append(list, volumeDTO(v))
		}
	}
	return jsonAnswer(http.StatusOK, list)
}

func (s *Server) deleteVolume(r *http.Request, id string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceAll(now)
	v, ok := s.volumes[id]
	if !ok || v.state == volDeleted {
		return mainError(r, http.StatusNotFound, fmt.Sprintf("Volume with ID %s not found", id))
	}
	if v.state != volReady && v.state != stError {
		return mainError(r, http.StatusBadRequest, fmt.Sprintf("Volume cannot be deleted in state %s", v.state))
	}
	var users []string
	for _, sb := range s.sandboxes {
		if sb.state == stDestroyed {
			continue
		}
		for _, m := range sb.volumes {
			if m.VolumeID == v.id {
				users = append(users, sb.name)
			}
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return mainError(r, http.StatusConflict, fmt.Sprintf("Volume cannot be deleted because it is in use by one or more sandboxes (e.g. %s)", users[0]))
	}
	v.plan(now, s.opts.StepDelay, volPendingDelete, volDeleting, volDeleted)
	v.updatedAt = now
	return answer{status: http.StatusOK, header: http.Header{}}
}

// VolumeState returns a volume's state ("" when unknown).
func (s *Server) VolumeState(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	if v, ok := s.volumes[id]; ok {
		return v.state
	}
	return ""
}

// ---- snapshots ----

type snapshot struct {
	machine
	id, name  string
	general   bool
	imageName string
	cpu, mem  int
	disk      int
	source    string
	createdAt time.Time
	dir       string // files sandboxes created from it start with ("" = none)
}

var snapshotNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.\-:]+(/[a-zA-Z0-9_.\-:]+)*$`)

func (s *Server) addDefaultSnapshot() {
	now := time.Now()
	sn := &snapshot{id: uuid.NewString(), name: defaultSnapshotName, general: true, imageName: defaultSnapshotName,
		cpu: 1, mem: 1, disk: 3, createdAt: now}
	sn.state = snapActive
	s.snapshots[sn.id] = sn
}

func (s *Server) findSnapshot(idOrName string) *snapshot {
	if sn, ok := s.snapshots[idOrName]; ok {
		return sn
	}
	for _, sn := range s.snapshots {
		if sn.name == idOrName {
			return sn
		}
	}
	return nil
}

func snapshotDTO(sn *snapshot) map[string]any {
	return map[string]any{
		"id": sn.id, "organizationId": "org-fake", "general": sn.general, "name": sn.name, "imageName": sn.imageName,
		"state": sn.state, "size": nil, "entrypoint": nil, "cpu": sn.cpu, "gpu": 0, "mem": sn.mem, "disk": sn.disk,
		"errorReason": nil, "createdAt": sn.createdAt.UTC().Format(time.RFC3339Nano),
		"updatedAt": sn.createdAt.UTC().Format(time.RFC3339Nano), "lastUsedAt": nil,
		"sourceSandboxId": nullable(sn.source), "regionIds": []string{"us"},
	}
}

func (s *Server) createSnapshot(r *http.Request) answer {
	var b struct {
		Name      *string        `json:"name"`
		ImageName *string        `json:"imageName"`
		BuildInfo map[string]any `json:"buildInfo"`
		CPU       *int           `json:"cpu"`
		Memory    *int           `json:"memory"`
		Disk      *int           `json:"disk"`
	}
	if a, ok := decodeBody(r, &b); !ok {
		return a
	}
	if b.Name == nil || !snapshotNameRE.MatchString(*b.Name) {
		return mainError(r, http.StatusBadRequest, "name must be a valid snapshot name")
	}
	switch {
	case b.ImageName != nil && b.BuildInfo != nil:
		return mainError(r, http.StatusBadRequest, "Cannot specify both imageName and buildInfo")
	case b.ImageName == nil && b.BuildInfo == nil:
		return mainError(r, http.StatusBadRequest, "imageName must be a string")
	case b.ImageName != nil && strings.HasSuffix(*b.ImageName, ":latest"):
		return mainError(r, http.StatusBadRequest, `Images with tag ":latest" are not allowed`)
	case b.ImageName != nil && !strings.Contains(*b.ImageName, "@sha256:") && !strings.Contains(lastSegment(*b.ImageName), ":"):
		return mainError(r, http.StatusBadRequest, fmt.Sprintf("Image %s must include a tag or a digest", *b.ImageName))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceAll(now)
	if s.findSnapshot(*b.Name) != nil {
		return mainError(r, http.StatusConflict, fmt.Sprintf("Snapshot with name %q already exists for this organization", *b.Name))
	}
	sn := &snapshot{id: uuid.NewString(), name: *b.Name, cpu: 1, mem: 1, disk: 3, createdAt: now}
	if b.ImageName != nil {
		sn.imageName = *b.ImageName
	}
	for _, p := range []struct {
		v   *int
		dst *int
	}{{b.CPU, &sn.cpu}, {b.Memory, &sn.mem}, {b.Disk, &sn.disk}} {
		if p.v != nil {
			*p.dst = *p.v
		}
	}
	sn.plan(now, s.opts.StepDelay, snapPending, snapPulling, snapActive)
	s.snapshots[sn.id] = sn
	s.builds++
	return jsonAnswer(http.StatusOK, snapshotDTO(sn))
}

func lastSegment(image string) string {
	if i := strings.LastIndex(image, "/"); i >= 0 {
		return image[i+1:]
	}
	return image
}

func (s *Server) getSnapshot(r *http.Request, idOrName string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	if sn := s.findSnapshot(idOrName); sn != nil {
		return jsonAnswer(http.StatusOK, snapshotDTO(sn))
	}
	return mainError(r, http.StatusNotFound, fmt.Sprintf("Snapshot %s not found", idOrName))
}

func (s *Server) listSnapshots(r *http.Request) answer {
	q := r.URL.Query()
	page, limit := 1, 100
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return mainError(r, http.StatusBadRequest, "page must not be less than 1")
		}
		page = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return mainError(r, http.StatusBadRequest, "limit must not be less than 1")
		}
		limit = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	var all []*snapshot
	for _, sn := range s.snapshots {
		if name := q.Get("name"); name != "" && !strings.Contains(sn.name, name) {
			continue
		}
		all = append(all, sn)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	items := []any{}
	for i := (page - 1) * limit; i < len(all) && i < page*limit; i++ {
		items = append(items, snapshotDTO(all[i]))
	}
	return jsonAnswer(http.StatusOK, map[string]any{"items": items, "total": len(all), "page": page, "totalPages": (len(all) + limit - 1) / limit})
}

func (s *Server) deleteSnapshot(r *http.Request, id string) answer {
	if _, err := uuid.Parse(id); err != nil {
		return mainError(r, http.StatusBadRequest, "Validation failed (uuid is expected)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceAll(now)
	sn, ok := s.snapshots[id]
	if !ok {
		return mainError(r, http.StatusNotFound, fmt.Sprintf("Snapshot %s not found", id))
	}
	if sn.general {
		return mainError(r, http.StatusForbidden, "You cannot delete a general snapshot")
	}
	if sn.state != snapRemoving {
		sn.plan(now, s.opts.StepDelay, snapRemoving, snapGone)
		if sn.dir != "" {
			_ = os.RemoveAll(sn.dir)
		}
	}
	return answer{status: http.StatusOK, header: http.Header{}}
}

func (s *Server) activateSnapshot(r *http.Request, id string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	sn, ok := s.snapshots[id]
	if !ok {
		return mainError(r, http.StatusNotFound, fmt.Sprintf("Snapshot %s not found", id))
	}
	switch sn.state {
	case snapActive:
		return mainError(r, http.StatusBadRequest, fmt.Sprintf("Snapshot %s is already active", id))
	case snapInactive:
		sn.state = snapActive
		return jsonAnswer(http.StatusOK, snapshotDTO(sn))
	}
	return mainError(r, http.StatusBadRequest, fmt.Sprintf("Snapshot %s cannot be activated - it is in %s state", id, sn.state))
}

// snapshotSandbox snapshots a sandbox's files (its home) under a new snapshot name.
func (s *Server) snapshotSandbox(r *http.Request, idOrName string) answer {
	var b struct {
		Name          *string `json:"name"`
		IncludeMemory *bool   `json:"includeMemory"`
	}
	if a, ok := decodeBody(r, &b); !ok {
		return a
	}
	if b.Name == nil || !snapshotNameRE.MatchString(*b.Name) {
		return mainError(r, http.StatusBadRequest, "name must be a valid snapshot name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceAll(now)
	sb := s.lookup(idOrName)
	if sb == nil {
		return notFoundSandbox(r, idOrName)
	}
	if sb.busy() {
		return mainError(r, http.StatusConflict, "Sandbox state change in progress")
	}
	if sb.state != stStarted && sb.state != stStopped {
		return mainError(r, http.StatusBadRequest, "Sandbox must be started or stopped to create a snapshot")
	}
	if s.findSnapshot(*b.Name) != nil {
		return mainError(r, http.StatusConflict, fmt.Sprintf("Snapshot with name %q already exists for this organization", *b.Name))
	}
	sn := &snapshot{id: uuid.NewString(), name: *b.Name, cpu: sb.cpu, mem: sb.mem, disk: sb.disk, source: sb.id,
		createdAt: now, dir: filepath.Join(s.root, "snapshots", uuid.NewString())}
	if err := harness.CopyTree(sb.home(), sn.dir, false); err != nil {
		return mainError(r, http.StatusInternalServerError, "An unexpected error occurred.")
	}
	sn.plan(now, s.opts.StepDelay, snapPending, snapActive)
	s.snapshots[sn.id] = sn
	s.builds++
	prev := sb.state
	sb.plan(now, s.opts.StepDelay, stSnapshotting, prev)
	return jsonAnswer(http.StatusOK, s.sandboxDTO(sb, true))
}

// DeleteSnapshotOutOfBand removes a snapshot at once (by id or name), as someone deleting it outside the
// client would.
func (s *Server) DeleteSnapshotOutOfBand(idOrName string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.findSnapshot(idOrName)
	if sn == nil {
		return false
	}
	delete(s.snapshots, sn.id)
	return true
}

// Snapshots returns the names of the snapshots that exist (the general default one included).
func (s *Server) Snapshots() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	var out []string
	for _, sn := range s.snapshots {
		out = append(out, sn.name)
	}
	sort.Strings(out)
	return out
}

// LiveVolumes returns the ids of the volumes that are not deleted, sorted.
func (s *Server) LiveVolumes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	var out []string
	for id, v := range s.volumes {
		if v.state != volDeleted {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// HasSnapshot reports whether a snapshot (by id or name) exists.
func (s *Server) HasSnapshot(idOrName string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll(time.Now())
	return s.findSnapshot(idOrName) != nil
}
