package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
)

// TestEnvNamesMatchProvider keeps the environment variable names equal to the provider's, read from its source
// so that this command need not link the provider.
func TestEnvNamesMatchProvider(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "internal", "provider", "provider.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{
		"EnvRecords": EnvRecords, "EnvSQLitePath": EnvSQLitePath,
		"EnvInstantAppID": EnvInstantAppID, "EnvInstantAppIDJS": EnvInstantAppIDJS,
		"EnvInstantToken": EnvInstantToken, "EnvInstantAPIURL": EnvInstantAPIURL, "EnvPostgresURL": EnvPostgresURL,
		"EnvPostgresSchema": EnvPostgresSchema,
	} {
		re := regexp.MustCompile(`(?m)^\s*` + name + `\s*=\s*"` + regexp.QuoteMeta(value) + `"`)
		if !re.Match(src) {
			t.Errorf("internal/provider/provider.go does not define %s = %q", name, value)
		}
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSettingsPrecedence(t *testing.T) {
	id, tok := "5f0c7a8e-2d3b-4c1a-9e8f-7b6a5c4d3e2f", "6f0c7a8e-2d3b-4c1a-9e8f-7b6a5c4d3e2f"
	for _, tc := range []struct {
		env     map[string]string
		want    string
		wantErr bool
	}{
		{map[string]string{}, recordsSQLite, false},
		{map[string]string{EnvPostgresURL: "postgres://x"}, recordsPostgres, false},
		{map[string]string{EnvInstantAppIDJS: id, EnvInstantToken: tok}, recordsInstantDB, false},
		{map[string]string{EnvInstantAppID: id}, recordsSQLite, false},
		{map[string]string{EnvPostgresURL: "postgres://x", EnvInstantAppID: id, EnvInstantToken: tok}, "", true},
		{map[string]string{EnvPostgresURL: "postgres://x", EnvInstantAppID: id, EnvInstantToken: tok, EnvRecords: "instantdb"}, recordsInstantDB, false},
		{map[string]string{local.EnvIsolation: "docker"}, "", true},
	} {
		s, err := settingsFromEnv(env(tc.env))
		if err == nil {
			err = s.override("", "", t.TempDir())
		}
		if (err != nil) != tc.wantErr || (!tc.wantErr && s.records != tc.want) {
			t.Errorf("%v: records %q, err %v; want %q (error: %v)", tc.env, s.records, err, tc.want, tc.wantErr)
		}
	}
	s, _ := settingsFromEnv(env(map[string]string{EnvPostgresURL: "postgres://u:secret@h/db"}))
	if strings.Contains(s.describe(), "secret") {
		t.Errorf("describe shows the URL: %s", s.describe())
	}
	if err := s.override("mysql", "", ""); err == nil {
		t.Error("unknown -records accepted")
	}
}

func TestStateRecordIDs(t *testing.T) {
	id1, id2 := backend.NewID(), backend.NewID()
	state := `{"version":4,"resources":[
	  {"mode":"managed","type":"sandbox_sandbox","instances":[{"attributes":{"id":"` + id1 + `"}},{"attributes":{"id":"` + id2 + `"}}]},
	  {"mode":"managed","type":"terraform_data","instances":[{"attributes":{"id":"` + backend.NewID() + `"}}]},
	  {"mode":"data","type":"sandbox_records","instances":[{"attributes":{"id":"` + backend.NewID() + `"}}]}]}`
	ids, err := stateRecordIDs("-", strings.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != id1+","+id2 {
		t.Errorf("ids %v; want %s, %s", ids, id1, id2)
	}
	if ids, err := stateRecordIDs("-", strings.NewReader("\n")); err != nil || len(ids) != 0 {
		t.Errorf("an empty state file (as a killed terraform leaves it): %v, %v; want no ids", ids, err)
	}
	if _, err := stateRecordIDs("-", strings.NewReader(`{"version":3}`)); err == nil {
		t.Error("version 3 accepted")
	}
}

// TestRun runs the command on a SQLite file and a local root: a dry run reports and exits 3, -apply removes
// and exits 0, and the next run is clean. -h prints the usage.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	dbPath, root := filepath.Join(dir, "records.db"), filepath.Join(dir, "local")
	vars := map[string]string{EnvSQLitePath: dbPath, local.EnvRoot: root, local.EnvIsolation: local.IsolationNone}

	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{}, env(vars), nil, &out, &errOut); code != exitFailed || !strings.Contains(errOut.String(), "no SQLite records") {
		t.Errorf("no records file: exit %d, %s", code, errOut.String())
	}

	st, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := local.New(local.Config{Root: root, Isolation: local.IsolationNone})
	if err != nil {
		t.Fatal(err)
	}
	orphan := backend.NewID()
	if _, err := eng.CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: orphan}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// An object labelled with a record id that no record has may belong to another store: reported only.
	out.Reset()
	errOut.Reset()
	if code := run(t.Context(), []string{"-apply"}, env(vars), nil, &out, &errOut); code != exitClean || !strings.Contains(out.String(), "cannot attribute") {
		t.Errorf("apply without -unattributed: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if sbs, _ := eng.ListSandboxes(t.Context()); len(sbs) != 1 {
		t.Errorf("sweep without -unattributed removed the object without a record")
	}

	out.Reset()
	errOut.Reset()
	if code := run(t.Context(), []string{"-unattributed"}, env(vars), nil, &out, &errOut); code != exitFindings {
		t.Errorf("dry run: exit %d; want %d\n%s%s", code, exitFindings, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), orphan) || !strings.Contains(out.String(), "dry run") {
		t.Errorf("dry run output:\n%s", out.String())
	}
	if sbs, _ := eng.ListSandboxes(t.Context()); len(sbs) != 1 {
		t.Errorf("dry run removed the orphan")
	}

	out.Reset()
	if code := run(t.Context(), []string{"-apply", "-json", "-unattributed"}, env(vars), nil, &out, &errOut); code != exitClean {
		t.Errorf("apply: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), `"applied": true`) {
		t.Errorf("json output:\n%s", out.String())
	}
	if sbs, _ := eng.ListSandboxes(t.Context()); len(sbs) != 0 {
		t.Errorf("apply left %d sandboxes", len(sbs))
	}

	out.Reset()
	if code := run(t.Context(), nil, env(vars), nil, &out, &errOut); code != exitClean || !strings.Contains(out.String(), "clean") {
		t.Errorf("after apply: exit %d\n%s", code, out.String())
	}

	errOut.Reset()
	if code := run(t.Context(), []string{"-h"}, env(vars), nil, &out, &errOut); code != exitClean || !strings.Contains(errOut.String(), "-apply") {
		t.Errorf("-h: exit %d\n%s", code, errOut.String())
	}
	if code := run(t.Context(), []string{"extra"}, env(vars), nil, &out, &errOut); code != exitUsage {
		t.Errorf("extra argument: exit %d", code)
	}
}

func TestStateScope(t *testing.T) {
	dir := t.TempDir()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(dir, "terraform.tfstate"):                                   backend.ScopeOf(real, "default"),
		filepath.Join(dir, "terraform.tfstate.d", "staging", "terraform.tfstate"): backend.ScopeOf(real, "staging"),
		filepath.Join(dir, "pulled.json"):                                         "",
		"-":                                                                       "",
	} {
		if got := stateScope(path); got != want {
			t.Errorf("stateScope(%s) = %q, want %q", path, got, want)
		}
	}
}
