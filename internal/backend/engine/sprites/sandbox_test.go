package sprites_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

func TestCapabilities(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	c := newEngine(t, f).Capabilities()
	want := backend.Capabilities{
		StopStart: false, Exec: true, Files: true, Volumes: false, Setups: true, Workspaces: true, PublicURLs: true,
		NetworkPolicies: []string{backend.PolicyDenyAll, backend.PolicyAllowAll, backend.PolicyAllowList}, MaxVCPUs: 8,
		WorkspaceCheckpoints: true,
	}
	if !strings.Contains(c.NoStop, "sleeps by itself") {
		t.Errorf("NoStop = %q; want what a sprite does instead of stopping", c.NoStop)
	}
	c.NoStop = ""
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Capabilities() = %+v, want %+v", c, want)
	}
}

func TestDefaultsAndMetadata(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	id := backend.NewID()
	sb := createSandbox(t, e, backend.SandboxSpec{RecordID: id, Ports: []int{8080, 3000}})
	if sb.ExternalID != "ekairos-"+id {
		t.Errorf("external id = %q, want ekairos-<record id> as @ekairos/sandbox names sprites", sb.ExternalID)
	}
	info, ok := f.Sprite(sb.ExternalID)
	if !ok {
		t.Fatal("no sprite in the fake")
	}
	if info.URLAuth != sprites.URLAuthSprite || info.WaitForCap == nil || !*info.WaitForCap {
		t.Errorf("defaults: url auth %q, wait_for_capacity %v; want sprite and true", info.URLAuth, info.WaitForCap)
	}
	wantLabels := []string{"tfsandbox", "tfsandbox-kind-sandbox", "tfsandbox-record-" + id}
	if !reflect.DeepEqual(info.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", info.Labels, wantLabels)
	}
	if sb.URL != info.URL || sb.URL == "" || !reflect.DeepEqual(sb.URLs, map[int]string{8080: info.URL}) {
		t.Errorf("URL %q, URLs %v; want the sprite URL %q, for port 8080 only", sb.URL, sb.URLs, info.URL)
	}
	wantMD := map[string]any{"id": info.ID, "name": sb.ExternalID, "url": info.URL, "urlSettings": map[string]any{"auth": "sprite"}, "deleteOnStop": true}
	if !reflect.DeepEqual(sb.Metadata, wantMD) {
		t.Errorf("Metadata = %v, want %v", sb.Metadata, wantMD)
	}
	// deny_all when no policy is given.
	if want := []map[string]string{{"domain": "*", "action": "deny"}}; !reflect.DeepEqual(info.Policy, want) {
		t.Errorf("default network policy = %v, want %v", info.Policy, want)
	}
}

func TestCustomOptions(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	id := backend.NewID()
	sb := createSandbox(t, e, backend.SandboxSpec{RecordID: id, Options: map[string]any{
		"name": "my-box-" + id[:8], "url_auth": "public", "wait_for_capacity": false,
		"labels": map[string]any{"team": "infra", "env": "ci"},
	}})
	if sb.ExternalID != "my-box-"+id[:8] || sb.RecordID != id {
		t.Errorf("sandbox = %+v", sb)
	}
	info, _ := f.Sprite(sb.ExternalID)
	if info.URLAuth != "public" || *info.WaitForCap {
		t.Errorf("url auth %q, wait %v", info.URLAuth, *info.WaitForCap)
	}
	if !slices.Contains(info.Labels, "team=infra") || !slices.Contains(info.Labels, "env=ci") {
		t.Errorf("labels = %v", info.Labels)
	}
	// A custom name is found by its record label.
	found, err := e.FindSandbox(t.Context(), id)
	if err != nil || found.ExternalID != sb.ExternalID {
		t.Errorf("FindSandbox of a custom-named sprite = %+v, %v", found, err)
	}
	// Update changes url auth and labels in place; the name cannot change.
	spec := backend.SandboxSpec{RecordID: id, Options: map[string]any{"name": sb.ExternalID, "url_auth": "sprite", "labels": []any{"kept"}}}
	if _, err := e.UpdateSandbox(t.Context(), sb.ExternalID, spec); err != nil {
		t.Fatal(err)
	}
	info, _ = f.Sprite(sb.ExternalID)
	if info.URLAuth != "sprite" || !slices.Contains(info.Labels, "kept") || slices.Contains(info.Labels, "team=infra") {
		t.Errorf("after update: url auth %q, labels %v", info.URLAuth, info.Labels)
	}
	spec.Options["name"] = "other-name"
	if _, err := e.UpdateSandbox(t.Context(), sb.ExternalID, spec); err == nil || !strings.Contains(err.Error(), "renamed") {
		t.Errorf("UpdateSandbox with another name = %v; want a refusal", err)
	}
}

