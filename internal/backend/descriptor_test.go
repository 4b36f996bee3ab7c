package backend_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var testDescriptor = backend.EngineDescriptor{
	Name: "test",
	Settings: []backend.Setting{
		{Name: "token", Envs: []string{"T1", "T2"}, Sensitive: true, Credential: true},
		{Name: "root", Envs: []string{"ROOT"}, Default: func() (string, error) { return "", errors.New("no home") }},
		{Name: "mode", Envs: []string{"MODE"}, Default: func() (string, error) { return "a", nil }, OneOf: []string{"a", "b"}},
	},
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Settings resolve as the provider documents them: the block's value, then each environment variable in
// order, then the default; a value outside OneOf and a default that cannot be found are errors on the setting.
func TestResolveSettings(t *testing.T) {
	got, err := testDescriptor.ResolveSettings(map[string]string{"root": "/r"}, envOf(map[string]string{"T2": "t2", "MODE": "b"}))
	if err != nil || got["token"] != "t2" || got["root"] != "/r" || got["mode"] != "b" {
		t.Errorf("env fallbacks: %v, %v", got, err)
	}
	got, err = testDescriptor.ResolveSettings(map[string]string{"token": "blk", "root": "/r"}, envOf(map[string]string{"T1": "t1"}))
	if err != nil || got["token"] != "blk" || got["mode"] != "a" {
		t.Errorf("block over env, default: %v, %v", got, err)
	}
	_, err = testDescriptor.ResolveSettings(nil, envOf(nil))
	var se *backend.SettingError
	if !errors.As(err, &se) || se.Setting != "root" || !strings.Contains(se.Detail, "no home: set test.root or ROOT") {
		t.Errorf("missing default: %v", err)
	}
	_, err = testDescriptor.ResolveSettings(map[string]string{"root": "/r"}, envOf(map[string]string{"MODE": "c"}))
	if !errors.As(err, &se) || se.Setting != "mode" || se.Detail != `MODE is "c"; use "a" or "b".` {
		t.Errorf("OneOf: %v", err)
	}
	if testDescriptor.Configured(map[string]string{"root": "/r"}) || !testDescriptor.Configured(map[string]string{"token": "x"}) {
		t.Error("Configured does not follow the credential")
	}
	if envs := strings.Join(testDescriptor.CredentialEnvs(), ","); envs != "T1,T2" {
		t.Errorf("CredentialEnvs = %s", envs)
	}
}

// A descriptor's New returns a nil Engine with its error, never a nil pointer inside a non-nil interface.
func TestMadeNilOnError(t *testing.T) {
	var typed *acceptingEngineP
	if e, err := backend.Made(typed, errors.New("refused")); e != nil || err == nil {
		t.Errorf("Made(nil, err) = %v, %v; want a nil Engine and the error", e, err)
	}
}

type acceptingEngineP struct{ acceptingEngine }
