package sprites

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

func TestReadProgress(t *testing.T) {
	for name, tc := range map[string]struct {
		in       string
		complete string
		err      string
	}{
		"success":            {in: `{"type":"info","data":"Creating checkpoint..."}` + "\n" + `{"type":"complete","data":"Checkpoint v3 created successfully"}` + "\n", complete: "Checkpoint v3 created successfully"},
		"no trailing eol":    {in: `{"type":"complete","data":"done"}`, complete: "done"},
		"noise tolerated":    {in: "not json\n\n" + `{"type":"stdout","data":"x"}` + "\n" + `{"type":"complete","data":"ok"}`, complete: "ok"},
		"error in a 200":     {in: `{"type":"info","data":"a"}` + "\n" + `{"type":"error","error":"disk full"}` + "\n", err: "disk full"},
		"error then success": {in: `{"type":"error","error":"first"}` + "\n" + `{"type":"complete","data":"ok"}`, err: "first"},
		"error in data":      {in: `{"type":"error","data":"as data"}`, err: "as data"},
		"no complete":        {in: `{"type":"info","data":"a"}` + "\n", err: "without a complete line"},
		"empty":              {in: "", err: "without a complete line"},
	} {
		_, complete, err := readProgress(strings.NewReader(tc.in))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", name, err, tc.err)
		case tc.err == "" && (err != nil || complete != tc.complete):
			t.Errorf("%s: %q, %v; want %q", name, complete, err, tc.complete)
		}
	}
}

func TestCompilePolicy(t *testing.T) {
	deny := NetworkRules{Rules: []PolicyRule{{Domain: "*", Action: ActionDeny}}}
	for name, tc := range map[string]struct {
		p    *backend.NetworkPolicy
		want NetworkRules
		err  bool
	}{
		"nil":       {p: nil, want: deny},
		"deny_all":  {p: &backend.NetworkPolicy{Mode: backend.PolicyDenyAll}, want: deny},
		"allow_all": {p: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}, want: NetworkRules{Rules: []PolicyRule{}}},
		"allow_list": {p: &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"Example.com", "*.corp.dev"}, Presets: []string{"bun"}},
			want: NetworkRules{Rules: []PolicyRule{
				{Domain: "*.corp.dev", Action: "allow"}, {Domain: "bun.com", Action: "allow"}, {Domain: "bun.sh", Action: "allow"},
				{Domain: "example.com", Action: "allow"}, {Domain: "*", Action: "deny"},
			}}},
		"credentials": {p: &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Presets: []string{"codex"}, Credentials: map[string]string{"codex": "k"}}, err: true},
		"invalid":     {p: &backend.NetworkPolicy{Mode: backend.PolicyAllowList}, err: true},
	} {
		got, err := CompilePolicy(tc.p)
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v", name, err)
			continue
		}
		if !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}

func TestSandboxPath(t *testing.T) {
	for in, want := range map[string]string{
		"a.txt": "/home/sprite/a.txt", "a/../b": "/home/sprite/b", "/etc/x": "/etc/x", ".": "/home/sprite",
		"/home/sprite/../sprite/c": "/home/sprite/c",
	} {
		if got, err := sandboxPath(in); err != nil || got != want {
			t.Errorf("sandboxPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "..", "../x", "a/../../x", ".terraform-provider-sandbox/state.json", "/home/sprite/.terraform-provider-sandbox", "a\x00b"} {
		if got, err := sandboxPath(in); err == nil {
			t.Errorf("sandboxPath(%q) = %q, want an error", in, got)
		}
	}
}

func TestNames(t *testing.T) {
	for _, ok := range []string{"a", "ekairos-0b1f2c3d-0000-4000-8000-000000000000", "x1-y2", strings.Repeat("a", 63)} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "A", "a_b", "a.b", strings.Repeat("a", 64), "a b"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) = nil", bad)
		}
	}
	if n := SetupName("fp"); len(n) != len("ekairos-setup-")+32 || ValidateName(n) != nil || SetupName("fp") != n || SetupName("fq") == n {
		t.Errorf("SetupName = %q", n)
	}
	// A name the API may have accepted is still usable in reads (escaped in the path).
	if err := checkName("Odd_Name"); err != nil {
		t.Errorf("checkName of a lenient name: %v", err)
	}
	if spritePath("a b", "/x") != "/v1/sprites/a%20b/x" {
		t.Errorf("spritePath does not escape: %s", spritePath("a b", "/x"))
	}
}