func TestValidateSpec(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	for name, spec := range map[string]backend.SandboxSpec{
		"volumes":        {Volumes: []backend.VolumeMount{{VolumeID: "v", ExternalID: "x", MountPath: "/data"}}},
		"workspace":      {Workspace: "ekairos-ws-x"},
		"9 vcpus":        {VCPUs: 9},
		"runtime":        {Runtime: "node22"},
		"bad name":       {Options: map[string]any{"name": "Bad_Name"}},
		"long name":      {Options: map[string]any{"name": strings.Repeat("a", 64)}},
		"url auth":       {Options: map[string]any{"url_auth": "open"}},
		"wait type":      {Options: map[string]any{"wait_for_capacity": "yes"}},
		"reserved label": {Options: map[string]any{"labels": []any{"tfsandbox-kind-sandbox"}}},
		"bad label":      {Options: map[string]any{"labels": map[string]any{"a b": "c"}}},
		"credentials": {Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Presets: []string{"github"},
			Credentials: map[string]string{"github": "ghp_x"}}},
		"bad policy": {Policy: &backend.NetworkPolicy{Mode: "some"}},
		"env name":   {Env: map[string]string{"A=B": "x"}},
	} {
		if err := e.ValidateSpec(spec); err == nil {
			t.Errorf("ValidateSpec with %s = nil, want an error", name)
		}
	}
	for name, spec := range map[string]backend.SandboxSpec{
		"empty":     {},
		"8 vcpus":   {VCPUs: 8},
		"runtime":   {Runtime: "dev"},
		"all":       {Options: map[string]any{"name": "ok-name", "url_auth": "public", "wait_for_capacity": true, "labels": map[string]any{"a": "b"}}},
		"allowlist": {Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"example.com"}, Presets: []string{"npm"}}},
	} {
		if err := e.ValidateSpec(spec); err != nil {
			t.Errorf("ValidateSpec with %s = %v, want nil", name, err)
		}
	}
}

func TestNetworkPolicies(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	id := backend.NewID()
	allow := &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"*.example.com"}, Presets: []string{"npm"}}
	sb := createSandbox(t, e, backend.SandboxSpec{RecordID: id, Policy: allow})
	info, _ := f.Sprite(sb.ExternalID)
	want := []map[string]string{
		{"domain": "*.example.com", "action": "allow"},
		{"domain": "registry.npmjs.org", "action": "allow"},
		{"domain": "*", "action": "deny"},
	}
	if !reflect.DeepEqual(info.Policy, want) {
		t.Errorf("allow_list policy = %v, want %v", info.Policy, want)
	}
	if _, err := e.UpdateSandbox(t.Context(), sb.ExternalID, backend.SandboxSpec{RecordID: id, Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}}); err != nil {
		t.Fatal(err)
	}
	if info, _ = f.Sprite(sb.ExternalID); len(info.Policy) != 0 || !info.PolicySet {
		t.Errorf("allow_all policy = %v (set %v), want no rules", info.Policy, info.PolicySet)
	}
	rules, err := e.Client().GetNetworkPolicy(t.Context(), sb.ExternalID)
	if err != nil || len(rules.Rules) != 0 {
		t.Errorf("GetNetworkPolicy = %+v, %v", rules, err)
	}
}

