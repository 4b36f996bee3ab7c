package backend

import (
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Network policy modes, shared by setups, workspaces and sandboxes.
const (
	PolicyDenyAll   = "deny_all"   // no network (the default for untrusted code)
	PolicyAllowAll  = "allow_all"  // unrestricted egress
	PolicyAllowList = "allow_list" // only the listed hosts and the presets' hosts
)

// NetworkPolicy is a declared network policy. Credentials are secrets: they are never recorded (Redacted gives
// the form that may be stored) and only reach the engine's egress filter, never the sandbox.
type NetworkPolicy struct {
	Mode        string
	Hosts       []string          // allow_list: host names, "*.example.com" wildcards allowed
	Presets     []string          // allow_list: preset names (see Presets)
	Credentials map[string]string // preset name -> credential (token or API key); secret
}

// HeaderTransform injects a header into requests to a host, as sandkit's policies do.
type HeaderTransform struct {
	Header string // lower-case header name
	Value  string // the full header value (secret)
}

// Preset is one of sandkit's service presets: the hosts it allows and how its credential is injected.
type Preset struct {
	Name          string
	Hosts         []string
	CredentialEnv string // the host environment variable sandkit reads the default credential from
	// Inject returns the headers for a host, given the credential; nil when the host gets none.
	Inject func(host, credential string) []HeaderTransform
}

func bearer(_ string, c string) []HeaderTransform {
	return []HeaderTransform{{Header: "authorization", Value: "Bearer " + c}}
}

// Presets are sandkit's presets (policies/*.ts), with the same hosts and header transforms.
var Presets = map[string]Preset{
	"npm": {Name: "npm", Hosts: []string{"registry.npmjs.org"}},
	"bun": {Name: "bun", Hosts: []string{"bun.sh", "bun.com"}},
	"github": {Name: "github", Hosts: []string{"github.com", "*.github.com", "api.github.com", "*.githubusercontent.com"},
		CredentialEnv: "GITHUB_TOKEN",
		Inject: func(host, c string) []HeaderTransform {
			switch host {
			case "github.com":
				return []HeaderTransform{{Header: "authorization", Value: "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+c))}}
			case "api.github.com":
				return bearer(host, c)
			}
			return nil
		}},
	"codex": {Name: "codex", Hosts: []string{"api.openai.com", "*.openai.com", "openrouter.ai", "*.openrouter.ai"},
		CredentialEnv: "CODEX_API_KEY", Inject: bearer},
	"gemini": {Name: "gemini", Hosts: []string{"ai.google.dev", "*.ai.google.dev", "generativelanguage.googleapis.com"},
		CredentialEnv: "GEMINI_API_KEY",
		Inject: func(_ string, c string) []HeaderTransform {
			return []HeaderTransform{{Header: "x-goog-api-key", Value: c}}
		}},
}

// PresetNames lists the preset names, sorted.
func PresetNames() []string {
	out := make([]string, 0, len(Presets))
	for n := range Presets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Validate checks the policy's shape.
func (p *NetworkPolicy) Validate() error {
	if p == nil {
		return nil
	}
	switch p.Mode {
	case PolicyDenyAll, PolicyAllowAll:
		if len(p.Hosts) > 0 || len(p.Presets) > 0 {
			return fmt.Errorf("policy mode %s takes no hosts or presets", p.Mode)
		}
	case PolicyAllowList:
		if len(p.Hosts) == 0 && len(p.Presets) == 0 {
			return fmt.Errorf("policy mode %s needs at least one host or preset", p.Mode)
		}
	default:
		return fmt.Errorf("unknown policy mode %q (want %s, %s or %s)", p.Mode, PolicyDenyAll, PolicyAllowAll, PolicyAllowList)
	}
	for _, h := range p.Hosts {
		if !validHostPattern(h) {
			return fmt.Errorf("%q is not a host name or *.wildcard, optionally with a :port (1-65535)", h)
		}
	}
	for _, n := range p.Presets {
		if _, ok := Presets[n]; !ok {
			return fmt.Errorf("unknown preset %q (known: %s)", n, strings.Join(PresetNames(), ", "))
		}
	}
	for n := range p.Credentials {
		pr, ok := Presets[n]
		if !ok || pr.Inject == nil {
			return fmt.Errorf("preset %q takes no credential", n)
		}
	}
	return nil
}

func validHostPattern(h string) bool {
	hasPort := strings.Contains(h, ":")
	h, port := splitHostEntry(h)
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return false
		}
	}
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 || strings.ContainsAny(h, "/:@ *") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
	}
	return true
}

// AllowedHosts returns every host pattern the policy allows (its own and its presets'), sorted, deduplicated.
func (p *NetworkPolicy) AllowedHosts() []string {
	if p == nil {
		return nil
	}
	set := map[string]bool{}
	for _, h := range p.Hosts {
		set[strings.ToLower(h)] = true
	}
	for _, n := range p.Presets {
		for _, h := range Presets[n].Hosts {
			set[h] = true
		}
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// Allows reports whether a request to host is allowed.
func (p *NetworkPolicy) Allows(host string) bool {
	if p == nil || p.Mode == PolicyDenyAll {
		return false
	}
	if p.Mode == PolicyAllowAll {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, entry := range p.AllowedHosts() {
		if pat, _ := splitHostEntry(entry); matchHost(pat, host) {
			return true
		}
	}
	return false
}

func matchHost(pattern, host string) bool {
	if strings.HasPrefix(pattern, "*.") {
		return strings.HasSuffix(host, pattern[1:]) && len(host) > len(pattern)-1
	}
	return pattern == host
}

// DefaultPorts are the ports a host entry without a port allows: HTTP and HTTPS.
var DefaultPorts = []string{"80", "443"}

// splitHostEntry splits a host entry "host" or "host:port" (the port empty when absent).
func splitHostEntry(h string) (host, port string) {
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i], h[i+1:]
	}
	return h, ""
}

// AllowsPort reports whether a connection to host:port is allowed: an entry that names a port allows that
// port only; an entry without one (and every preset host) allows DefaultPorts.
func (p *NetworkPolicy) AllowsPort(host, port string) bool {
	if p == nil || p.Mode == PolicyDenyAll {
		return false
	}
	if p.Mode == PolicyAllowAll {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, entry := range p.AllowedHosts() {
		pat, want := splitHostEntry(entry)
		if !matchHost(pat, host) {
			continue
		}
		if want == port || (want == "" && slices.Contains(DefaultPorts, port)) {
			return true
		}
	}
	return false
}

// HeadersFor returns the headers to inject into a request to host: those of every preset that has a credential
// and a transform for the host.
func (p *NetworkPolicy) HeadersFor(host string) []HeaderTransform {
	if p == nil {
		return nil
	}
	host = strings.ToLower(host)
	var out []HeaderTransform
	for _, n := range p.Presets {
		pr := Presets[n]
		c := p.Credentials[n]
		if c == "" || pr.Inject == nil {
			continue
		}
		for _, pat := range pr.Hosts {
			if matchHost(pat, host) {
				out = append(out, pr.Inject(host, c)...)
				break
			}
		}
	}
	return out
}

// Redacted is the policy as it may be recorded: credentials replaced by {"kind":"redacted"}, as sandkit stores
// policies. It is also what fingerprints hash.
func (p *NetworkPolicy) Redacted() map[string]any {
	if p == nil {
		return map[string]any{"mode": PolicyDenyAll}
	}
	hosts := append([]string(nil), p.Hosts...)
	sort.Strings(hosts)
	presets := append([]string(nil), p.Presets...)
	sort.Strings(presets)
	creds := map[string]any{}
	for n := range p.Credentials {
		creds[n] = map[string]any{"kind": "redacted"}
	}
	out := map[string]any{"mode": p.Mode}
	if len(hosts) > 0 {
		out["hosts"] = hosts
	}
	if len(presets) > 0 {
		out["presets"] = presets
	}
	if len(creds) > 0 {
		out["credentials"] = creds
	}
	return out
}

// sandkit's spellings of the policy modes (WorkspacePolicy.mode).
const (
	SandkitDenyAll       = "deny-all"
	SandkitAllowAll      = "allow-all"
	SandkitAllowServices = "allow-services"
	// sandkitHostsService is the id of the service that carries an allow list's own hosts (sandkit's services
	// are presets; hosts outside them need one of their own).
	sandkitHostsService = "hosts"
)

// SandkitPolicy is the policy as sandkit persists a workspace's policy in metadata["sandkit:policy"]:
// {"mode":"deny-all"}, {"mode":"allow-all"}, or {"mode":"allow-services","services":[...]} with one service per
// preset ({id, name, domains}, sorted by id, with a redacted credential when one was given) and the policy's own
// hosts as the service "hosts". No secret: a credential is {"kind":"redacted"}.
func (p *NetworkPolicy) SandkitPolicy() map[string]any {
	mode := PolicyDenyAll
	if p != nil {
		mode = p.Mode
	}
	switch mode {
	case PolicyAllowAll:
		return map[string]any{"mode": SandkitAllowAll}
	case PolicyAllowList:
	default:
		return map[string]any{"mode": SandkitDenyAll}
	}
	var services []map[string]any
	presets := append([]string(nil), p.Presets...)
	sort.Strings(presets)
	for _, n := range presets {
		pr, ok := Presets[n]
		if !ok {
			continue
		}
		domains := append([]string(nil), pr.Hosts...)
		sort.Strings(domains)
		svc := map[string]any{"id": n, "name": n, "domains": domains}
		if _, ok := p.Credentials[n]; ok {
			svc["credential"] = map[string]any{"kind": "redacted"}
		}
		services = append(services, svc)
	}
	if len(p.Hosts) > 0 {
		hosts := append([]string(nil), p.Hosts...)
		sort.Strings(hosts)
		services = append(services, map[string]any{"id": sandkitHostsService, "name": sandkitHostsService, "domains": hosts})
	}
	sort.SliceStable(services, func(i, j int) bool { return fmt.Sprint(services[i]["id"]) < fmt.Sprint(services[j]["id"]) })
	list := make([]any, len(services))
	for i, svc := range services {
		list[i] = svc
	}
	return map[string]any{"mode": SandkitAllowServices, "services": list}
}

// PolicyFromSandkit reads a policy in sandkit's shape (SandkitPolicy) back as a mode, hosts and presets; ok is
// false when m is not in that shape.
func PolicyFromSandkit(m map[string]any) (mode string, hosts, presets []string, ok bool) {
	switch m["mode"] {
	case SandkitDenyAll:
		return PolicyDenyAll, nil, nil, true
	case SandkitAllowAll:
		return PolicyAllowAll, nil, nil, true
	case SandkitAllowServices:
	default:
		return "", nil, nil, false
	}
	list, _ := m["services"].([]any)
	for _, s := range list {
		svc, _ := s.(map[string]any)
		id, _ := svc["id"].(string)
		if _, isPreset := Presets[id]; isPreset {
			presets = append(presets, id)
			continue
		}
		domains, _ := svc["domains"].([]any)
		for _, d := range domains {
			if h, _ := d.(string); h != "" {
				hosts = append(hosts, h)
			}
		}
	}
	return PolicyAllowList, hosts, presets, true
}
