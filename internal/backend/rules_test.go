package backend_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// acceptingEngine accepts every spec, so that only the engine-neutral rules can refuse one.
type acceptingEngine struct{ backend.Engine }

func (acceptingEngine) ValidateSpec(backend.SandboxSpec) error { return nil }

// The engine-neutral rules refuse what no engine accepts, on the attribute, before the engine is asked.
func TestValidateSandboxSpecNeutralRules(t *testing.T) {
	for _, c := range []struct {
		spec backend.SandboxSpec
		path string
		msg  string
	}{
		{backend.SandboxSpec{VCPUs: -1}, "vcpus", "must not be negative"},
		{backend.SandboxSpec{Timeout: -time.Second}, "timeout", "must not be negative"},
		{backend.SandboxSpec{Env: map[string]string{"1BAD": "x"}}, "env", "not valid"},
		{backend.SandboxSpec{Env: map[string]string{"A=B": "x"}}, "env", "not valid"},
		{backend.SandboxSpec{Env: map[string]string{"OK": "a\x00b"}}, "env", "contains NUL"},
	} {
		err := backend.ValidateSandboxSpec(acceptingEngine{}, c.spec)
		var ae *backend.AttrError
		if !errors.As(err, &ae) || !slices.Equal(ae.Path, []string{c.path}) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: %v; want an AttrError on %s saying %q", c.spec, err, c.path, c.msg)
		}
		if strings.Contains(fmtErr(err), "a\x00b") {
			t.Errorf("the error shows an env value: %v", err)
		}
	}
	if err := backend.ValidateSandboxSpec(acceptingEngine{}, backend.SandboxSpec{VCPUs: 2, Timeout: time.Minute, Env: map[string]string{"_A1": "x"}}); err != nil {
		t.Errorf("a valid spec: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestCommandTimeout(t *testing.T) {
	for _, c := range []struct{ req, sb, def, want time.Duration }{
		{time.Second, time.Minute, time.Hour, time.Second},
		{0, time.Minute, time.Hour, time.Minute},
		{0, 0, time.Hour, time.Hour},
		{-1, -1, time.Hour, time.Hour},
	} {
		if got := backend.CommandTimeout(c.req, c.sb, c.def); got != c.want {
			t.Errorf("CommandTimeout(%s, %s, %s) = %s; want %s", c.req, c.sb, c.def, got, c.want)
		}
	}
	if err := backend.CheckTimeout("setup timeout", -time.Second); err == nil || !strings.HasPrefix(err.Error(), "setup timeout must not be negative") {
		t.Errorf("CheckTimeout(-1s) = %v", err)
	}
}

// Engine names are reserved params keys, whichever engines the caller names (the provider: its registry).
func TestCheckParamsReservesEngineNames(t *testing.T) {
	if err := backend.CheckParams(map[string]any{"newengine": 1}, []string{"local", "newengine"}); err == nil {
		t.Error("a registered engine's name is accepted as a params key")
	}
	if err := backend.CheckParams(map[string]any{"team": 1}, []string{"local"}); err != nil {
		t.Errorf("a caller's own key: %v", err)
	}
	if err := backend.CheckParams(map[string]any{"terraform": 1}, nil); err == nil {
		t.Error("the provider's bookkeeping key is accepted")
	}
}