func TestStatesAndWake(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	if sb.State != backend.StateRunning {
		t.Errorf("state after create = %q", sb.State)
	}
	for _, tc := range []struct {
		idle time.Duration
		want string
	}{{time.Minute, backend.StateRunning}, {time.Hour, backend.StateSleeping}} {
		f.SetIdle(sb.ExternalID, tc.idle)
		info, _ := f.Sprite(sb.ExternalID)
		got, err := e.GetSandbox(t.Context(), sb.ExternalID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != tc.want {
			t.Errorf("sprite status %q reads as %q, want %q", info.Status, got.State, tc.want)
		}
	}
	// GetSandbox does not wake a cold sprite.
	if info, _ := f.Sprite(sb.ExternalID); info.Status != sprites.StatusCold {
		t.Errorf("GetSandbox woke the sprite: %q", info.Status)
	}
	// Sleeping is not gone, and "start" wakes it.
	if found, err := e.FindSandbox(t.Context(), sb.RecordID); err != nil || found.State != backend.StateSleeping {
		t.Errorf("FindSandbox of a cold sprite = %+v, %v", found, err)
	}
	if err := e.StartSandbox(t.Context(), sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.GetSandbox(t.Context(), sb.ExternalID); got.State != backend.StateRunning {
		t.Errorf("state after StartSandbox = %q", got.State)
	}
	if err := e.StopSandbox(t.Context(), sb.ExternalID); !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, sprites.ErrNoStop) {
		t.Errorf("StopSandbox = %v; want ErrNoStop (errors.ErrUnsupported)", err)
	}
	if err := e.StartSandbox(t.Context(), "no-such-sprite"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("StartSandbox of a missing sprite = %v", err)
	}
}

func TestAdoptionAndStrangers(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	id := backend.NewID()
	sb := createSandbox(t, e, backend.SandboxSpec{RecordID: id})
	// A create that an interrupted apply left behind is adopted, not duplicated.
	again, err := e.CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: id, Env: map[string]string{"X": "1"}})
	if err != nil || again.ExternalID != sb.ExternalID {
		t.Fatalf("CreateSandbox again = %+v, %v", again, err)
	}
	// The create is sent first (as the official client does); its 409 answers the existence probe.
	if n := f.Count("POST /v1/sprites"); n != 2 || len(f.Names()) != 1 {
		t.Errorf("POST /v1/sprites sent %d times (want 2: the create, then the one answered 409), %d sprites (want 1)", n, len(f.Names()))
	}
	// A name taken by another record's sprite is never taken over.
	other := backend.NewID()
	_, err = e.CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: other, Options: map[string]any{"name": sb.ExternalID}})
	if err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("CreateSandbox onto another record's sprite = %v", err)
	}
	// A sprite @ekairos/sandbox made for a record (no labels, default name) belongs to that record.
	libID := backend.NewID()
	if _, err := e.Client().CreateSprite(t.Context(), sprites.CreateSpriteRequest{Name: "ekairos-" + libID}); err != nil {
		t.Fatal(err)
	}
	found, err := e.FindSandbox(t.Context(), libID)
	if err != nil || found.RecordID != libID {
		t.Errorf("FindSandbox of the library's sprite = %+v, %v", found, err)
	}
	adopted := createSandbox(t, e, backend.SandboxSpec{RecordID: libID})
	if adopted.ExternalID != "ekairos-"+libID {
		t.Errorf("adopted %+v", adopted)
	}
	if info, _ := f.Sprite(adopted.ExternalID); !slices.Contains(info.Labels, "tfsandbox-record-"+libID) {
		t.Errorf("the adopted sprite was not labelled: %v", info.Labels)
	}
	// ListSandboxes lists this provider's sandboxes only.
	stranger := "stranger-" + other[:8]
	if _, err := e.Client().CreateSprite(t.Context(), sprites.CreateSpriteRequest{Name: stranger}); err != nil {
		t.Fatal(err)
	}
	list, err := e.ListSandboxes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, l := range list {
		names = append(names, l.ExternalID)
	}
	slices.Sort(names)
	want := []string{adopted.ExternalID, sb.ExternalID}
	slices.Sort(want)
	if !reflect.DeepEqual(names, want) {
		t.Errorf("ListSandboxes = %v, want %v", names, want)
	}
}

