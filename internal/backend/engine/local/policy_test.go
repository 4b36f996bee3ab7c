//go:build linux

package local

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// newBwrapCfg returns a bubblewrap engine over a fresh root with cfg's other settings.
func newBwrapCfg(t testing.TB, cfg Config) *Engine {
	t.Helper()
	newBwrap(t) // skips without bubblewrap
	cfg.Root = t.TempDir()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// fakeInternet stands in for the internet: host names mapped to test servers on the host's loopback.
type fakeInternet struct {
	mu    sync.Mutex
	hosts map[string]string // host name -> ip:port
	seen  []*http.Request   // requests the plain servers got
}

func (f *fakeInternet) resolve(_ context.Context, host, _ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return "", fmt.Errorf("no such host %s", host)
}

// serve starts a plain HTTP server for host that answers "hello from <host>" and records requests.
func (f *fakeInternet) serve(t *testing.T, host string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.Clone(context.Background()))
		f.mu.Unlock()
		fmt.Fprintf(w, "hello from %s", host)
	}))
	t.Cleanup(srv.Close)
	f.mu.Lock()
	f.hosts[host] = srv.Listener.Addr().String()
	f.mu.Unlock()
	return srv
}

func (f *fakeInternet) requests(host string) []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*http.Request
	for _, r := range f.seen {
		if r.Host == host || strings.HasPrefix(r.Host, host+":") {
			out = append(out, r)
		}
	}
	return out
}

func needCurl(t *testing.T) {
	t.Helper()
	if !lookable("curl") {
		t.Skip("curl is not installed")
	}
}

// curl runs curl in the sandbox and returns "<http code>|<body>" (code 000 when no response came).
func curl(t *testing.T, e *Engine, ext string, args ...string) (string, *backend.ExecResult) {
	t.Helper()
	argv := append([]string{"curl", "-sS", "--max-time", "10", "-o", "body.out", "-w", "%{http_code}"}, args...)
	res := execIn(t, e, ext, backend.ExecRequest{Argv: argv, Timeout: 20 * time.Second})
	body, _ := e.ReadFile(context.Background(), ext, "body.out")
	_ = e.WriteFile(context.Background(), ext, "body.out", nil)
	return string(res.Stdout) + "|" + string(body), res
}

