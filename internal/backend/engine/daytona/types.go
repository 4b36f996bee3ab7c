package daytona

// Wire types of the main API (field names of the @daytona/api-client 0.218 models). The API sends JSON null
// for unset nullable columns (snapshot, errorReason, networkAllowList, domainAllowList, labels, ...); Go's
// decoder leaves a field at its zero value for null, so plain strings and maps accept it, and a nil labels
// map reads as no labels.

// Sandbox states (the API's enum).
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
	stUnknown          = "unknown"
	stPullingSnapshot  = "pulling_snapshot"
	stArchived         = "archived"
	stArchiving        = "archiving"
	stResizing         = "resizing"
	stSnapshotting     = "snapshotting"
	stForking          = "forking"
	stPausing          = "pausing"
	stPaused           = "paused"
	stResuming         = "resuming"
)

// Volume states.
const (
	volPendingCreate = "pending_create"
	volCreating      = "creating"
	volReady         = "ready"
	volPendingDelete = "pending_delete"
	volDeleting      = "deleting"
	volDeleted       = "deleted"
	volError         = "error"
)

// Snapshot states.
const (
	snapPending      = "pending"
	snapPulling      = "pulling"
	snapBuilding     = "building"
	snapSnapshotting = "snapshotting"
	snapActive       = "active"
	snapInactive     = "inactive"
	snapError        = "error"
	snapBuildFailed  = "build_failed"
	snapRemoving     = "removing"
)

type volumeMountDTO struct {
	VolumeID  string `json:"volumeId"`
	MountPath string `json:"mountPath"`
	Subpath   string `json:"subpath,omitempty"`
}

type buildInfoDTO struct {
	DockerfileContent string   `json:"dockerfileContent,omitempty"`
	ContextHashes     []string `json:"contextHashes,omitempty"`
	SnapshotRef       string   `json:"snapshotRef,omitempty"`
}

// sandboxDTO is the Sandbox model (and, without env, volumes and buildInfo, a list item).
type sandboxDTO struct {
	ID                  string            `json:"id"`
	OrganizationID      string            `json:"organizationId"`
	Name                string            `json:"name"`
	Snapshot            string            `json:"snapshot"`
	User                string            `json:"user"`
	Env                 map[string]string `json:"env"`
	Labels              map[string]string `json:"labels"`
	Public              bool              `json:"public"`
	NetworkBlockAll     bool              `json:"networkBlockAll"`
	NetworkAllowList    string            `json:"networkAllowList"`
	DomainAllowList     string            `json:"domainAllowList"`
	Target              string            `json:"target"`
	CPU                 float64           `json:"cpu"`
	GPU                 float64           `json:"gpu"`
	Memory              float64           `json:"memory"`
	Disk                float64           `json:"disk"`
	State               string            `json:"state"`
	DesiredState        string            `json:"desiredState"`
	ErrorReason         string            `json:"errorReason"`
	Recoverable         bool              `json:"recoverable"`
	AutoStopInterval    *int              `json:"autoStopInterval"`
	AutoArchiveInterval *int              `json:"autoArchiveInterval"`
	AutoDeleteInterval  *int              `json:"autoDeleteInterval"`
	Volumes             []volumeMountDTO  `json:"volumes"`
	BuildInfo           *buildInfoDTO     `json:"buildInfo"`
	CreatedAt           string            `json:"createdAt"`
	UpdatedAt           string            `json:"updatedAt"`
	ToolboxProxyURL     string            `json:"toolboxProxyUrl"`
}

// createSandboxDTO is the CreateSandbox request; every field is optional.
type createSandboxDTO struct {
	Name                string            `json:"name,omitempty"`
	Snapshot            string            `json:"snapshot,omitempty"`
	BuildInfo           *buildInfoDTO     `json:"buildInfo,omitempty"`
	Env                 map[string]string `json:"env,omitempty"`
	Labels              map[string]string `json:"labels,omitempty"`
	Public              *bool             `json:"public,omitempty"`
	Target              string            `json:"target,omitempty"`
	CPU                 int               `json:"cpu,omitempty"`
	Memory              int               `json:"memory,omitempty"`
	Disk                int               `json:"disk,omitempty"`
	AutoStopInterval    *int              `json:"autoStopInterval,omitempty"`
	AutoArchiveInterval *int              `json:"autoArchiveInterval,omitempty"`
	AutoDeleteInterval  *int              `json:"autoDeleteInterval,omitempty"`
	Volumes             []volumeMountDTO  `json:"volumes,omitempty"`
	NetworkBlockAll     *bool             `json:"networkBlockAll,omitempty"`
	NetworkAllowList    string            `json:"networkAllowList,omitempty"`
	DomainAllowList     string            `json:"domainAllowList,omitempty"`
}

type listSandboxesDTO struct {
	Items      []sandboxDTO `json:"items"`
	NextCursor *string      `json:"nextCursor"`
}

type networkSettingsDTO struct {
	NetworkBlockAll  *bool   `json:"networkBlockAll,omitempty"`
	NetworkAllowList *string `json:"networkAllowList,omitempty"`
	DomainAllowList  *string `json:"domainAllowList,omitempty"`
}

type labelsDTO struct {
	Labels map[string]string `json:"labels"`
}

type previewURLDTO struct {
	SandboxID string `json:"sandboxId"`
	URL       string `json:"url"`
	Token     string `json:"token"`
}

type toolboxURLDTO struct {
	URL string `json:"url"`
}

type volumeDTO struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	OrganizationID string `json:"organizationId"`
	State          string `json:"state"`
	CreatedAt      string `json:"createdAt"`
	UpdatedAt      string `json:"updatedAt"`
	LastUsedAt     string `json:"lastUsedAt"`
	ErrorReason    string `json:"errorReason"`
}

type snapshotDTO struct {
	ID              string   `json:"id"`
	OrganizationID  string   `json:"organizationId"`
	General         bool     `json:"general"`
	Name            string   `json:"name"`
	ImageName       string   `json:"imageName"`
	State           string   `json:"state"`
	Size            *float64 `json:"size"`
	CPU             float64  `json:"cpu"`
	Mem             float64  `json:"mem"`
	Disk            float64  `json:"disk"`
	ErrorReason     string   `json:"errorReason"`
	CreatedAt       string   `json:"createdAt"`
	SourceSandboxID string   `json:"sourceSandboxId"`
}

type sandboxSnapshotDTO struct {
	Name string `json:"name"`
}

// executeDTO is the toolbox's ExecuteRequest.
type executeDTO struct {
	Command string            `json:"command"`
	Cwd     string            `json:"cwd,omitempty"`
	Envs    map[string]string `json:"envs,omitempty"`
	Timeout int               `json:"timeout,omitempty"`
}

// executeResultDTO is the toolbox's ExecuteResponse; very old daemons sent code instead of exitCode.
type executeResultDTO struct {
	ExitCode *int   `json:"exitCode"`
	Code     *int   `json:"code"`
	Result   string `json:"result"`
}
