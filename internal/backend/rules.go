package backend

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The engine-neutral rules: what no engine accepts, checked once here. The lifecycle applies them before it
// asks the engine (ValidateSandboxSpec), the provider applies them at plan time for every engine, and the
// engines call them where a request reaches them directly (CheckEnv, CheckTimeout, CommandTimeout).

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckEnv refuses environment variable names that a shell cannot hold (commands may run through sh:
// letters, digits and _, not starting with a digit) and values with a NUL byte (a C string ends there). It
// never shows a value: values may be secrets.
func CheckEnv(env map[string]string) error {
	for k, v := range env {
		if !envNameRE.MatchString(k) {
			return fmt.Errorf("env name %q is not valid: letters, digits and _, not starting with a digit", k)
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("env %s: the value contains NUL", k)
		}
	}
	return nil
}

// CheckTimeout refuses a negative timeout (0 is the engine's default); what names it ("timeout", "setup
// timeout", "command timeout").
func CheckTimeout(what string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s must not be negative, got %s", what, d)
	}
	return nil
}

// CheckSandboxSpec checks the engine-neutral rules of a sandbox spec, each refusal an *AttrError on its
// attribute: vcpus and timeout not negative, env names and values.
func CheckSandboxSpec(spec SandboxSpec) error {
	if spec.VCPUs < 0 {
		return NewAttrError(fmt.Errorf("vcpus must not be negative, got %d", spec.VCPUs), "vcpus")
	}
	if err := CheckTimeout("timeout", spec.Timeout); err != nil {
		return NewAttrError(err, "timeout")
	}
	if err := CheckEnv(spec.Env); err != nil {
		return NewAttrError(err, "env")
	}
	return nil
}

// ValidateSandboxSpec is the one check of a sandbox spec: the engine-neutral rules, then the engine's own
// (Engine.ValidateSpec). The lifecycle calls it before each create and the provider at plan time.
func ValidateSandboxSpec(eng Engine, spec SandboxSpec) error {
	if err := CheckSandboxSpec(spec); err != nil {
		return err
	}
	return eng.ValidateSpec(spec)
}

// CommandTimeout is a command's effective timeout: the first positive of the request's, the sandbox's (or
// workspace's) and the engine's default.
func CommandTimeout(request, sandbox, engineDefault time.Duration) time.Duration {
	switch {
	case request > 0:
		return request
	case sandbox > 0:
		return sandbox
	}
	return engineDefault
}
