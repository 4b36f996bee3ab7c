package backend

import (
	"reflect"
	"testing"
)

// A workspace's policy is recorded in sandkit's WorkspacePolicy shape and spelling, and reads back.
func TestSandkitPolicy(t *testing.T) {
	if got := (*NetworkPolicy)(nil).SandkitPolicy(); !reflect.DeepEqual(got, map[string]any{"mode": "deny-all"}) {
		t.Errorf("nil policy = %v", got)
	}
	if got := (&NetworkPolicy{Mode: PolicyAllowAll}).SandkitPolicy(); got["mode"] != "allow-all" {
		t.Errorf("allow_all = %v", got)
	}
	p := &NetworkPolicy{Mode: PolicyAllowList, Hosts: []string{"b.example", "a.example"}, Presets: []string{"npm", "github"},
		Credentials: map[string]string{"github": "ghp_secret"}}
	got := p.SandkitPolicy()
	if got["mode"] != "allow-services" {
		t.Fatalf("allow_list = %v", got)
	}
	svcs, _ := got["services"].([]any)
	var ids []string
	var first map[string]any
	for i, s := range svcs {
		m, _ := s.(map[string]any)
		if i == 0 {
			first = m
		}
		id, _ := m["id"].(string)
		ids = append(ids, id)
	}
	if !reflect.DeepEqual(ids, []string{"github", "hosts", "npm"}) {
		t.Errorf("service ids %v", ids)
	}
	if cred := first["credential"]; !reflect.DeepEqual(cred, map[string]any{"kind": "redacted"}) {
		t.Errorf("github credential recorded as %v", cred)
	}
	// Read back from JSON-decoded maps.
	raw := map[string]any{"mode": "allow-services", "services": []any{
		map[string]any{"id": "github", "domains": []any{"github.com"}},
		map[string]any{"id": "hosts", "domains": []any{"a.example", "b.example"}},
	}}
	mode, hosts, presets, ok := PolicyFromSandkit(raw)
	if !ok || mode != PolicyAllowList || !reflect.DeepEqual(hosts, []string{"a.example", "b.example"}) || !reflect.DeepEqual(presets, []string{"github"}) {
		t.Errorf("PolicyFromSandkit = %q %v %v %v", mode, hosts, presets, ok)
	}
	if _, _, _, ok := PolicyFromSandkit(map[string]any{"mode": "deny_all"}); ok {
		t.Error("the provider's own spelling read as sandkit's")
	}
}
