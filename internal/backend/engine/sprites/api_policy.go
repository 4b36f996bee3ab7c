package sprites

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Rule actions of the network policy API.
const (
	ActionAllow = "allow"
	ActionDeny  = "deny"
)

// PolicyRule is one rule of a sprite's network policy: a domain ("example.com", "*.example.com" or "*") with
// an action, or an include of a preset ("defaults").
type PolicyRule struct {
	Domain  string `json:"domain,omitempty"`
	Action  string `json:"action,omitempty"`
	Include string `json:"include,omitempty"`
}

// NetworkRules is the document of GET/POST /v1/sprites/{name}/policy/network. No rules = no enforcement.
type NetworkRules struct {
	Rules []PolicyRule `json:"rules"`
}

// CompilePolicy turns a declared policy into Sprites rules (DNS-based filtering, applied live):
//
//	nil, deny_all  [{"domain": "*", "action": "deny"}]
//	allow_all      [] (no enforcement, the API's default)
//	allow_list     one allow rule per host (its own and its presets', "*.x" wildcards kept), then
//	               {"domain": "*", "action": "deny"}, in the order of the API's documented example
//
// Credentials (header injection) have no Sprites equivalent and are refused.
func CompilePolicy(p *backend.NetworkPolicy) (NetworkRules, error) {
	if err := p.Validate(); err != nil {
		return NetworkRules{}, err
	}
	if p != nil && len(p.Credentials) > 0 {
		return NetworkRules{}, errors.New("the sprites engine cannot inject credentials into requests (its network policy only allows or denies domains): remove the policy's credentials")
	}
	mode := backend.PolicyDenyAll
	if p != nil {
		mode = p.Mode
	}
	switch mode {
	case backend.PolicyAllowAll:
		return NetworkRules{Rules: []PolicyRule{}}, nil
	case backend.PolicyAllowList:
		hosts := p.AllowedHosts()
		rules := make([]PolicyRule, 0, len(hosts)+1)
		for _, h := range hosts {
			rules = append(rules, PolicyRule{Domain: h, Action: ActionAllow})
		}
		return NetworkRules{Rules: append(rules, PolicyRule{Domain: "*", Action: ActionDeny})}, nil
	default:
		return NetworkRules{Rules: []PolicyRule{{Domain: "*", Action: ActionDeny}}}, nil
	}
}

// GetNetworkPolicy reads a sprite's network policy.
func (c *Client) GetNetworkPolicy(ctx context.Context, name string) (NetworkRules, error) {
	var r NetworkRules
	if err := checkName(name); err != nil {
		return r, err
	}
	err := c.doJSON(ctx, call{retry: idempotent, method: http.MethodGet, path: spritePath(name, "/policy/network")}, nil, &r)
	return r, err
}

// SetNetworkPolicy replaces a sprite's network policy (204; any 2xx is accepted, as one API page documents
// 200 with the stored rules).
func (c *Client) SetNetworkPolicy(ctx context.Context, name string, r NetworkRules) error {
	if err := checkName(name); err != nil {
		return err
	}
	if r.Rules == nil {
		r.Rules = []PolicyRule{}
	}
	if err := c.doJSON(ctx, call{retry: idempotent, method: http.MethodPost, path: spritePath(name, "/policy/network")}, r, nil); err != nil {
		return fmt.Errorf("setting the network policy of sprite %s: %w", name, err)
	}
	return nil
}
