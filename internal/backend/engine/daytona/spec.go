package daytona

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Options of the daytona block (SandboxSpec.Options and, where noted, WorkspaceSpec.Options and
// SetupSpec.Options). Values are JSON-like: numbers as any Go number or json.Number, lists as []any or
// []string, maps as map[string]any or map[string]string.
const (
	// OptionImage (string) creates the sandbox from a container image ("python:3.12-slim"), built by Daytona
	// from a one-line Dockerfile. Exclusive with snapshot (and with a setup). Sandbox, workspace, setup.
	OptionImage = "image"
	// OptionSnapshot (string) creates the sandbox from a Daytona snapshot (name or id); unset together with
	// image = the organization's default snapshot. Sandbox, workspace, setup.
	OptionSnapshot = "snapshot"
	// OptionCPU (number, vCPUs), OptionMemory (number, GiB) and OptionDisk (number, GiB) size a sandbox
	// built from an image; Daytona rejects them with a snapshot, whose resources are fixed. Sandbox,
	// workspace, setup. The spec's vcpus is the same as cpu.
	OptionCPU    = "cpu"
	OptionMemory = "memory"
	OptionDisk   = "disk"
	// OptionPublic (bool) makes preview URLs reachable without the preview token. Default false. Sandbox,
	// workspace.
	OptionPublic = "public"
	// OptionAutoStopInterval (number, minutes) stops the sandbox after that long without activity; 0 disables;
	// unset = Daytona's default (15). Sandbox, workspace.
	OptionAutoStopInterval = "auto_stop_interval"
	// OptionAutoArchiveInterval (number, minutes) archives a stopped sandbox after that long; 0 = the maximum
	// (30 days); unset = Daytona's default (7 days). Sandbox, workspace.
	OptionAutoArchiveInterval = "auto_archive_interval"
	// OptionAutoDeleteInterval (number, minutes) deletes a stopped sandbox after that long; negative disables,
	// 0 deletes on stop; unset = never. Not with ephemeral = true. Sandbox only.
	OptionAutoDeleteInterval = "auto_delete_interval"
	// OptionEphemeral (bool) deletes the sandbox as soon as it stops (auto-delete interval 0), as
	// @ekairos/sandbox's default does. Default false here: a declared sandbox that vanishes when it stops
	// would be re-created by every plan. Sandbox only.
	OptionEphemeral = "ephemeral"
	// OptionLabels (map of string) adds labels. Keys starting with "ekairos" and "code-toolbox-language" are
	// reserved. Sandbox, workspace, setup.
	OptionLabels = "labels"
	// OptionNetworkBlockAll (bool) blocks all egress (the deny_all policy). Without a policy and without
	// network options a sandbox gets deny_all; network_block_all = false then means allow_all. With a policy
	// it must agree with it. Sandbox, workspace.
	OptionNetworkBlockAll = "network_block_all"
	// OptionNetworkAllowList (list of CIDR strings, or one comma-separated string) limits egress to those
	// networks (Daytona's networkAllowList); with an allow_list policy it is added to the policy's domains.
	// Sandbox, workspace.
	OptionNetworkAllowList = "network_allow_list"
	// OptionTarget (string) is the region ("us", "eu", ...); unset = the provider's target. Sandbox,
	// workspace, setup.
	OptionTarget = "target"
)

// Option scopes: which keys each kind of spec accepts.
var (
	sandboxOptionKeys = []string{OptionImage, OptionSnapshot, OptionCPU, OptionMemory, OptionDisk, OptionPublic,
		OptionAutoStopInterval, OptionAutoArchiveInterval, OptionAutoDeleteInterval, OptionEphemeral, OptionLabels,
		OptionNetworkBlockAll, OptionNetworkAllowList, OptionTarget}
	workspaceOptionKeys = []string{OptionImage, OptionSnapshot, OptionCPU, OptionMemory, OptionDisk, OptionPublic,
		OptionAutoStopInterval, OptionAutoArchiveInterval, OptionLabels, OptionNetworkBlockAll, OptionNetworkAllowList,
		OptionTarget}
	setupOptionKeys = []string{OptionImage, OptionSnapshot, OptionCPU, OptionMemory, OptionDisk, OptionLabels, OptionTarget}
)

// Labels the engine puts on sandboxes. ekairos and ekairos_ephemeral are @ekairos/sandbox's own; the record id
// label makes FindSandbox find a half-made sandbox.
const (
	LabelEkairos         = "ekairos"                  // "1", as @ekairos/sandbox labels its sandboxes
	LabelEphemeral       = "ekairos_ephemeral"        // "1" or "0", as @ekairos/sandbox
	LabelRecordID        = "ekairos_sandbox_id"       // the sandbox record id (the library's sandboxId)
	LabelManagedBy       = "ekairos_managed_by"       // ManagedBy: made by this provider
	LabelKind            = "ekairos_kind"             // KindSandbox, KindWorkspace or KindSetupBuilder
	LabelWorkspaceID     = "ekairos_workspace_id"     // a workspace sandbox's workspace record id
	LabelWorkspaceVolume = "ekairos_workspace_volume" // a workspace sandbox's volume id (the workspace's external id)
	LabelWorkspaceName   = "ekairos_workspace_name"   // a workspace sandbox's workspace name
	LabelSetupID         = "ekairos_setup_id"         // a builder's setup record id
	LabelPorts           = "ekairos_ports"            // exposed ports, comma-separated
	LabelCommandTimeout  = "ekairos_command_timeout"  // the sandbox's default command timeout, in ms
	LabelEnvFile         = "ekairos_env_file"         // "1" once UpdateSandbox wrote the env file
	LabelLanguage        = "code-toolbox-language"    // the SDK's language label
)

// Label values.
const (
	ManagedBy        = "terraform-provider-sandbox"
	KindSandbox      = "sandbox"
	KindWorkspace    = "workspace"
	KindSetupBuilder = "setup-builder"
)

var snapshotNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.\-:]+(/[a-zA-Z0-9_.\-:]+)*$`)

// attrErr is a refusal about one attribute of the resource ("vcpus", "daytona.cpu", "policy.credentials_wo"),
// which the provider reports at plan time on that attribute.
func attrErr(err error, path ...string) error { return backend.NewAttrError(err, path...) }

// options is a parsed daytona block.
type options struct {
	image, snapshot   string
	cpu, memory, disk int
	public            bool
	autoStop          *int
	autoArchive       *int
	autoDelete        *int
	ephemeral         bool
	labels            map[string]string
	blockAll          bool
	blockAllSet       bool
	allowList         []string
	target            string
}

// parseOptions reads an options map, accepting only the keys of scope (named what in errors).
func parseOptions(raw map[string]any, allowed []string, what string) (*options, error) {
	o := &options{}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := raw[k]
		if v == nil {
			continue
		}
		if !contains(allowed, k) {
			return nil, fmt.Errorf("unknown daytona option %q for a %s (supported: %s)", k, what, strings.Join(allowed, ", "))
		}
		var err error
		switch k {
		case OptionImage:
			o.image, err = optString(k, v)
			if err == nil && (o.image == "" || strings.ContainsAny(o.image, " \t\r\n")) {
				err = fmt.Errorf("daytona option %s: %q is not an image reference (no spaces or line breaks)", k, o.image)
			}
		case OptionSnapshot:
			o.snapshot, err = optString(k, v)
			if err == nil && !snapshotNameRE.MatchString(o.snapshot) {
				err = fmt.Errorf("daytona option %s: %q is not a snapshot name or id", k, o.snapshot)
			}
		case OptionCPU:
			o.cpu, err = optInt(k, v, 1)
		case OptionMemory:
			o.memory, err = optInt(k, v, 1)
		case OptionDisk:
			o.disk, err = optInt(k, v, 1)
		case OptionPublic:
			o.public, err = optBool(k, v)
		case OptionEphemeral:
			o.ephemeral, err = optBool(k, v)
		case OptionNetworkBlockAll:
			o.blockAll, err = optBool(k, v)
			o.blockAllSet = true
		case OptionAutoStopInterval, OptionAutoArchiveInterval:
			var n int
			n, err = optInt(k, v, 0)
			if k == OptionAutoStopInterval {
				o.autoStop = &n
			} else {
				o.autoArchive = &n
			}
		case OptionAutoDeleteInterval:
			var n int
			n, err = optInt(k, v, math.MinInt32)
			if n < 0 {
				n = -1
			}
			o.autoDelete = &n
		case OptionLabels:
			o.labels, err = optLabels(k, v)
		case OptionNetworkAllowList:
			o.allowList, err = optCIDRs(k, v)
		case OptionTarget:
			o.target, err = optString(k, v)
			if err == nil && (o.target == "" || strings.ContainsAny(o.target, " ,/")) {
				err = fmt.Errorf("daytona option %s: %q is not a region id (e.g. \"us\", \"eu\")", k, o.target)
			}
		}
		if err != nil {
			return nil, attrErr(err, "daytona", k)
		}
	}
	if o.image != "" && o.snapshot != "" {
		return nil, attrErr(fmt.Errorf("daytona options %s and %s are exclusive: a sandbox starts from one image or one snapshot", OptionImage, OptionSnapshot), "daytona", OptionSnapshot)
	}
	if o.image == "" && (o.cpu > 0 || o.memory > 0 || o.disk > 0) {
		first := OptionCPU
		if o.cpu == 0 {
			first = OptionMemory
			if o.memory == 0 {
				first = OptionDisk
			}
		}
		return nil, attrErr(fmt.Errorf("daytona options %s, %s and %s need %s: Daytona rejects resources for a sandbox created from a snapshot (the snapshot fixes them)",
			OptionCPU, OptionMemory, OptionDisk, OptionImage), "daytona", first)
	}
	if o.ephemeral && o.autoDelete != nil {
		return nil, attrErr(fmt.Errorf("daytona option %s cannot be used with %s = true: an ephemeral sandbox is deleted as soon as it stops (@ekairos/sandbox never sends both)",
			OptionAutoDeleteInterval, OptionEphemeral), "daytona", OptionAutoDeleteInterval)
	}
	if o.blockAll && len(o.allowList) > 0 {
		return nil, attrErr(fmt.Errorf("daytona options %s = true and %s contradict each other: block all egress, or allow some networks", OptionNetworkBlockAll, OptionNetworkAllowList),
			"daytona", OptionNetworkAllowList)
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func optString(k string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("daytona option %s: want a string, got %T", k, v)
	}
	return s, nil
}

func optBool(k string, v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("daytona option %s: want true or false, got %T", k, v)
	}
	return b, nil
}

func optInt(k string, v any, minimum int) (int, error) {
	if f, ok := v.(float64); ok && math.Trunc(f) != f {
		return 0, fmt.Errorf("daytona option %s: want a whole number, got %v", k, v)
	}
	if n, ok := v.(json.Number); ok {
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("daytona option %s: want a whole number, got %v", k, v)
		}
		v = i
	}
	n, ok := backend.AsInt(v)
	if !ok {
		return 0, fmt.Errorf("daytona option %s: want a number, got %T", k, v)
	}
	if n < int64(minimum) || n > math.MaxInt32 {
		return 0, fmt.Errorf("daytona option %s: %d is out of range (at least %d)", k, n, minimum)
	}
	return int(n), nil
}

func optLabels(k string, v any) (map[string]string, error) {
	out := map[string]string{}
	switch m := v.(type) {
	case map[string]string:
		for kk, vv := range m {
			out[kk] = vv
		}
	case map[string]any:
		for kk, vv := range m {
			s, ok := vv.(string)
			if !ok {
				return nil, fmt.Errorf("daytona option %s: label %q: want a string value, got %T", k, kk, vv)
			}
			out[kk] = s
		}
	default:
		return nil, fmt.Errorf("daytona option %s: want a map of strings, got %T", k, v)
	}
	for kk := range out {
		if kk == "" || strings.HasPrefix(kk, "ekairos") || kk == LabelLanguage {
			return nil, fmt.Errorf("daytona option %s: label key %q is reserved (keys starting with \"ekairos\" and %q are set by the provider)", k, kk, LabelLanguage)
		}
	}
	return out, nil
}

func optCIDRs(k string, v any) ([]string, error) {
	var items []string
	switch l := v.(type) {
	case string:
		for _, s := range strings.Split(l, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	case []string:
		items = append(items, l...)
	case []any:
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("daytona option %s: want CIDR strings, got %T", k, e)
			}
			items = append(items, s)
		}
	default:
		return nil, fmt.Errorf("daytona option %s: want a list of CIDRs, got %T", k, v)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("daytona option %s: empty list (leave it unset to allow all egress)", k)
	}
	for _, s := range items {
		if _, _, err := net.ParseCIDR(s); err != nil {
			return nil, fmt.Errorf("daytona option %s: %q is not a CIDR (e.g. 10.0.0.0/24)", k, s)
		}
	}
	return items, nil
}

// language maps a runtime to the SDK's code-toolbox-language label, as @ekairos/sandbox infers it.
func language(runtime string) (string, error) {
	r := strings.ToLower(strings.TrimSpace(runtime))
	switch {
	case r == "" || strings.HasPrefix(r, "python"):
		return "python", nil
	case strings.HasPrefix(r, "node") || r == "javascript" || r == "js":
		return "javascript", nil
	case strings.HasPrefix(r, "ts") || r == "typescript":
		return "typescript", nil
	}
	return "", fmt.Errorf("runtime %q is not supported by the daytona engine (python*, node*, javascript, typescript or ts*; the image or snapshot option picks the system)", runtime)
}

// reservedMounts are the paths Daytona refuses as volume mount points (and everything below them).
var reservedMounts = []string{"/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin", "/lib", "/lib64"}

// checkMountPath applies the API's rules to a volume mount path.
func checkMountPath(p string) error {
	if !strings.HasPrefix(p, "/") || p == "/" || strings.Contains(p, "//") {
		return fmt.Errorf("mount path %q must be absolute, other than / and without //", p)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p[1:], "/"), "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("mount path %q must not contain . or .. segments", p)
		}
	}
	for _, r := range reservedMounts {
		if p == r || strings.HasPrefix(p, r+"/") {
			return fmt.Errorf("mount path %q is under %s, which Daytona does not mount volumes on", p, r)
		}
	}
	return nil
}

func checkPorts(ports []int) error {
	seen := map[int]bool{}
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("port %d is outside 1..65535", p)
		}
		if seen[p] {
			return fmt.Errorf("port %d is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// network is the egress configuration of a sandbox.
type network struct {
	blockAll bool
	cidrs    string // networkAllowList
	domains  string // domainAllowList
}

// networkFor maps a network policy and the network options to Daytona's settings. With no policy, the
// network options decide when set; without them the policy is deny_all, as on every engine (the provider
// documents "no policy block: no network"), sent explicitly since Daytona's own default is allow_all.
func networkFor(p *backend.NetworkPolicy, o *options) (network, error) {
	n := network{blockAll: o.blockAll, cidrs: strings.Join(o.allowList, ",")}
	if p == nil {
		if !o.blockAllSet && len(o.allowList) == 0 {
			n.blockAll = true
		}
		return n, nil
	}
	if err := p.Validate(); err != nil {
		return n, attrErr(err, "policy")
	}
	if len(p.Credentials) > 0 {
		return n, attrErr(errors.New("the daytona engine cannot inject credentials into requests (policy credentials need an egress proxy with header transforms, e.g. the vercel engine): remove them from the policy"),
			"policy", "credentials_wo")
	}
	switch p.Mode {
	case backend.PolicyDenyAll:
		if len(o.allowList) > 0 || (o.blockAllSet && !o.blockAll) {
			return n, attrErr(fmt.Errorf("policy deny_all contradicts the daytona options %s/%s", OptionNetworkBlockAll, OptionNetworkAllowList), "policy", "mode")
		}
		n.blockAll = true
	case backend.PolicyAllowAll:
		if o.blockAll || len(o.allowList) > 0 {
			return n, attrErr(fmt.Errorf("policy allow_all contradicts the daytona options %s/%s", OptionNetworkBlockAll, OptionNetworkAllowList), "policy", "mode")
		}
	case backend.PolicyAllowList:
		if o.blockAll {
			return n, attrErr(fmt.Errorf("policy allow_list contradicts the daytona option %s = true", OptionNetworkBlockAll), "policy", "mode")
		}
		n.domains = strings.Join(p.AllowedHosts(), ",")
	}
	return n, nil
}

// sandboxPlan is everything a sandbox is created with, from a sandbox, workspace or setup spec.
type sandboxPlan struct {
	name        string
	labels      map[string]string
	env         map[string]string
	snapshot    string
	image       string
	cpu         int
	memory      int
	disk        int
	public      bool
	target      string
	autoStop    *int
	autoArchive *int
	autoDelete  *int
	ephemeral   bool
	volumes     []volumeMountDTO
	net         network
	ports       []int
	timeout     time.Duration
}

func (p *sandboxPlan) createBody() createSandboxDTO {
	b := createSandboxDTO{
		Name: p.name, Snapshot: p.snapshot, Env: p.env, Labels: p.labels, Target: p.target,
		CPU: p.cpu, Memory: p.memory, Disk: p.disk,
		AutoStopInterval: p.autoStop, AutoArchiveInterval: p.autoArchive, AutoDeleteInterval: p.autoDelete,
		Volumes: p.volumes, NetworkAllowList: p.net.cidrs, DomainAllowList: p.net.domains,
	}
	if p.image != "" {
		b.BuildInfo = &buildInfoDTO{DockerfileContent: "FROM " + p.image + "\n"}
	}
	if p.public {
		b.Public = &p.public
	}
	if p.net.blockAll {
		t := true
		b.NetworkBlockAll = &t
	}
	if p.ephemeral {
		zero := 0
		b.AutoDeleteInterval = &zero
	}
	return b
}

// baseLabels are the labels of every sandbox the engine makes.
func baseLabels(kind, runtime string, o *options, ephemeral bool, ports []int, timeout time.Duration) (map[string]string, error) {
	lang, err := language(runtime)
	if err != nil {
		return nil, err
	}
	l := map[string]string{}
	for k, v := range o.labels {
		l[k] = v
	}
	l[LabelEkairos] = "1"
	l[LabelEphemeral] = boolLabel(ephemeral)
	l[LabelManagedBy] = ManagedBy
	l[LabelKind] = kind
	l[LabelLanguage] = lang
	if len(ports) > 0 {
		ps := make([]string, len(ports))
		for i, p := range ports {
			ps[i] = strconv.Itoa(p)
		}
		l[LabelPorts] = strings.Join(ps, ",")
	}
	if timeout > 0 {
		l[LabelCommandTimeout] = strconv.FormatInt(timeout.Milliseconds(), 10)
	}
	return l, nil
}

func boolLabel(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// sandboxName is the name of a sandbox made for a record: creates retried after an answer was lost meet the
// name conflict instead of making a second sandbox.
func sandboxName(recordID string) string { return "ekairos-" + recordID }

// planSandbox validates a sandbox spec and turns it into a plan.
func (e *Engine) planSandbox(spec backend.SandboxSpec) (*sandboxPlan, error) {
	if err := backend.CheckSandboxSpec(spec); err != nil {
		return nil, err
	}
	if err := checkPorts(spec.Ports); err != nil {
		return nil, attrErr(err, "ports")
	}
	o, err := parseOptions(spec.Options, sandboxOptionKeys, "sandbox")
	if err != nil {
		return nil, err
	}
	if spec.VCPUs > 0 {
		if o.image == "" {
			return nil, attrErr(fmt.Errorf("vcpus = %d needs the daytona option %s: Daytona rejects resources for a sandbox created from a snapshot (a setup's included)", spec.VCPUs, OptionImage), "vcpus")
		}
		if o.cpu > 0 && o.cpu != spec.VCPUs {
			return nil, attrErr(fmt.Errorf("vcpus = %d and the daytona option %s = %d disagree", spec.VCPUs, OptionCPU, o.cpu), "vcpus")
		}
		o.cpu = spec.VCPUs
	}
	if spec.Setup != "" && (o.image != "" || o.snapshot != "") {
		return nil, attrErr(fmt.Errorf("a sandbox with a setup starts from the setup's snapshot: drop the daytona option %s/%s", OptionImage, OptionSnapshot), "setup_id")
	}
	if spec.Setup != "" && (o.cpu > 0 || o.memory > 0 || o.disk > 0) {
		return nil, attrErr(errors.New("a sandbox with a setup starts from the setup's snapshot, whose resources are fixed: drop cpu, memory, disk and vcpus"), "setup_id")
	}
	net, err := networkFor(spec.Policy, o)
	if err != nil {
		return nil, err
	}
	mounts, err := mountsFor(spec.Volumes, spec.Workspace)
	if err != nil {
		return nil, attrErr(err, "volume")
	}
	labels, err := baseLabels(KindSandbox, spec.Runtime, o, o.ephemeral, spec.Ports, spec.Timeout)
	if err != nil {
		return nil, attrErr(err, "runtime")
	}
	if err := mergeUserLabels(labels, spec.Labels); err != nil {
		return nil, attrErr(err, "labels")
	}
	if spec.RecordID != "" {
		labels[LabelRecordID] = spec.RecordID
	}
	snapshot := o.snapshot
	if spec.Setup != "" {
		snapshot = spec.Setup
	}
	target := o.target
	if target == "" {
		target = e.cfg.Target
	}
	return &sandboxPlan{
		name: sandboxName(spec.RecordID), labels: labels, env: spec.Env, snapshot: snapshot, image: o.image,
		cpu: o.cpu, memory: o.memory, disk: o.disk, public: o.public, target: target,
		autoStop: o.autoStop, autoArchive: o.autoArchive, autoDelete: o.autoDelete, ephemeral: o.ephemeral,
		volumes: mounts, net: net, ports: spec.Ports, timeout: spec.Timeout,
	}, nil
}

// WorkspaceMountPath is where a workspace's volume is mounted in its sandboxes (and in sandboxes whose spec
// names the workspace). Commands of ExecWorkspace run there unless their cwd says otherwise.
const WorkspaceMountPath = "/home/daytona/workspace"

func mountsFor(vols []backend.VolumeMount, workspace string) ([]volumeMountDTO, error) {
	var out []volumeMountDTO
	seen := map[string]bool{}
	for _, v := range vols {
		if v.ExternalID == "" {
			return nil, fmt.Errorf("volume %s has no Daytona volume id", v.VolumeID)
		}
		if err := checkMountPath(v.MountPath); err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.VolumeID, err)
		}
		if seen[v.MountPath] {
			return nil, fmt.Errorf("two volumes are mounted on %s", v.MountPath)
		}
		seen[v.MountPath] = true
		out = append(out, volumeMountDTO{VolumeID: v.ExternalID, MountPath: v.MountPath})
	}
	if workspace != "" {
		if seen[WorkspaceMountPath] {
			return nil, fmt.Errorf("a volume is mounted on %s, where the workspace's files go", WorkspaceMountPath)
		}
		out = append(out, volumeMountDTO{VolumeID: workspace, MountPath: WorkspaceMountPath})
	}
	return out, nil
}

// mergeUserLabels adds the resource's labels (spec.Labels) beside the engine's own: the labels option of the
// daytona block and the library's ekairos labels win over them, and keys the provider sets are refused.
func mergeUserLabels(labels, user map[string]string) error {
	for k, v := range user {
		if k == "" || strings.HasPrefix(k, "ekairos") || k == LabelLanguage {
			return fmt.Errorf("label key %q is reserved (keys starting with \"ekairos\" and %q are set by the provider)", k, LabelLanguage)
		}
		if _, set := labels[k]; !set {
			labels[k] = v
		}
	}
	return nil
}
