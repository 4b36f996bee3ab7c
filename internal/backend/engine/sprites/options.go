package sprites

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Options of the sprites block (SandboxSpec.Options, WorkspaceSpec.Options, SetupSpec.Options).
const (
	// OptionName is the sprite's name; default "ekairos-<record id>" for a sandbox (as @ekairos/sandbox names
	// them) and "ekairos-ws-<record id>" for a workspace. Lowercase letters, digits and inner hyphens, at most
	// 63 characters. Not accepted for setups, whose builder is named after the fingerprint.
	OptionName = "name"
	// OptionURLAuth is url_settings.auth: "sprite" (default: the URL needs an org token or an org member's
	// browser session) or "public" (anyone on the internet can reach it).
	OptionURLAuth = "url_auth"
	// OptionWaitForCapacity makes create wait for VM capacity instead of failing; default true, as in
	// @ekairos/sandbox.
	OptionWaitForCapacity = "wait_for_capacity"
	// OptionLabels are extra sprite labels: a map (sent as "key=value" strings, sorted) or a list of strings.
	OptionLabels = "labels"
)

// DefaultURLAuth is the url_auth used when the option is unset. @ekairos/sandbox defaults to "public"; this
// engine defaults to "sprite" because a sandbox runs untrusted code, and a public URL would put whatever that
// code serves on port 8080 on the internet without anyone having asked for it. "public" is one option away.
const DefaultURLAuth = URLAuthSprite

// Labels this engine puts on the sprites it makes. They identify its sprites (for ListSandboxes and sweep),
// the record a sprite belongs to (FindSandbox of a sprite with a custom name), and a sandbox's setup
// checkpoint (so that GetSandbox can report it without waking the sprite).
const (
	labelManaged     = "tfsandbox"
	labelKindPrefix  = "tfsandbox-kind-"
	labelRecordPfx   = "tfsandbox-record-"
	labelSetupCPPfx  = "tfsandbox-setup-cp-"
	labelUserReserve = "tfsandbox"
)

// Kinds of sprites this engine makes.
const (
	kindSandbox   = "sandbox"
	kindWorkspace = "workspace"
	kindSetup     = "setup"
)