// TestPolicyAllowList: an allow_list sandbox reaches its allowed hosts through the engine's proxy (plain HTTP
// and CONNECT), gets 403 for any other host, has the preset's credential injected on plain HTTP without ever
// seeing it, and has no other way out.
func TestPolicyAllowList(t *testing.T) {
	t.Parallel()
	needCurl(t)
	inet := &fakeInternet{hosts: map[string]string{}}
	inet.serve(t, "allowed.test")
	inet.serve(t, "api.github.com")
	denied := inet.serve(t, "denied.test")
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "secure hello, auth=%q", r.Header.Get("Authorization"))
	}))
	t.Cleanup(tlsSrv.Close)
	inet.hosts["example.com"] = tlsSrv.Listener.Addr().String() // the test certificate's name

	e := newBwrapCfg(t, Config{Resolve: inet.resolve})
	token := "ghp_" + strings.ReplaceAll(backend.NewID(), "-", "")
	policy := &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"allowed.test", "example.com"},
		Presets: []string{"github"}, Credentials: map[string]string{"github": token}}
	sb := create(t, e, backend.SandboxSpec{Policy: policy, Env: map[string]string{"HTTP_PROXY": "http://evil.invalid:1"}})
	if sb.Metadata["network"] != "proxy" || sb.Metadata["policy"] != backend.PolicyAllowList {
		t.Errorf("Metadata = %v, want network proxy and policy allow_list", sb.Metadata)
	}
	ctx := context.Background()

	if got, res := curl(t, e, sb.ExternalID, "http://allowed.test/x"); got != "200|hello from allowed.test" {
		t.Errorf("allowed host over http: %q (stderr %q)", got, res.Stderr)
	}
	if got, res := curl(t, e, sb.ExternalID, "http://denied.test/x"); !strings.HasPrefix(got, "403|") || !strings.Contains(got, "not allowed") {
		t.Errorf("denied host over http: %q (stderr %q), want 403", got, res.Stderr)
	}
	if n := len(inet.requests("denied.test")); n != 0 {
		t.Errorf("the denied host got %d requests", n)
	}

	// The preset's credential is injected on plain HTTP, and only for its host.
	if got, res := curl(t, e, sb.ExternalID, "-H", "Authorization: Bearer sandbox-made", "http://api.github.com/user"); got != "200|hello from api.github.com" {
		t.Errorf("api.github.com: %q (stderr %q)", got, res.Stderr)
	}
	if reqs := inet.requests("api.github.com"); len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "Bearer "+token {
		var auth []string
		for _, r := range reqs {
			auth = append(auth, r.Header.Get("Authorization"))
		}
		t.Errorf("api.github.com saw authorization %q, want the preset's bearer token", auth)
	}
	if reqs := inet.requests("allowed.test"); len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "" {
		t.Errorf("allowed.test got %d requests, with authorization %q; want 1 without", len(reqs), reqs[0].Header.Get("Authorization"))
	}
	// A Host header naming another site goes nowhere else: the URL's host is what was checked.
	if got, _ := curl(t, e, sb.ExternalID, "-H", "Host: denied.test", "http://allowed.test/"); got != "200|hello from allowed.test" {
		t.Errorf("Host header override: %q", got)
	}

	// TLS through CONNECT, verified against the test server's certificate.
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	if err := e.WriteFile(ctx, sb.ExternalID, "ca.pem", certPEM); err != nil {
		t.Fatal(err)
	}
	if got, res := curl(t, e, sb.ExternalID, "--cacert", "ca.pem", "https://example.com/"); got != `200|secure hello, auth=""` {
		t.Errorf("allowed host over https: %q (stderr %q)", got, res.Stderr)
	}
	if got, res := curl(t, e, sb.ExternalID, "--cacert", "ca.pem", "https://denied.test/"); strings.HasPrefix(got, "200") || res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "403") {
		t.Errorf("denied host over https: %q, exit %d, stderr %q; want the CONNECT refused with 403", got, res.ExitCode, res.Stderr)
	}

	// No way around the proxy: no interface but lo, and the host's loopback is not reachable directly...
	_, port, _ := net.SplitHostPort(denied.Listener.Addr().String())
	if got, res := curl(t, e, sb.ExternalID, "--noproxy", "*", "http://127.0.0.1:"+port+"/"); strings.HasPrefix(got, "200") || res.ExitCode == 0 {
		t.Errorf("direct connection to the host's loopback: %q, exit %d", got, res.ExitCode)
	}
	// ...nor through the proxy, whose policy does not name it.
	if got, _ := curl(t, e, sb.ExternalID, "--noproxy", "", "http://127.0.0.1:"+port+"/"); !strings.HasPrefix(got, "403|") {
		t.Errorf("the host's loopback through the proxy: %q, want 403", got)
	}
	res := sh(t, e, sb.ExternalID, `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`)
	if got := strings.Fields(string(res.Stdout)); len(got) != 1 || got[0] != "lo" {
		t.Errorf("network interfaces: %q, want only lo", res.Stdout)
	}

	// The proxy variables point at the forwarder (the sandbox env's HTTP_PROXY is replaced), and the
	// credential is nowhere the sandbox can look: env, process environments and command lines, files.
	res = sh(t, e, sb.ExternalID, `echo "$HTTP_PROXY|$https_proxy|$NO_PROXY"; env; cat /proc/*/environ /proc/*/cmdline | tr '\0' '\n'; true`)
	out := string(res.Stdout)
	if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, "http://127.0.0.1:") || strings.Contains(first, "evil") || !strings.Contains(first, "|localhost,") {
		t.Errorf("proxy variables: %q", first)
	}
	if strings.Contains(out, token) {
		t.Errorf("the sandbox sees the credential:\n%s", out)
	}
	if env := string(execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"env"}}).Stdout); strings.Contains(env, egressEnv) || strings.Contains(env, "evil") {
		t.Errorf("the command's env holds the forwarder's variable or the replaced proxy:\n%s", env)
	}
	res = execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"grep", "-rl", token[4:], "/home", "/tmp", "/etc", egressDir}})
	if res.ExitCode == 0 {
		t.Errorf("grep found the credential in the sandbox: %q", res.Stdout)
	}
	// On the host it is only in policy.json (0600), never in the metadata.
	dir := metaString(t, sb, "dir")
	if b, err := os.ReadFile(filepath.Join(dir, metaFile)); err != nil || bytes.Contains(b, []byte(token)) {
		t.Errorf("sandbox.json holds the credential (or cannot be read: %v)", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, policyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("policy.json: %v, %v; want mode 0600", fi, err)
	}
	if fmt.Sprint(sb.Metadata) != "" && strings.Contains(fmt.Sprint(sb.Metadata), token) {
		t.Errorf("Metadata holds the credential")
	}

	// The forwarder keeps the command's exit code, stdin and a missing command's 127.
	res = execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "cat; exit 7"}, Stdin: []byte("in")})
	if res.ExitCode != 7 || string(res.Stdout) != "in" {
		t.Errorf("exit code and stdin through the forwarder: %+v, stdout %q", res, res.Stdout)
	}
	if res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"no-such-command-xyz"}}); res.ExitCode != 127 {
		t.Errorf("missing command through the forwarder: %+v", res)
	}

	// UpdateSandbox changes the policy in place: deny_all now.
	spec := backend.SandboxSpec{RecordID: sb.RecordID, Policy: &backend.NetworkPolicy{Mode: backend.PolicyDenyAll}}
	if _, err := e.UpdateSandbox(ctx, sb.ExternalID, spec); err != nil {
		t.Fatal(err)
	}
	if got, res := curl(t, e, sb.ExternalID, "http://allowed.test/x"); strings.HasPrefix(got, "200") || res.ExitCode == 0 {
		t.Errorf("allowed host after the update to deny_all: %q, exit %d", got, res.ExitCode)
	}
	if _, err := os.Stat(filepath.Join(dir, policyFile)); err != nil {
		t.Errorf("policy.json after the update to deny_all: %v", err)
	}
}