func TestMinimalListEntriesAndPages(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{MinimalList: true})
	e := newEngine(t, f)
	id := backend.NewID()
	sb := createSandbox(t, e, backend.SandboxSpec{RecordID: id, Options: map[string]any{"name": "zz-custom-" + id[:8]}})
	for i := range 60 {
		if _, err := e.Client().CreateSprite(t.Context(), sprites.CreateSpriteRequest{Name: fmt.Sprintf("filler-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := e.Client().ListSprites(t.Context(), "")
	if err != nil || len(all) != 61 {
		t.Fatalf("ListSprites = %d sprites, %v; want 61 over two pages", len(all), err)
	}
	if n := f.Count("GET /v1/sprites"); n != 2 {
		t.Errorf("list pages: %d; want 2", n)
	}
	found, err := e.FindSandbox(t.Context(), id)
	if err != nil || found.ExternalID != sb.ExternalID {
		t.Errorf("FindSandbox through minimal list entries = %+v, %v", found, err)
	}
	prefixed, err := e.Client().ListSprites(t.Context(), "filler-01")
	if err != nil || len(prefixed) != 10 {
		t.Errorf("ListSprites(prefix) = %d, %v", len(prefixed), err)
	}
}

func TestExecArgvEnvAndDir(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{Env: map[string]string{"SPEC_VAR": "spec"}, Timeout: 7 * time.Second})
	argv := []string{"printf", "%s|%s|%s", "a b", "$HOME", "'; rm -rf /'"}
	res, err := e.Exec(t.Context(), sb.ExternalID, backend.ExecRequest{Argv: argv, Env: map[string]string{"REQ_VAR": "req"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "a b|$HOME|'; rm -rf /'" {
		t.Errorf("argv was interpreted: %q", res.Stdout)
	}
	log := f.ExecLog(sb.ExternalID)
	last := log[len(log)-1]
	if !reflect.DeepEqual(last.Argv, argv) || last.Path != "printf" || last.Dir != "/home/sprite" || !last.Stdin {
		t.Errorf("exec request = %+v", last)
	}
	if want := []string{"HOME", "LANG", "PATH", "REQ_VAR", "SPEC_VAR", "USER"}; !reflect.DeepEqual(last.EnvNames, want) {
		t.Errorf("env names sent = %v, want %v (the whole environment, since env replaces the sprite's)", last.EnvNames, want)
	}
	if err := e.WriteFile(t.Context(), sb.ExternalID, "/tmp/abs.txt", []byte("abs")); err != nil {
		t.Errorf("WriteFile of an absolute path in the sprite: %v", err)
	}
	res, err = e.Exec(t.Context(), sb.ExternalID, backend.ExecRequest{Argv: []string{"cat", "abs.txt"}, Cwd: "/tmp"})
	if err != nil || string(res.Stdout) != "abs" {
		t.Errorf("cat in /tmp = %+v, %v", res, err)
	}
	for _, p := range []string{".terraform-provider-sandbox/state.json", "/home/sprite/.terraform-provider-sandbox/x"} {
		if _, err := e.ReadFile(t.Context(), sb.ExternalID, p); err == nil {
			t.Errorf("ReadFile(%s) of the provider's state = nil error", p)
		}
	}
	// The sandbox's timeout is the default command timeout.
	start := time.Now()
	res, err = e.Exec(t.Context(), sb.ExternalID, backend.ExecRequest{Argv: []string{"sleep", "30"}, Timeout: 500 * time.Millisecond})
	if err != nil || !res.TimedOut || res.ExitCode != 128+9 {
		t.Errorf("sleep with a 0.5 s timeout = %+v, %v; want TimedOut with exit code 137 (SIGKILL)", res, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the timeout took %s", time.Since(start))
	}
}

func TestDeleteWaitsAndIsIdempotent(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb, err := e.CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: backend.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	f.Faults().Add(harness.Fault{Route: "DELETE /v1/sprites/{name}", Status: 503, Body: "try again"})
	if err := e.DeleteSandbox(t.Context(), sb.ExternalID); err != nil {
		t.Fatalf("DeleteSandbox after a 503: %v", err)
	}
	if _, ok := f.Sprite(sb.ExternalID); ok {
		t.Error("the sprite is still there")
	}
	if err := e.DeleteSandbox(t.Context(), sb.ExternalID); err != nil {
		t.Errorf("DeleteSandbox of a deleted sprite = %v", err)
	}
	f.Faults().Add(harness.Fault{Route: "DELETE /v1/sprites/{name}", Times: 100, Status: 403, Body: `{"error":"forbidden"}`})
	defer f.Faults().Clear()
	sb2 := createSandbox(t, e, backend.SandboxSpec{})
	if err := e.DeleteSandbox(t.Context(), sb2.ExternalID); err == nil {
		t.Error("DeleteSandbox with a 403 = nil; an engine error must never be swallowed")
	}
	f.Faults().Clear()
}
