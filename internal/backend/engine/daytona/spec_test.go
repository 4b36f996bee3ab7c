package daytona

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

func TestValidateSpecOptions(t *testing.T) {
	e, err := New(Config{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	good := []map[string]any{
		nil,
		{"image": "python:3.12-slim", "cpu": 2, "memory": int64(4), "disk": 8.0},
		{"snapshot": "my-snap:1", "public": true, "auto_stop_interval": 0, "auto_archive_interval": json.Number("60")},
		{"ephemeral": true, "labels": map[string]any{"team": "a"}, "target": "eu"},
		{"auto_delete_interval": -5, "network_allow_list": []any{"10.0.0.0/8", "192.168.1.0/24"}},
		{"network_allow_list": "10.0.0.0/8, 172.16.0.0/12", "network_block_all": false},
		{"network_block_all": true, "labels": map[string]string{"x": "y"}},
	}
	for _, o := range good {
		if err := e.ValidateSpec(backend.SandboxSpec{Options: o}); err != nil {
			t.Errorf("ValidateSpec(%v) = %v", o, err)
		}
	}
	bad := map[string]struct {
		spec backend.SandboxSpec
		want string
	}{
		"image and snapshot":      {backend.SandboxSpec{Options: map[string]any{"image": "a:1", "snapshot": "b"}}, "exclusive"},
		"cpu without image":       {backend.SandboxSpec{Options: map[string]any{"cpu": 2}}, "need image"},
		"vcpus without image":     {backend.SandboxSpec{VCPUs: 2}, "needs the daytona option image"},
		"ephemeral + auto delete": {backend.SandboxSpec{Options: map[string]any{"ephemeral": true, "auto_delete_interval": 10}}, "ephemeral"},
		"block all + allow list":  {backend.SandboxSpec{Options: map[string]any{"network_block_all": true, "network_allow_list": []any{"10.0.0.0/8"}}}, "contradict"},
		"bad cidr":                {backend.SandboxSpec{Options: map[string]any{"network_allow_list": []any{"example.com"}}}, "not a CIDR"},
		"reserved label":          {backend.SandboxSpec{Options: map[string]any{"labels": map[string]any{"ekairos_sandbox_id": "x"}}}, "reserved"},
		"label value":             {backend.SandboxSpec{Options: map[string]any{"labels": map[string]any{"a": 1}}}, "want a string"},
		"fractional interval":     {backend.SandboxSpec{Options: map[string]any{"auto_stop_interval": 1.5}}, "whole number"},
		"negative stop interval":  {backend.SandboxSpec{Options: map[string]any{"auto_stop_interval": -1}}, "out of range"},
		"image with newline":      {backend.SandboxSpec{Options: map[string]any{"image": "a:1\nRUN x"}}, "image reference"},
		"wrong type":              {backend.SandboxSpec{Options: map[string]any{"public": "yes"}}, "true or false"},
		"unknown":                 {backend.SandboxSpec{Options: map[string]any{"gpu": 1}}, "unknown daytona option"},
		"runtime":                 {backend.SandboxSpec{Runtime: "ruby3"}, "not supported"},
		"env name":                {backend.SandboxSpec{Env: map[string]string{"A-B": "x"}}, "not valid"},
		"port":                    {backend.SandboxSpec{Ports: []int{3000, 3000}}, "twice"},
		"mount path":              {backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: "v", ExternalID: "x", MountPath: "/etc/x"}}}, "under /etc"},
		"mount dots":              {backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: "v", ExternalID: "x", MountPath: "/a/../b"}}}, "segments"},
		"policy credentials": {backend.SandboxSpec{Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Presets: []string{"github"},
			Credentials: map[string]string{"github": "ghp_x"}}}, "cannot inject credentials"},
		"policy vs options": {backend.SandboxSpec{Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll},
			Options: map[string]any{"network_block_all": true}}, "contradicts"},
	}
	for name, tc := range bad {
		err := e.ValidateSpec(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ValidateSpec = %v, want an error containing %q", name, err, tc.want)
		}
	}
	// Scopes: a workspace takes no ephemeral, a setup no public.
	if _, err := e.planWorkspace(backend.WorkspaceSpec{Options: map[string]any{"ephemeral": true}}, "v"); err == nil {
		t.Errorf("a workspace with ephemeral = nil error")
	}
	if _, err := parseOptions(map[string]any{"public": true}, setupOptionKeys, "setup"); err == nil {
		t.Errorf("a setup with public = nil error")
	}
}