// TestPolicyAllowAllAndDenyAll: allow_all shares the host's network (its loopback test server is reached);
// an explicit deny_all has only its own loopback.
func TestPolicyAllowAllAndDenyAll(t *testing.T) {
	t.Parallel()
	needCurl(t)
	e := newBwrap(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("reached"))
	}))
	t.Cleanup(srv.Close)
	url := "http://" + srv.Listener.Addr().String() + "/"

	all := create(t, e, backend.SandboxSpec{Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}})
	if all.Metadata["network"] != "host" {
		t.Errorf("allow_all Metadata = %v", all.Metadata)
	}
	if got, res := curl(t, e, all.ExternalID, url); got != "200|reached" {
		t.Errorf("allow_all: %q (stderr %q)", got, res.Stderr)
	}
	// Still its own pid namespace and read-only system.
	if res := sh(t, e, all.ExternalID, `cat /proc/1/comm; echo x > /usr/x`); !strings.HasPrefix(string(res.Stdout), spawnerName) || res.ExitCode == 0 {
		t.Errorf("allow_all sandbox: %q, exit %d", res.Stdout, res.ExitCode)
	}

	deny := create(t, e, backend.SandboxSpec{Policy: &backend.NetworkPolicy{Mode: backend.PolicyDenyAll}})
	if deny.Metadata["network"] != "none" {
		t.Errorf("deny_all Metadata = %v", deny.Metadata)
	}
	if got, res := curl(t, e, deny.ExternalID, url); strings.HasPrefix(got, "200") || res.ExitCode == 0 {
		t.Errorf("deny_all reached the host: %q", got)
	}
	res := sh(t, e, deny.ExternalID, `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; echo "[$HTTP_PROXY]"`)
	if got := strings.Fields(string(res.Stdout)); len(got) != 2 || got[0] != "lo" || got[1] != "[]" {
		t.Errorf("deny_all: %q, want only lo and no proxy", res.Stdout)
	}
}

