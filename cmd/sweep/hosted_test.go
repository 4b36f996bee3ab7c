package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
)

// TestHostedEnvNamesMatchProvider keeps hostedSettings equal to the provider's hostedEngineSettings (names,
// environment variables and their order), read from internal/provider/engines_config.go with go/parser.
func TestHostedEnvNamesMatchProvider(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "..", "internal", "provider", "engines_config.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	str := func(e ast.Expr) string {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Fatalf("engines_config.go: %T where a string literal was expected", e)
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	composite := func(e ast.Expr) *ast.CompositeLit {
		c, ok := e.(*ast.CompositeLit)
		if !ok {
			t.Fatalf("engines_config.go: %T where a composite literal was expected", e)
		}
		return c
	}
	got := map[string][]hostedSetting{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "hostedEngineSettings" || len(vs.Values) != 1 {
			return true
		}
		for _, el := range composite(vs.Values[0]).Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				t.Fatalf("engines_config.go: %T in hostedEngineSettings", el)
			}
			engine := str(kv.Key)
			for _, setting := range composite(kv.Value).Elts {
				fields := composite(setting).Elts
				hs := hostedSetting{name: str(fields[0])}
				for _, e := range composite(fields[1]).Elts {
					hs.envs = append(hs.envs, str(e))
				}
				got[engine] = append(got[engine], hs)
			}
		}
		return false
	})
	if len(got) == 0 {
		t.Fatal("hostedEngineSettings not found in internal/provider/engines_config.go")
	}
	if !reflect.DeepEqual(got, hostedSettings) {
		t.Errorf("cmd/sweep's hostedSettings differ from the provider's hostedEngineSettings:\nprovider: %v\nsweep:    %v", got, hostedSettings)
	}
	for engine, creds := range hostedCredentials {
		for _, c := range creds {
			found := false
			for _, hs := range hostedSettings[engine] {
				found = found || hs.name == c
			}
			if !found {
				t.Errorf("credential %s.%s is not a setting", engine, c)
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
	want := map[string]map[string]string{
		"daytona": {"jwt_token": "jwt", "api_url": "http://d"},
		"vercel":  {"token": "tok"},
		"sprites": {"token": "s1", "api_url": "http://s"},
	}
	if !reflect.DeepEqual(s.hosted, want) {
		t.Errorf("hosted settings %v; want %v", s.hosted, want)
	}
	// A JWT without its organization is refused by the engine, as the provider refuses it: an error, not a skip.
	s.localRoot, s.isolation = t.TempDir(), local.IsolationNone
	engines, notes, failed, err := s.engines()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := engines["daytona"]; ok || failed["daytona"] == nil || !strings.Contains(failed["daytona"].Error(), "DAYTONA_ORGANIZATION_ID") {
		t.Errorf("daytona with a JWT and no organization: engines %v, failed %v", engineNames(engines), failed)
	}
	if failed["vercel"] == nil || !strings.Contains(failed["vercel"].Error(), "team") {
		t.Errorf("vercel without team: failed %v", failed)
	}
	if _, ok := engines["sprites"]; !ok {
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
	vars := map[string]string{EnvSQLitePath: filepath.Join(dir, "records.db"), EnvLocalRoot: filepath.Join(dir, "local"), EnvLocalIsolation: local.IsolationNone}
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
	engines, _, failed, err := cfg.engines()
	if err != nil || len(failed) > 0 {
		t.Fatalf("engines: %v %v", err, failed)
	}
	if got := strings.Join(engineNames(engines), ","); got != "local,daytona,vercel,sprites" {
		t.Fatalf("engines %s; want local,daytona,vercel,sprites", got)
	}
	st, err := sqlite.Open(vars[EnvSQLitePath])
	if err != nil {
		t.Fatal(err)
	}
	var orphans []string
	for _, name := range hostedEngines {
		missing, shut := backend.NewID(), backend.NewID()
		if _, err := st.Create(t.Context(), backend.EntitySandboxes, shut, backend.Attrs{"provider": name, "status": backend.StatusShutdown}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{missing, shut} {
			if _, err := engines[name].CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: id}); err != nil {
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
	vars := map[string]string{EnvSQLitePath: filepath.Join(dir, "records.db"), EnvLocalRoot: filepath.Join(dir, "local"), EnvLocalIsolation: local.IsolationNone}
	st, err := sqlite.Open(vars[EnvSQLitePath])
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, name := range hostedEngines {
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
	for _, name := range hostedEngines {
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
