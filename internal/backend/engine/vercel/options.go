package vercel

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Options of the vercel block (SandboxSpec.Options, and WorkspaceSpec/SetupSpec.Options where noted). They are
// recorded under params.vercel: none may hold a secret.
const (
	// OptionSource (sandboxes) is where the sandbox's files come from, a map with a "type":
	//
	//	{ type = "git", url = "https://github.com/org/repo.git", revision = "main", depth = 1, username = "x-access-token" }
	//	{ type = "tarball", url = "https://example.com/app.tar.gz" }
	//	{ type = "snapshot", snapshot_id = "snap_..." }
	//
	// revision, depth and username are optional. A git password is a secret and is refused here: give a
	// private repository's token as the github preset's credential in the network policy instead (the clone
	// runs inside the sandbox, so the egress proxy injects it). Sources are fetched inside the sandbox, under
	// its network policy: allow the source's host. A snapshot source sets the runtime; it cannot be combined
	// with a runtime or a setup.
	OptionSource = "source"
	// OptionPersistent (sandboxes; bool, default true as in the API): the sandbox's files survive a stop (each
	// stop snapshots them and the next start resumes from that snapshot). false = every start is fresh.
	OptionPersistent = "persistent"
	// OptionSnapshotExpiration (sandboxes, workspaces) is how long the sandbox's automatic snapshots live after
	// their last use: a Go duration ("720h"), a number of days ("30d"), "0" or "never", or a number of
	// milliseconds; 0 or at least one day. Sandboxes default to the API's default (30 days), workspaces to
	// never (their files must not vanish while unused).
	OptionSnapshotExpiration = "snapshot_expiration"
	// OptionKeepLastSnapshots (workspaces; 1-10, default 2): only the newest automatic snapshots are kept, the
	// older ones deleted; 0 = keep every snapshot until it expires.
	OptionKeepLastSnapshots = "keep_last_snapshots"
	// OptionRuntime (workspaces without a setup) is the runtime image, as SandboxSpec.Runtime for sandboxes.
	OptionRuntime = "runtime"
	// OptionVCPUs (workspaces and setups) is the number of vCPUs: 1 or an even number up to 8.
	OptionVCPUs = "vcpus"
	// OptionExpiration (setups) is how long the setup's snapshot lives after its last use, in the forms of
	// OptionSnapshotExpiration; default never.
	OptionExpiration = "expiration"
)

// Runtimes are the runtime images of /v2/sandboxes (Amazon Linux); "" = the /v3 default image (Ubuntu with
// Node 24, Bun and Python).
var Runtimes = []string{"node22", "node24", "node26", "python3.13"}

// Limits of the API (Pro plan; Hobby allows 45 minutes and 4 vCPUs, Enterprise 32 vCPUs).
const (
	MinTimeout = time.Second
	MaxTimeout = 24 * time.Hour
	MaxVCPUs   = 8
	MaxPorts   = 15
	MinPort    = 1024
	MaxPort    = 65535
	MaxTags    = 5
)