// labelRE is the conservative label rule (the API documents none; every example is a plain word).
var labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._=-]*[A-Za-z0-9])?$`)

// labelPartRE checks a key or a value of the map form.
var labelPartRE = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)

// spriteOptions is the parsed sprites block.
type spriteOptions struct {
	name            string
	urlAuth         string
	waitForCapacity bool
	labels          []string // user labels
}

// parseOptions reads the sprites block; unknown keys and bad values are errors naming them. allowName says
// whether OptionName may be set.
func parseOptions(opts map[string]any, allowName bool) (spriteOptions, error) {
	o := spriteOptions{urlAuth: DefaultURLAuth, waitForCapacity: true}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := opts[k]
		if v == nil {
			continue
		}
		switch k {
		case OptionName:
			if !allowName {
				return o, fmt.Errorf("sprites option %s is not accepted here (a setup's builder sprite is named after its fingerprint)", k)
			}
			s, ok := v.(string)
			if !ok {
				return o, fmt.Errorf("sprites option %s: want a string, got %T", k, v)
			}
			if s != "" {
				if err := ValidateName(s); err != nil {
					return o, fmt.Errorf("sprites option %s: %w", k, err)
				}
			}
			o.name = s
		case OptionURLAuth:
			s, ok := v.(string)
			if !ok {
				return o, fmt.Errorf("sprites option %s: want a string, got %T", k, v)
			}
			switch s {
			case "":
			case URLAuthSprite, URLAuthPublic:
				o.urlAuth = s
			default:
				return o, fmt.Errorf("sprites option %s: %q is not %q or %q", k, s, URLAuthSprite, URLAuthPublic)
			}
		case OptionWaitForCapacity:
			b, ok := v.(bool)
			if !ok {
				return o, fmt.Errorf("sprites option %s: want a bool, got %T", k, v)
			}
			o.waitForCapacity = b
		case OptionLabels:
			l, err := parseLabels(v)
			if err != nil {
				return o, fmt.Errorf("sprites option %s: %w", k, err)
			}
			o.labels = l
		default:
			return o, fmt.Errorf("unknown sprites option %q (supported: %s, %s, %s, %s)", k, OptionName, OptionURLAuth, OptionWaitForCapacity, OptionLabels)
		}
	}
	return o, nil
}

func parseLabels(v any) ([]string, error) {
	var out []string
	switch m := v.(type) {
	case map[string]any:
		for k, x := range m {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("label %q: want a string value, got %T", k, x)
			}
			l, err := mapLabel(k, s)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
	case map[string]string:
		for k, s := range m {
			l, err := mapLabel(k, s)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
	case []any:
		for _, x := range m {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("want strings, got %T", x)
			}
			out = append(out, s)
		}
	case []string:
		out = append(out, m...)
	default:
		return nil, fmt.Errorf("want a map of strings or a list of strings, got %T", v)
	}
	sort.Strings(out)
	seen := map[string]bool{}
	for _, l := range out {
		if len(l) > 63 || !labelRE.MatchString(l) {
			return nil, fmt.Errorf("label %q is not valid: at most 63 letters, digits, '.', '_', '-' or '=', starting and ending with a letter or digit", l)
		}
		if strings.HasPrefix(l, labelUserReserve) {
			return nil, fmt.Errorf("label %q: labels starting with %q are reserved for this provider", l, labelUserReserve)
		}
		if seen[l] {
			return nil, fmt.Errorf("label %q is given twice", l)
		}
		seen[l] = true
	}
	return out, nil
}

func mapLabel(k, v string) (string, error) {
	if k == "" || !labelPartRE.MatchString(k) || !labelPartRE.MatchString(v) {
		return "", fmt.Errorf("label %q = %q: keys and values may hold letters, digits, '.', '_' and '-' only", k, v)
	}
	return k + "=" + v, nil
}

// owner is what a sprite's labels say about it.
type owner struct {
	managed  bool
	kind     string
	recordID string
	setupCP  string
	user     []string
}

func readLabels(labels []string) owner {
	var o owner
	for _, l := range labels {
		switch {
		case l == labelManaged:
			o.managed = true
		case strings.HasPrefix(l, labelKindPrefix):
			o.kind = strings.TrimPrefix(l, labelKindPrefix)
		case strings.HasPrefix(l, labelRecordPfx):
			o.recordID = strings.TrimPrefix(l, labelRecordPfx)
		case strings.HasPrefix(l, labelSetupCPPfx):
			o.setupCP = strings.TrimPrefix(l, labelSetupCPPfx)
		default:
			o.user = append(o.user, l)
		}
	}
	return o
}

// recordIDRE is what a record id must look like to be put in a label (InstantDB ids are UUIDs).
var recordIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func checkRecordID(id string) error {
	if !recordIDRE.MatchString(id) {
		return fmt.Errorf("record id %q cannot be put in a sprite label or name (want letters, digits, '.', '_' and '-', at most 63)", id)
	}
	return nil
}

// managedLabels are the labels of a sprite this engine makes, user labels last.
func managedLabels(kind, recordID, setupCP string, user []string) []string {
	l := []string{labelManaged, labelKindPrefix + kind, labelRecordPfx + recordID}
	if setupCP != "" {
		l = append(l, labelSetupCPPfx+setupCP)
	}
	return append(l, user...)
}

// Default names.
const (
	sandboxNamePrefix   = "ekairos-"
	workspaceNamePrefix = "ekairos-ws-"
	setupNamePrefix     = "ekairos-setup-"
)

// DefaultSandboxName is the sprite name of a sandbox whose block sets no name: "ekairos-<record id>", the
// name @ekairos/sandbox gives it, so that the library's reconnect finds the sprite by its record.
func DefaultSandboxName(recordID string) string { return sandboxNamePrefix + recordID }

// DefaultWorkspaceName is the sprite name of a workspace whose block sets no name.
func DefaultWorkspaceName(recordID string) string {
	return workspaceNamePrefix + recordID
}
