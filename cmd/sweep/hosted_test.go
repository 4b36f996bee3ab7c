package main

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
)

// TestEngineSettingsFromRegistry: sweep resolves every registered engine's settings from the fallbacks its
// descriptor declares (the one definition the provider's blocks are made from too), first set wins.
func TestEngineSettingsFromRegistry(t *testing.T) {
	for _, d := range engines.All {
		for _, st := range d.Settings {
			for i, e := range st.Envs {
				vars := map[string]string{EnvSQLitePath: "/nonexistent/records.db", local.EnvRoot: t.TempDir()}
				if st.OneOf != nil {
					vars[e] = st.OneOf[len(st.OneOf)-1]
				} else {
					vars[e] = "value-of-" + e
				}
				for _, later := range st.Envs[i+1:] {
					vars[later] = "later-" + later
				}
				s, err := settingsFromEnv(env(vars))
				if err == nil {
					err = s.override("", "", "")
				}
				if err != nil {
					t.Fatalf("%s.%s from %s: %v", d.Name, st.Name, e, err)
				}
				if got := s.engineSettings[d.Name][st.Name]; got != vars[e] {
					t.Errorf("%s.%s with %s set: %q; want %q", d.Name, st.Name, e, got, vars[e])
				}
			}
		}
	}
}