// TestPolicyValidation: policies are checked, and isolation none only takes allow_all.
func TestPolicyValidation(t *testing.T) {
	e := newBwrap(t)
	if c := e.Capabilities(); strings.Join(c.NetworkPolicies, ",") != "deny_all,allow_all,allow_list" || !c.Volumes || !c.Setups || !c.Workspaces {
		t.Errorf("Capabilities = %+v", c)
	}
	bad := []*backend.NetworkPolicy{
		{Mode: "open"},
		{Mode: backend.PolicyAllowList},
		{Mode: backend.PolicyDenyAll, Hosts: []string{"a.com"}},
		{Mode: backend.PolicyAllowList, Hosts: []string{"http://a.com"}},
		{Mode: backend.PolicyAllowList, Presets: []string{"nope"}},
		{Mode: backend.PolicyAllowList, Presets: []string{"npm"}, Credentials: map[string]string{"npm": "x"}},
	}
	for _, p := range bad {
		if err := e.ValidateSpec(backend.SandboxSpec{Policy: p}); err == nil {
			t.Errorf("ValidateSpec with policy %+v = nil", p)
		}
	}
	ok := &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"*.example.com"}, Presets: []string{"github"}, Credentials: map[string]string{"github": "t"}}
	if err := e.ValidateSpec(backend.SandboxSpec{Policy: ok}); err != nil {
		t.Errorf("ValidateSpec with %+v: %v", ok, err)
	}
	n := newNone(t)
	for _, mode := range []string{backend.PolicyDenyAll, backend.PolicyAllowList} {
		p := &backend.NetworkPolicy{Mode: mode}
		if mode == backend.PolicyAllowList {
			p.Hosts = []string{"a.com"}
		}
		if err := n.ValidateSpec(backend.SandboxSpec{Policy: p}); err == nil {
			t.Errorf("isolation none accepts policy %s", mode)
		}
	}
	if err := n.ValidateSpec(backend.SandboxSpec{Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}}); err != nil {
		t.Errorf("isolation none refuses allow_all: %v", err)
	}
}

// TestDefaultResolveRefusesLocal: without a resolver hook, allowed names that lead to the host itself (or to
// link-local metadata services) are refused.
func TestDefaultResolveRefusesLocal(t *testing.T) {
	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "::1", "169.254.169.254", "0.0.0.0", "localhost", "224.0.0.1"} {
		if addr, err := defaultResolve(ctx, host, "80"); err == nil {
			t.Errorf("defaultResolve(%s) = %s, want an error", host, addr)
		}
	}
	if addr, err := defaultResolve(ctx, "93.184.216.34", "443"); err != nil || addr != "93.184.216.34:443" {
		t.Errorf("defaultResolve of a public address = %q, %v", addr, err)
	}
	var g egress
	g.policy = &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"a.test"}}
	if _, err := g.dial(ctx, "tcp", "b.test:80"); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("dial of a host the policy does not allow = %v", err)
	}
}

