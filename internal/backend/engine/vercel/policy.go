package vercel

import (
	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// CompilePolicy turns a declared network policy into the API's request form, as sandkit's
// compileVercelNetworkPolicy does:
//
//   - nil or deny_all: {"mode":"deny-all"} (sent explicitly: the API's own default is allow-all);
//   - allow_all: {"mode":"allow-all"};
//   - allow_list: {"allow": {"<host>": [rules]}}, one key per allowed host pattern (the policy's hosts and its
//     presets' hosts). A host that gets credentials (backend.NetworkPolicy.HeadersFor: presets with a
//     credential and a header transform for the host) gets one rule {"transform":[{"headers":{name: value}}]};
//     the others get [] (plain allow). Everything not listed is denied.
//
// The header values are secrets: the API's egress proxy injects them, they never enter the sandbox, the API
// never returns them, and this package never puts them in errors, metadata or logs.
func CompilePolicy(p *backend.NetworkPolicy) (*NetworkPolicy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p == nil || p.Mode == backend.PolicyDenyAll {
		return &NetworkPolicy{Mode: "deny-all"}, nil
	}
	if p.Mode == backend.PolicyAllowAll {
		return &NetworkPolicy{Mode: "allow-all"}, nil
	}
	allow := map[string][]PolicyRule{}
	for _, host := range p.AllowedHosts() {
		rules := []PolicyRule{}
		if hs := p.HeadersFor(host); len(hs) > 0 {
			headers := map[string]string{}
			for _, h := range hs {
				headers[h.Header] = h.Value
			}
			rules = append(rules, PolicyRule{Transform: []PolicyTransform{{Headers: headers}}})
		}
		allow[host] = rules
	}
	return &NetworkPolicy{Allow: allow}, nil
}