func TestHostedSettingsFromEnv(t *testing.T) {
	s, err := settingsFromEnv(env(map[string]string{
		"DAYTONA_JWT_TOKEN": "jwt", "DAYTONA_SERVER_URL": "http://d", "VERCEL_OIDC_TOKEN": "oidc", "VERCEL_TOKEN": "tok",
		"SPRITE_TOKEN": "s1", "SPRITES_TOKEN": "s2", "SPRITES_API_BASE_URL": "http://s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s.getenv = env(map[string]string{
		"DAYTONA_JWT_TOKEN": "jwt", "DAYTONA_SERVER_URL": "http://d", "VERCEL_OIDC_TOKEN": "oidc", "VERCEL_TOKEN": "tok",
		"SPRITE_TOKEN": "s1", "SPRITES_TOKEN": "s2", "SPRITES_API_BASE_URL": "http://s", local.EnvIsolation: local.IsolationNone,
	})
	if err := s.override("", "", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"daytona": {"api_key": "", "jwt_token": "jwt", "organization_id": "", "api_url": "http://d", "target": ""},
		"vercel":  {"token": "tok", "team_id": "", "project_id": "", "api_url": ""},
		"sprites": {"token": "s1", "api_url": "http://s"},
	}
	for name, w := range want {
		if !reflect.DeepEqual(s.engineSettings[name], w) {
			t.Errorf("%s settings %v; want %v", name, s.engineSettings[name], w)
		}
	}
	// A JWT without its organization is refused by the engine, as the provider refuses it: an error, not a skip.
	made, notes, failed, err := s.engines()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := made["daytona"]; ok || failed["daytona"] == nil || !strings.Contains(failed["daytona"].Error(), "DAYTONA_ORGANIZATION_ID") {
		t.Errorf("daytona with a JWT and no organization: engines %v, failed %v", engineNames(made), failed)
	}
	if failed["vercel"] == nil || !strings.Contains(failed["vercel"].Error(), "team") {
		t.Errorf("vercel without team: failed %v", failed)
	}
	if _, ok := made["sprites"]; !ok {
		t.Errorf("sprites with a token is not made: %v (notes %v)", failed, notes)
	}
	for _, n := range notes {
		if strings.Contains(n, "jwt") || strings.Contains(n, "tok") || strings.Contains(n, "s1") {
			t.Errorf("a note shows a credential: %s", n)
		}
	}
}

// fakes are the three hosted engines' strict fakes and the environment that points sweep at them.
type fakes struct {
	daytona *daytonafake.Server
	vercel  *vercelfake.Fake
	sprites *spritesfake.Fake
	env     map[string]string
}

const testDaytonaKey = "dtn_sweep_test_key_0123456789"

func startFakes(t *testing.T) *fakes {
	t.Helper()
	f := &fakes{daytona: daytonafake.New(daytonafake.Options{APIKey: testDaytonaKey, Root: t.TempDir()})}
	t.Cleanup(f.daytona.Close)
	var err error
	if f.vercel, err = vercelfake.New(vercelfake.Config{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.vercel.Close)
	f.sprites = spritesfake.Start(t, spritesfake.Options{Root: t.TempDir()})
	vc := f.vercel.Config()
	f.env = map[string]string{
		"DAYTONA_API_KEY": testDaytonaKey, "DAYTONA_API_URL": f.daytona.URL(),
		"VERCEL_TOKEN": vc.Token, "VERCEL_TEAM_ID": vc.TeamID, "VERCEL_PROJECT_ID": vc.ProjectID, "VERCEL_API_URL": f.vercel.URL(),
		"SPRITES_API_TOKEN": f.sprites.Token(), "SPRITES_API_URL": f.sprites.URL(),
	}
	return f
}

// live lists what each fake holds, from the fake's side (not through the engines).
func (f *fakes) live() map[string][]string {
	return map[string][]string{"daytona": f.daytona.LiveSandboxNames(), "vercel": f.vercel.Names(), "sprites": f.sprites.Names()}
}

// TestRunHostedEngines: on each hosted engine's fake, a sandbox labelled with a record id that has no record
// and one whose record is shutdown are reported by a dry run (exit 3, nothing removed), removed by -apply
// (exit 0), and the fakes hold nothing afterwards.
func TestRunHostedEngines(t *testing.T) {
	fk := startFakes(t)
	dir := t.TempDir()
	vars := map[string]string{EnvSQLitePath: filepath.Join(dir, "records.db"), local.EnvRoot: filepath.Join(dir, "local"), local.EnvIsolation: local.IsolationNone}
	for k, v := range fk.env {
		vars[k] = v
	}
	cfg, err := settingsFromEnv(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.override("", "", ""); err != nil {
		t.Fatal(err)
	}
	made, _, failed, err := cfg.engines()
	if err != nil || len(failed) > 0 {
		t.Fatalf("engines: %v %v", err, failed)
	}
	if got := strings.Join(engineNames(made), ","); got != "local,daytona,vercel,sprites" {
		t.Fatalf("engines %s; want local,daytona,vercel,sprites", got)
	}
	st, err := sqlite.Open(vars[EnvSQLitePath])
	if err != nil {
		t.Fatal(err)
	}
	var orphans []string
	for _, name := range hostedEngineNames() {
		missing, shut := backend.NewID(), backend.NewID()
		if _, err := st.Create(t.Context(), backend.EntitySandboxes, shut, backend.Attrs{"provider": name, "status": backend.StatusShutdown}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{missing, shut} {
			if _, err := made[name].CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: id}); err != nil {
				t.Fatalf("%s: creating the orphan: %v", name, err)
			}
		}
		orphans = append(orphans, missing, shut)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for name, objs := range fk.live() {
		if len(objs) != 2 {
			t.Fatalf("%s fake holds %v; want the two orphans", name, objs)
		}
	}

	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"-unattributed"}, env(vars), nil, &out, &errOut); code != exitFindings {
		t.Fatalf("dry run: exit %d; want %d\n%s%s", code, exitFindings, out.String(), errOut.String())
	}
	for _, id := range orphans {
		if !strings.Contains(out.String(), id) {
			t.Errorf("the dry run does not report %s:\n%s", id, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "engines: local, daytona, vercel, sprites") {
		t.Errorf("stderr does not name every engine: %s", errOut.String())
	}
	for name, objs := range fk.live() {
		if len(objs) != 2 {
			t.Errorf("the dry run changed the %s fake: %v", name, objs)
		}
	}
	for _, secret := range []string{testDaytonaKey, fk.env["VERCEL_TOKEN"], fk.env["SPRITES_API_TOKEN"]} {
		if strings.Contains(out.String()+errOut.String(), secret) {
			t.Errorf("the output shows a credential")
		}
	}

	out.Reset()
	if code := run(t.Context(), []string{"-apply", "-unattributed"}, env(vars), nil, &out, &errOut); code != exitClean {
		t.Fatalf("apply: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if n := strings.Count(out.String(), " done "); n != len(orphans) {
		t.Errorf("apply removed %d; want %d:\n%s", n, len(orphans), out.String())
	}
	for name, objs := range fk.live() {
		if len(objs) != 0 {
			t.Errorf("the %s fake still holds %v after sweep -apply", name, objs)
		}
	}
	out.Reset()
	if code := run(t.Context(), nil, env(vars), nil, &out, &errOut); code != exitClean || !strings.Contains(out.String(), "clean") {
		t.Errorf("after apply: exit %d\n%s", code, out.String())
	}
}

// TestRunHostedNotConfigured: without a hosted engine's credential, its records are reported as "engine not
// configured" and left alone, and a note says so; a refused configuration fails the run (exit 1).
func TestRunHostedNotConfigured(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{EnvSQLitePath: filepath.Join(dir, "records.db"), local.EnvRoot: filepath.Join(dir, "local"), local.EnvIsolation: local.IsolationNone}
	st, err := sqlite.Open(vars[EnvSQLitePath])
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, name := range hostedEngineNames() {
		ids[name] = backend.NewID()
		if _, err := st.Create(t.Context(), backend.EntitySandboxes, ids[name], backend.Attrs{"provider": name, "status": backend.StatusCreating, "createdAt": int64(1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"-apply"}, env(vars), nil, &out, &errOut); code != exitClean {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, name := range hostedEngineNames() {
		line := ""
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, ids[name]) {
				line = l
			}
		}
		if !strings.Contains(line, "engine not configured") || !strings.Contains(line, "left alone") {
			t.Errorf("%s record: %q", name, line)
		}
		if !strings.Contains(out.String(), "note: "+name+": not configured") {
			t.Errorf("no not-configured note for %s:\n%s", name, out.String())
		}
	}

	vars["VERCEL_TOKEN"] = "tok" // no team, no project
	out.Reset()
	if code := run(t.Context(), nil, env(vars), nil, &out, &errOut); code != exitFailed || !strings.Contains(out.String(), "vercel") ||
		!strings.Contains(out.String(), "no team") {
		t.Errorf("a refused vercel configuration: exit %d\n%s", code, out.String())
	}
}

// hostedEngineNames are the registered engines that have credentials.
func hostedEngineNames() []string {
	var out []string
	for _, d := range engines.All {
		if d.HasCredentials() {
			out = append(out, d.Name)
		}
	}
	return out
}
