package backend

import (
	"fmt"
	"slices"
	"strings"
)

// EngineDescriptor is everything the provider, sweep and the docs need to know about an engine without making
// one: its name, the settings of its provider block with their environment fallbacks, how to make it from
// those settings, and what it can do. Each engine package exports one (e.g. daytona.Descriptor) and the
// registry (internal/backend/engines) lists them; adding an engine is one package and one line there.
// A descriptor is plain data: the provider turns it into Terraform schema.
type EngineDescriptor struct {
	// Name is the engine's name: the value of `backend` and of records' provider field, and the name of its
	// provider block and of its option block in resources.
	Name string
	// Doc is the Markdown description of the engine's provider block; "" for the hosted engines' common text
	// (credentials, required only once a resource uses the engine).
	Doc string
	// Settings are the attributes of the engine's provider block.
	Settings []Setting
	// New makes the engine from its resolved settings (attribute, then environment, then default; "" when
	// none says).
	New func(settings map[string]string) (Engine, error)
	// Capabilities is what the engine declares it can do, for plan-time checks that need no credentials. A
	// made engine may narrow them (Engine.Capabilities: the local engine without isolation has no volumes).
	Capabilities Capabilities
	// Options are the engine's option blocks, by the kind of resource they belong to: each becomes a
	// `<Name> {}` block of that resource, allowed only with `backend = "<Name>"`, whose values reach the
	// engine as the spec's Options and are recorded under params.<Name>. A kind not listed has no block.
	Options map[ResourceKind]OptionBlock
	// CheckOptions checks a block's values across options at plan time (nil = no such rules).
	CheckOptions OptionCheck
	// ResourceDocs are Markdown paragraphs the engine adds to the description of each kind of resource (what
	// a workspace is on this engine), each starting with a space.
	ResourceDocs map[ResourceKind]string
	// AttributeDocs are Markdown sentences the engine adds to the description of resources' own attributes
	// (what `urls` are on this engine), by kind and attribute name, each starting with a space.
	AttributeDocs map[ResourceKind]map[string]string
}

// Setting is one attribute of an engine's provider block.
type Setting struct {
	Name string
	// Doc is the Markdown description, without the environment fallback (which is written from Envs,
	// DefaultDoc and Note).
	Doc string
	// Envs are the environment variables the setting falls back to, first set wins.
	Envs []string
	// Default gives the value when neither the attribute nor the environment sets one (nil = none: the engine
	// applies its own default). An error is reported on the attribute.
	Default func() (string, error)
	// DefaultDoc says in Markdown what Default gives, for the description ("" = nothing to say).
	DefaultDoc string
	// Note is Markdown added after the fallback sentence (a caveat).
	Note string
	// Sensitive settings are secrets: never written to records, state or logs.
	Sensitive bool
	// Credential: one of an engine's credentials; an engine none of whose credentials is set is not
	// configured (sweep reports its records instead of sweeping them).
	Credential bool
	// OneOf, when set, lists the accepted values.
	OneOf []string
	// NonEmpty refuses "" as the attribute's value.
	NonEmpty bool
	// Label names the setting's value where sweep describes the engine it reaches ("API", "team"); "" = not
	// shown. Never set on a sensitive setting.
	Label string
}

// Made returns what an engine package's New returned as a backend.Engine, for a descriptor's New: nil (not a
// nil *Engine in a non-nil interface) with the error.
func Made[E Engine](e E, err error) (Engine, error) {
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Lookup returns the setting named name.
func (d EngineDescriptor) Lookup(name string) (Setting, bool) {
	for _, s := range d.Settings {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

// CredentialEnvs are the environment variables of the engine's credentials, in order.
func (d EngineDescriptor) CredentialEnvs() []string {
	var out []string
	for _, s := range d.Settings {
		if s.Credential {
			out = append(out, s.Envs...)
		}
	}
	return out
}

// HasCredentials reports whether the engine has credentials at all (a hosted engine).
func (d EngineDescriptor) HasCredentials() bool {
	for _, s := range d.Settings {
		if s.Credential {
			return true
		}
	}
	return false
}

// Configured reports whether resolved settings hold one of the engine's credentials; an engine without
// credentials is always configured.
func (d EngineDescriptor) Configured(settings map[string]string) bool {
	if !d.HasCredentials() {
		return true
	}
	for _, s := range d.Settings {
		if s.Credential && settings[s.Name] != "" {
			return true
		}
	}
	return false
}

// SettingError is a setting's value (or missing default) that cannot be used, about one attribute of an
// engine's provider block.
type SettingError struct {
	Engine, Setting string
	Summary, Detail string
}

func (e *SettingError) Error() string { return e.Detail }

// ResolveSettings resolves an engine's settings: the configured value (set holds those of the provider
// block; nil or "" = unset), then the environment variables in order, then the setting's default. A value
// outside OneOf and a default that cannot be found are SettingErrors.
func (d EngineDescriptor) ResolveSettings(set map[string]string, getenv func(string) string) (map[string]string, error) {
	out := make(map[string]string, len(d.Settings))
	for _, s := range d.Settings {
		v := set[s.Name]
		for _, e := range s.Envs {
			if v != "" {
				break
			}
			v = getenv(e)
		}
		if v == "" && s.Default != nil {
			def, err := s.Default()
			if err != nil {
				return out, &SettingError{Engine: d.Name, Setting: s.Name, Summary: "No default " + d.Name + " " + s.Name,
					Detail: fmt.Sprintf("%v: set %s.%s or %s.", err, d.Name, s.Name, strings.Join(s.Envs, " or "))}
			}
			v = def
		}
		if len(s.OneOf) > 0 && !slices.Contains(s.OneOf, v) {
			src := d.Name + "." + s.Name
			if set[s.Name] == "" && len(s.Envs) > 0 {
				src = s.Envs[0]
			}
			q := make([]string, len(s.OneOf))
			for i, o := range s.OneOf {
				q[i] = fmt.Sprintf("%q", o)
			}
			return out, &SettingError{Engine: d.Name, Setting: s.Name, Summary: "Unknown " + s.Name,
				Detail: fmt.Sprintf("%s is %q; use %s.", src, v, strings.Join(q, " or "))}
		}
		out[s.Name] = v
	}
	return out, nil
}