type sandboxOptions struct {
	source             *Source
	persistent         *bool
	snapshotExpiration *time.Duration
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func parseSandboxOptions(opts map[string]any) (sandboxOptions, error) {
	var o sandboxOptions
	for _, k := range sortedKeys(opts) {
		v := opts[k]
		if v == nil {
			continue
		}
		var err error
		switch k {
		case OptionSource:
			o.source, err = parseSource(v)
		case OptionPersistent:
			var b bool
			b, err = asBool(k, v)
			o.persistent = &b
		case OptionSnapshotExpiration:
			var d time.Duration
			d, err = parseExpiration(k, v)
			o.snapshotExpiration = &d
		default:
			err = fmt.Errorf("unknown vercel option %q (supported: %s, %s, %s)", k, OptionSource, OptionPersistent, OptionSnapshotExpiration)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

type workspaceOptions struct {
	runtime            string
	vcpus              int
	snapshotExpiration time.Duration // default never
	keepLast           int           // default 2
}

func parseWorkspaceOptions(opts map[string]any) (workspaceOptions, error) {
	o := workspaceOptions{keepLast: 2}
	for _, k := range sortedKeys(opts) {
		v := opts[k]
		if v == nil {
			continue
		}
		var err error
		switch k {
		case OptionRuntime:
			o.runtime, err = asString(k, v)
			if err == nil {
				err = checkRuntime(o.runtime)
			}
		case OptionVCPUs:
			var n int64
			n, err = asInt(k, v)
			o.vcpus = int(n)
			if err == nil {
				err = checkVCPUs(o.vcpus)
			}
		case OptionSnapshotExpiration:
			o.snapshotExpiration, err = parseExpiration(k, v)
		case OptionKeepLastSnapshots:
			var n int64
			n, err = asInt(k, v)
			if err == nil && (n < 0 || n > 10) {
				err = fmt.Errorf("vercel option %s: want 0 (keep all) to 10, got %d", k, n)
			}
			o.keepLast = int(n)
		default:
			err = fmt.Errorf("unknown vercel workspace option %q (supported: %s, %s, %s, %s)", k, OptionRuntime, OptionVCPUs, OptionSnapshotExpiration, OptionKeepLastSnapshots)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

type setupOptions struct {
	vcpus      int
	expiration time.Duration // default never
}

func parseSetupOptions(opts map[string]any) (setupOptions, error) {
	var o setupOptions
	for _, k := range sortedKeys(opts) {
		v := opts[k]
		if v == nil {
			continue
		}
		var err error
		switch k {
		case OptionVCPUs:
			var n int64
			n, err = asInt(k, v)
			o.vcpus = int(n)
			if err == nil {
				err = checkVCPUs(o.vcpus)
			}
		case OptionExpiration:
			o.expiration, err = parseExpiration(k, v)
		default:
			err = fmt.Errorf("unknown vercel setup option %q (supported: %s, %s)", k, OptionExpiration, OptionVCPUs)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

func parseSource(v any) (*Source, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("vercel option %s: want a map with a type (git, tarball or snapshot), got %T", OptionSource, v)
	}
	s := &Source{}
	for _, k := range sortedKeys(m) {
		val := m[k]
		if val == nil {
			continue
		}
		var err error
		switch k {
		case "type":
			s.Type, err = asString("source.type", val)
		case "url":
			s.URL, err = asString("source.url", val)
		case "revision":
			s.Revision, err = asString("source.revision", val)
		case "username":
			s.Username, err = asString("source.username", val)
		case "snapshot_id":
			s.SnapshotID, err = asString("source.snapshot_id", val)
		case "depth":
			var n int64
			n, err = asInt("source.depth", val)
			if err == nil && n < 1 {
				err = fmt.Errorf("vercel option source.depth: want at least 1, got %d", n)
			}
			s.Depth = int(n)
		case "password":
			return nil, fmt.Errorf("vercel option source.password is refused: options are recorded and a password is a secret; for a private GitHub repository put the token in the network policy's github preset credential (the clone runs in the sandbox and the egress proxy injects it)")
		default:
			return nil, fmt.Errorf("unknown key %q in vercel option %s (supported: type, url, revision, depth, username, snapshot_id)", k, OptionSource)
		}
		if err != nil {
			return nil, err
		}
	}
	switch s.Type {
	case "git", "tarball":
		u, err := url.Parse(s.URL)
		if s.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("vercel option source: a %s source needs an http(s) url, got %q", s.Type, s.URL)
		}
		if u.User != nil {
			return nil, fmt.Errorf("vercel option source.url must not carry credentials (they would be recorded)")
		}
		if s.SnapshotID != "" {
			return nil, fmt.Errorf("vercel option source: snapshot_id goes with type = \"snapshot\" only")
		}
		if s.Type == "tarball" && (s.Revision != "" || s.Depth != 0 || s.Username != "") {
			return nil, fmt.Errorf("vercel option source: a tarball source takes only url")
		}
	case "snapshot":
		if s.SnapshotID == "" {
			return nil, fmt.Errorf("vercel option source: a snapshot source needs snapshot_id")
		}
		if s.URL != "" || s.Revision != "" || s.Depth != 0 || s.Username != "" {
			return nil, fmt.Errorf("vercel option source: a snapshot source takes only snapshot_id")
		}
	case "":
		return nil, fmt.Errorf("vercel option source: type is required (git, tarball or snapshot)")
	default:
		return nil, fmt.Errorf("vercel option source: unknown type %q (want git, tarball or snapshot)", s.Type)
	}
	return s, nil
}

// parseExpiration reads a snapshot lifetime: a duration string ("720h", "30d"), "0"/"never", or milliseconds.
func parseExpiration(name string, v any) (time.Duration, error) {
	var d time.Duration
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		switch {
		case s == "0" || strings.EqualFold(s, "never"):
			return 0, nil
		case strings.HasSuffix(s, "d"):
			n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
			if err != nil || n < 0 || math.IsInf(n, 0) {
				return 0, fmt.Errorf("vercel option %s: %q is not a number of days", name, s)
			}
			d = time.Duration(n * float64(24*time.Hour))
		default:
			var err error
			if d, err = time.ParseDuration(s); err != nil {
				return 0, fmt.Errorf("vercel option %s: %q is not a duration (e.g. \"720h\", \"30d\", \"never\")", name, s)
			}
		}
	default:
		ms, err := asInt(name, v)
		if err != nil {
			return 0, fmt.Errorf("vercel option %s: want a duration string or milliseconds, got %T", name, v)
		}
		d = time.Duration(ms) * time.Millisecond
	}
	if d != 0 && d < 24*time.Hour {
		return 0, fmt.Errorf("vercel option %s: must be 0 (never) or at least one day (the API's minimum), got %s", name, d)
	}
	if d < 0 {
		return 0, fmt.Errorf("vercel option %s: must not be negative", name)
	}
	return d, nil
}

func asString(name string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("vercel option %s: want a string, got %T", name, v)
	}
	return s, nil
}

func asBool(name string, v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		if p, err := strconv.ParseBool(b); err == nil {
			return p, nil
		}
	}
	return false, fmt.Errorf("vercel option %s: want true or false, got %v", name, v)
}

func asInt(name string, v any) (int64, error) {
	if s, ok := v.(string); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("vercel option %s: want a whole number, got %q", name, s)
		}
		return n, nil
	}
	if f, ok := v.(float64); ok && math.Trunc(f) != f {
		return 0, fmt.Errorf("vercel option %s: want a whole number, got %v", name, v)
	}
	if n, ok := v.(json.Number); ok {
		v = n
	}
	n, ok := backend.AsInt(v)
	if !ok {
		return 0, fmt.Errorf("vercel option %s: want a number, got %T", name, v)
	}
	return n, nil
}

func checkRuntime(r string) error {
	if r == "" {
		return nil
	}
	for _, x := range Runtimes {
		if r == x {
			return nil
		}
	}
	return fmt.Errorf("vercel runtime %q is not one of %s (or empty for the default image)", r, strings.Join(Runtimes, ", "))
}

func checkVCPUs(n int) error {
	switch {
	case n < 0: // the setup's vcpus option; a sandbox's vcpus are checked by backend.CheckSandboxSpec first
		return fmt.Errorf("vcpus must not be negative, got %d", n)
	case n > MaxVCPUs:
		return fmt.Errorf("vcpus on vercel is at most %d, got %d", MaxVCPUs, n)
	case n > 1 && n%2 != 0:
		return fmt.Errorf("vcpus on vercel is 1 or an even number (2, 4, 6, 8), got %d", n)
	}
	return nil
}

func checkTimeout(d time.Duration) error {
	if err := backend.CheckTimeout("timeout", d); err != nil {
		return err
	}
	switch {
	case d == 0:
		return nil
	case d < MinTimeout:
		return fmt.Errorf("timeout on vercel is at least %s, got %s", MinTimeout, d)
	case d > MaxTimeout:
		return fmt.Errorf("timeout on vercel is at most %s (Pro and Enterprise; Hobby: 45m), got %s", MaxTimeout, d)
	}
	return nil
}

func checkPorts(ports []int) error {
	if len(ports) > MaxPorts {
		return fmt.Errorf("vercel exposes at most %d ports, got %d", MaxPorts, len(ports))
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < MinPort || p > MaxPort {
			return fmt.Errorf("port %d is outside %d..%d (vercel exposes only unprivileged ports)", p, MinPort, MaxPort)
		}
		if seen[p] {
			return fmt.Errorf("port %d is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// ValidateExpiration checks a snapshot lifetime as the expiration and snapshot_expiration options take it (a
// duration such as "720h" or "30d", "0" or "never"; 0 or at least one day), for plan-time validation.
func ValidateExpiration(name, v string) error {
	_, err := parseExpiration(name, v)
	return err
}
