package vercel

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

func compileJSON(t *testing.T, p *backend.NetworkPolicy) map[string]any {
	t.Helper()
	c, err := CompilePolicy(p)
	if err != nil {
		t.Fatalf("CompilePolicy(%+v): %v", p, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCompilePolicyModes(t *testing.T) {
	for name, tc := range map[string]struct {
		in   *backend.NetworkPolicy
		want string
	}{
		"nil":       {nil, `{"mode":"deny-all"}`},
		"deny_all":  {&backend.NetworkPolicy{Mode: backend.PolicyDenyAll}, `{"mode":"deny-all"}`},
		"allow_all": {&backend.NetworkPolicy{Mode: backend.PolicyAllowAll}, `{"mode":"allow-all"}`},
		"hosts only": {&backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"Example.com", "*.pypi.org"}},
			`{"allow":{"*.pypi.org":[],"example.com":[]}}`},
		"preset without credential": {&backend.NetworkPolicy{Mode: backend.PolicyAllowList, Presets: []string{"npm", "bun"}},
			`{"allow":{"bun.com":[],"bun.sh":[],"registry.npmjs.org":[]}}`},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := CompilePolicy(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(c)
			if string(b) != tc.want {
				t.Errorf("CompilePolicy = %s, want %s", b, tc.want)
			}
		})
	}
}

func TestCompilePolicyPresetCredentials(t *testing.T) {
	const gh, codex, gemini = "ghp_tok", "sk-codex", "gm-key"
	got := compileJSON(t, &backend.NetworkPolicy{
		Mode:        backend.PolicyAllowList,
		Hosts:       []string{"example.com"},
		Presets:     []string{"github", "codex", "gemini", "npm"},
		Credentials: map[string]string{"github": gh, "codex": codex, "gemini": gemini},
	})
	allow, _ := got["allow"].(map[string]any)
	headers := func(domain string) map[string]any {
		rules, ok := allow[domain].([]any)
		if !ok {
			t.Fatalf("%s is not allowed: %v", domain, allow)
		}
		if len(rules) == 0 {
			return nil
		}
		if len(rules) != 1 {
			t.Fatalf("%s has %d rules, want 1", domain, len(rules))
		}
		rule, _ := rules[0].(map[string]any)
		tr, _ := rule["transform"].([]any)
		if len(tr) != 1 {
			t.Fatalf("%s: transform %v", domain, rule)
		}
		first, _ := tr[0].(map[string]any)
		h, _ := first["headers"].(map[string]any)
		return h
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+gh))
	for domain, want := range map[string]map[string]any{
		"github.com":                        {"authorization": basic},
		"api.github.com":                    {"authorization": "Bearer " + gh},
		"*.github.com":                      nil,
		"*.githubusercontent.com":           nil,
		"api.openai.com":                    {"authorization": "Bearer " + codex},
		"*.openai.com":                      {"authorization": "Bearer " + codex},
		"openrouter.ai":                     {"authorization": "Bearer " + codex},
		"*.openrouter.ai":                   {"authorization": "Bearer " + codex},
		"ai.google.dev":                     {"x-goog-api-key": gemini},
		"*.ai.google.dev":                   {"x-goog-api-key": gemini},
		"generativelanguage.googleapis.com": {"x-goog-api-key": gemini},
		"registry.npmjs.org":                nil,
		"example.com":                       nil,
	} {
		if h := headers(domain); !reflect.DeepEqual(h, want) {
			t.Errorf("%s: headers %v, want %v", domain, h, want)
		}
	}
	if len(allow) != 13 {
		t.Errorf("allow has %d domains, want 13: %v", len(allow), allow)
	}
	p, _ := CompilePolicy(&backend.NetworkPolicy{Mode: backend.PolicyAllowList, Presets: []string{"github"}, Credentials: map[string]string{"github": gh}})
	secrets := p.Secrets()
	if len(secrets) != 2 {
		t.Errorf("Secrets() = %d values, want the two header values", len(secrets))
	}
}

func TestCompilePolicyRejectsInvalid(t *testing.T) {
	for _, p := range []*backend.NetworkPolicy{
		{Mode: "custom"},
		{Mode: backend.PolicyAllowList},
		{Mode: backend.PolicyDenyAll, Hosts: []string{"a.com"}},
		{Mode: backend.PolicyAllowList, Presets: []string{"nope"}},
		{Mode: backend.PolicyAllowList, Presets: []string{"npm"}, Credentials: map[string]string{"npm": "x"}},
	} {
		if _, err := CompilePolicy(p); err == nil {
			t.Errorf("CompilePolicy(%+v) = nil error", p)
		}
	}
}