// TestPolicyAllowListLimits: under allow_list the command (behind its forwarder) still gets memory_mb and
// max_processes.
func TestPolicyAllowListLimits(t *testing.T) {
	t.Parallel()
	e := newBwrap(t)
	opts := map[string]any{OptionMaxProcesses: 16}
	memOK := checkEnforceable(limits{memoryMB: 64}, IsolationBwrap) == nil
	if memOK {
		opts[OptionMemoryMB] = 64
	}
	sb := create(t, e, backend.SandboxSpec{
		Options: opts,
		Policy:  &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"a.test"}},
	})
	if res := sh(t, e, sb.ExternalID, forkMany); !bytes.Contains(res.Stderr, []byte("fork")) {
		t.Errorf("40 processes with max_processes 16 under allow_list: exit %d, stderr %q; want fork failures", res.ExitCode, res.Stderr)
	}
	if memOK {
		if res := sh(t, e, sb.ExternalID, `(head -c 100000000 /dev/zero; sleep 1) | tail -n1 >/dev/null; echo "rc=$?"`); string(res.Stdout) != "rc=137\n" {
			t.Errorf("100 MB under memory_mb 64 and allow_list: %q (stderr %q), want it killed", res.Stdout, res.Stderr)
		}
	}
	res := sh(t, e, sb.ExternalID, `echo "ok $HTTP_PROXY"; env | grep -c TERRAFORM_PROVIDER_SANDBOX || true`)
	if out := string(res.Stdout); !strings.HasPrefix(out, "ok http://127.0.0.1:") || !strings.HasSuffix(out, "\n0\n") {
		t.Errorf("a command under memory_mb 64 and allow_list: %q (stderr %q)", out, res.Stderr)
	}
	if res := execIn(t, e, sb.ExternalID, backend.ExecRequest{Argv: []string{"no-such-command-xyz"}}); res.ExitCode != 127 {
		t.Errorf("missing command through the shim: %+v", res)
	}
}

// TestPolicyPorts: an allow_list host entry allows ports 80 and 443 only, over plain HTTP and CONNECT alike;
// an entry that names a port allows that port (and not the defaults).
func TestPolicyPorts(t *testing.T) {
	t.Parallel()
	needCurl(t)
	inet := &fakeInternet{hosts: map[string]string{}}
	inet.serve(t, "web.test")
	inet.serve(t, "ported.test")
	e := newBwrapCfg(t, Config{Resolve: inet.resolve})
	sb := create(t, e, backend.SandboxSpec{Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"web.test", "ported.test:8080"}}})
	if got, res := curl(t, e, sb.ExternalID, "http://web.test/"); got != "200|hello from web.test" {
		t.Errorf("web.test on port 80: %q (stderr %q)", got, res.Stderr)
	}
	for _, u := range []string{"http://web.test:22/", "http://web.test:8080/", "http://ported.test/", "http://ported.test:8081/"} {
		if got, res := curl(t, e, sb.ExternalID, u); !strings.HasPrefix(got, "403|") || !strings.Contains(got, "not allowed") {
			t.Errorf("%s: %q (stderr %q), want 403", u, got, res.Stderr)
		}
	}
	if got, res := curl(t, e, sb.ExternalID, "http://ported.test:8080/"); got != "200|hello from ported.test" {
		t.Errorf("ported.test on its named port 8080: %q (stderr %q)", got, res.Stderr)
	}
	// CONNECT to an allowed host's other port (an SSH tunnel, say) is refused before any dial.
	res := sh(t, e, sb.ExternalID, `curl -sS --max-time 10 -p -o /dev/null -w '%{http_connect}' http://web.test:22/; true`)
	if string(res.Stdout) != "403" {
		t.Errorf("CONNECT web.test:22: %q (stderr %q), want 403", res.Stdout, res.Stderr)
	}
	if n := len(inet.requests("ported.test")); n != 1 {
		t.Errorf("ported.test got %d requests, want only the one on its port", n)
	}
	p := &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{"*.example.com", "db.example.com:5432"}, Presets: []string{"github"}}
	for _, c := range []struct {
		host, port string
		want       bool
	}{
		{"a.example.com", "443", true}, {"a.example.com", "80", true}, {"a.example.com", "22", false},
		{"db.example.com", "5432", true}, {"db.example.com", "443", true}, {"api.github.com", "443", true},
		{"api.github.com", "22", false}, {"other.test", "443", false},
	} {
		if got := p.AllowsPort(c.host, c.port); got != c.want {
			t.Errorf("AllowsPort(%s, %s) = %v, want %v", c.host, c.port, got, c.want)
		}
	}
	for _, bad := range []string{"a.test:0", "a.test:65536", "a.test:x", "a.test:", "a.test:080"} {
		if err := (&backend.NetworkPolicy{Mode: backend.PolicyAllowList, Hosts: []string{bad}}).Validate(); err == nil {
			t.Errorf("host entry %q accepted", bad)
		}
	}
}