func TestPlanMapsSpecToTheAPI(t *testing.T) {
	e, err := New(Config{APIKey: "k", Target: "us"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.planSandbox(backend.SandboxSpec{RecordID: "rec-1", Runtime: "node22", VCPUs: 2, Ports: []int{8080, 3000},
		Timeout: 90 * time.Second, Env: map[string]string{"A": "1"},
		Policy:  &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Presets: []string{"npm"}, Hosts: []string{"*.example.com"}},
		Options: map[string]any{"image": "node:22", "ephemeral": true, "labels": map[string]any{"team": "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	b := p.createBody()
	if b.Name != "ekairos-rec-1" || b.BuildInfo == nil || b.BuildInfo.DockerfileContent != "FROM node:22\n" || b.CPU != 2 || b.Snapshot != "" ||
		b.Target != "us" || b.AutoDeleteInterval == nil || *b.AutoDeleteInterval != 0 || b.DomainAllowList != "*.example.com,registry.npmjs.org" ||
		b.NetworkBlockAll != nil {
		t.Errorf("create body %+v", b)
	}
	want := map[string]string{LabelEkairos: "1", LabelEphemeral: "1", LabelRecordID: "rec-1", LabelManagedBy: ManagedBy, LabelKind: KindSandbox,
		LabelLanguage: "javascript", LabelPorts: "8080,3000", LabelCommandTimeout: "90000", "team": "x"}
	if !sameLabels(b.Labels, want) {
		t.Errorf("labels %v, want %v", b.Labels, want)
	}
	for name, spec := range map[string]backend.SandboxSpec{
		"deny_all":  {RecordID: "r", Policy: &backend.NetworkPolicy{Mode: backend.PolicyDenyAll}},
		"no policy": {RecordID: "r"},
	} {
		deny, err := e.planSandbox(spec)
		if err != nil || deny.createBody().NetworkBlockAll == nil || !*deny.createBody().NetworkBlockAll {
			t.Errorf("%s does not block all egress: %v", name, err)
		}
	}
	for name, spec := range map[string]backend.SandboxSpec{
		"allow_all":               {RecordID: "r", Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}},
		"network_block_all=false": {RecordID: "r", Options: map[string]any{"network_block_all": false}},
		"CIDRs":                   {RecordID: "r", Options: map[string]any{"network_allow_list": "10.0.0.0/8"}},
	} {
		open, err := e.planSandbox(spec)
		if err != nil || open.createBody().NetworkBlockAll != nil {
			t.Errorf("%s blocks all egress: %v", name, err)
		}
	}
}

func TestSandboxNullsDecode(t *testing.T) {
	var d sandboxDTO
	body := `{"id":"x","name":"n","snapshot":null,"labels":null,"errorReason":null,"networkAllowList":null,"domainAllowList":null,
	  "daemonVersion":null,"env":{"A":"1"},"state":"started","autoDeleteInterval":-1,"cpu":1.5}`
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("decoding a sandbox with nulls: %v", err)
	}
	if d.Labels[LabelRecordID] != "" || d.Snapshot != "" || isEphemeral(&d) || stateOf(&d) != backend.StateRunning {
		t.Errorf("decoded %+v", d)
	}
}

func TestStatesMap(t *testing.T) {
	for st, want := range map[string]string{
		stStarted: backend.StateRunning, stStopped: backend.StateStopped, stArchived: backend.StateArchived,
		stCreating: backend.StateStarting, stPendingBuild: backend.StateStarting, stRestoring: backend.StateStarting,
		stStopping: backend.StateStopping, stDestroying: backend.StateStopping, stError: backend.StateUnknown,
		stPaused: backend.StateStopped,
	} {
		if got := stateOf(&sandboxDTO{State: st}); got != want {
			t.Errorf("stateOf(%s) = %s, want %s", st, got, want)
		}
	}
}

func TestExecFrame(t *testing.T) {
	script := wrapperScript("N1", []string{"printf", "a'b"}, []string{"K"}, "", "")
	if !strings.Contains(script, `( 'printf' 'a'\''b' )`) {
		t.Errorf("argv is not single-quoted:\n%s", script)
	}
	cmd := wrapCommand(script)
	if strings.Count(cmd, "'") != 2 {
		t.Errorf("the command must hold exactly one single-quoted argument: %s", cmd)
	}
	code, out, errb, ok := parseFrame("noise\nN1:exit:3\nN1:out\naGk=\nN1:err\nZXJy\nN1:end\n", "N1")
	if !ok || code != 3 || string(out) != "hi" || string(errb) != "err" {
		t.Errorf("parseFrame = %d %q %q %v", code, out, errb, ok)
	}
	if _, _, _, ok := parseFrame("sh: base64: not found", "N1"); ok {
		t.Errorf("parseFrame of garbage = ok")
	}
}

func TestUpdateInPlace(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	ctx := ctxFor(t, 30*time.Second)
	rid := backend.NewID()
	spec := backend.SandboxSpec{RecordID: rid, Ports: []int{3000}, Env: map[string]string{"KEEP": "k", "DROP": "d"}}
	sb := mustCreate(t, e, spec)
	if sb.URLs[3000] == "" || sb.URL != sb.URLs[3000] || strings.Contains(sb.URL, "token") {
		t.Errorf("URLs %v", sb.URLs)
	}
	b, _ := json.Marshal(sb)
	if tok, err := e.PreviewToken(ctx, sb.ExternalID, 3000); err != nil || tok == "" || strings.Contains(string(b), tok) {
		t.Errorf("PreviewToken = %q, %v; the view must not hold it: %s", tok, err, b)
	}
	if sb.Metadata["ephemeral"] != false {
		t.Errorf("metadata %v", sb.Metadata)
	}
	// Stopped, then updated: env and network need it running, so it is started and stopped again.
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	spec.Env = map[string]string{"KEEP": "k2"}
	spec.Ports = []int{3000, 4000}
	spec.Policy = &backend.NetworkPolicy{Mode: backend.PolicyDenyAll}
	spec.Options = map[string]any{"public": true, "auto_stop_interval": 30, "labels": map[string]any{"team": "b"}, "ephemeral": true}
	up, err := e.UpdateSandbox(ctx, sb.ExternalID, spec)
	if err != nil {
		t.Fatalf("UpdateSandbox: %v", err)
	}
	if up.State != backend.StateStopped || len(up.URLs) != 2 || up.Metadata["ephemeral"] != true {
		t.Errorf("after update: %+v", up)
	}
	d, err := e.getSandbox(ctx, sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Public || *d.AutoStopInterval != 30 || *d.AutoDeleteInterval != 0 || !d.NetworkBlockAll || d.Labels["team"] != "b" ||
		d.Labels[LabelEnvFile] != "1" || d.Labels[LabelEphemeral] != "1" {
		t.Errorf("the fake holds %+v", d)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", `printf "%s|%s" "$KEEP" "${DROP-unset}"`}})
	if err != nil || string(res.Stdout) != "k2|unset" {
		t.Errorf("env after update: %v, %v", res, err)
	}
	// An ephemeral sandbox is deleted when it stops: StopSandbox says so.
	if err := e.StopSandbox(ctx, sb.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("StopSandbox of an ephemeral sandbox = %v, want ErrNotFound", err)
	}
}
