//go:build linux

package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// The egress of an allow_list command (see the package documentation): a filtering HTTP proxy in the engine's
// process, reached from the sandbox through a socket pair that its forwarder inherits as egressFD.
const (
	// egressHelper is the running executable, as the sandbox sees it.
	egressHelper = egressDir + "/forwarder"
	// egressEnv tells the executable to be the forwarder, with the control socket at the descriptor it names.
	egressEnv = "TERRAFORM_PROVIDER_SANDBOX_EGRESS_FD"
	// egressFD follows bubblewrap's --args, --info-fd and --block-fd (3, 4, 5).
	egressFD        = 6
	egressMaxConns  = 256 // open proxy connections per command
	egressDialLimit = 30 * time.Second
)

// egress is the filtering proxy of one command.
type egress struct {
	exe        string   // the executable bind-mounted as the forwarder
	sandboxEnd *os.File // the control socket's end given to the sandbox (closed once bubblewrap has it)
	ctl        *net.UnixConn
	policy     *backend.NetworkPolicy
	resolve    func(ctx context.Context, host, port string) (string, error)
	ln         *connListener
	srv        *http.Server
	proxy      *httputil.ReverseProxy
	ctx        context.Context
	cancel     context.CancelFunc
	slots      chan struct{} // one per open connection
	done       sync.WaitGroup

	mu      sync.Mutex
	tunnels map[net.Conn]struct{} // hijacked CONNECT connections and their upstreams, closed by close
	closed  bool
}

// executable is the running executable, the forwarder of allow_list sandboxes.
// The path is resolved again (every component's symlinks) only when /proc/self/exe names another one.
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the running executable (the egress forwarder): %w", err)
	}
	if v, ok := resolvedExe.Load().(*[2]string); ok && v[0] == exe {
		return v[1], nil
	}
	resolved, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return "", fmt.Errorf("finding the running executable (the egress forwarder): %w", err)
	}
	resolvedExe.Store(&[2]string{exe, resolved})
	return resolved, nil
}

// resolvedExe is the last os.Executable() and what it resolved to.
var resolvedExe atomic.Value // *[2]string

// startEgress starts the proxy of one command under policy.
func (e *Engine) startEgress(policy *backend.NetworkPolicy) (*egress, error) {
	exe, err := executable()
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("making the egress socket pair: %w", err)
	}
	hostEnd := os.NewFile(uintptr(fds[0]), "egress-control")
	fc, err := net.FileConn(hostEnd)
	_ = hostEnd.Close()
	if err != nil {
		_ = unix.Close(fds[1])
		return nil, fmt.Errorf("making the egress socket pair: %w", err)
	}
	ctl, ok := fc.(*net.UnixConn)
	if !ok {
		_ = fc.Close()
		_ = unix.Close(fds[1])
		return nil, errors.New("making the egress socket pair: not a unix socket")
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &egress{
		exe:        exe,
		sandboxEnd: os.NewFile(uintptr(fds[1]), "egress-sandbox"),
		ctl:        ctl,
		policy:     policy,
		resolve:    e.resolve,
		ln:         newConnListener(),
		ctx:        ctx,
		cancel:     cancel,
		slots:      make(chan struct{}, egressMaxConns),
		tunnels:    map[net.Conn]struct{}{},
	}
	discard := log.New(io.Discard, "", 0)
	g.proxy = &httputil.ReverseProxy{
		Rewrite:       g.rewrite,
		Transport:     &http.Transport{Proxy: nil, DialContext: g.dial, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: 5 * time.Minute},
		FlushInterval: -1, // stream (server-sent events, long polls)
		ErrorLog:      discard,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, fmt.Sprintf("sandbox egress proxy: %s: %v", r.URL.Host, err), http.StatusBadGateway)
		},
	}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: discard}
	g.done.Add(2)
	go func() {
		defer g.done.Done()
		_ = g.srv.Serve(g.ln)
	}()
	go func() {
		defer g.done.Done()
		g.serveControl()
	}()
	return g, nil
}

// closeSandboxEnd closes this process's copy of the sandbox's end of the control socket.
func (g *egress) closeSandboxEnd() {
	if g.sandboxEnd != nil {
		_ = g.sandboxEnd.Close()
		g.sandboxEnd = nil
	}
}

// close stops the proxy and closes every connection it holds.
func (g *egress) close() {
	g.closeSandboxEnd()
	g.cancel()
	_ = g.ctl.Close()
	_ = g.srv.Close() // closes the listener and the connections it tracks
	g.mu.Lock()
	g.closed = true
	for c := range g.tunnels {
		_ = c.Close()
	}
	g.mu.Unlock()
	g.done.Wait()
	if t, ok := g.proxy.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// serveControl answers the forwarder: for each one-byte request it makes a socket pair, passes one end back
// (or no descriptor when egressMaxConns connections are open) and serves the other end as a proxy connection.
func (g *egress) serveControl() {
	buf := make([]byte, 16)
	for {
		n, _, _, _, err := g.ctl.ReadMsgUnix(buf, nil)
		if err != nil || n == 0 {
			return // the sandbox ended, or close
		}
		select {
		case g.slots <- struct{}{}:
		default:
			if _, _, err := g.ctl.WriteMsgUnix([]byte{0}, nil, nil); err != nil {
				return
			}
			continue
		}
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			<-g.slots
			if _, _, err := g.ctl.WriteMsgUnix([]byte{0}, nil, nil); err != nil {
				return
			}
			continue
		}
		_, _, err = g.ctl.WriteMsgUnix([]byte{1}, unix.UnixRights(fds[1]), nil)
		_ = unix.Close(fds[1])
		f := os.NewFile(uintptr(fds[0]), "egress-conn")
		c, cerr := net.FileConn(f)
		_ = f.Close()
		if err != nil || cerr != nil {
			<-g.slots
			if c != nil {
				_ = c.Close()
			}
			if err != nil {
				return
			}
			continue
		}
		if !g.ln.deliver(&slotConn{Conn: c, release: func() { <-g.slots }}) {
			return
		}
	}
}

// ServeHTTP filters one proxy request: CONNECT host:port for TLS, absolute-form http:// requests for plain
// HTTP; anything else, and any host the policy does not allow, is refused.
func (g *egress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		g.connect(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "sandbox egress proxy: only proxy requests are served: CONNECT host:port, or an absolute http:// URL", http.StatusBadRequest)
		return
	}
	host, port := r.URL.Hostname(), r.URL.Port()
	if port == "" {
		port = "80"
	}
	if !g.policy.AllowsPort(host, port) {
		deny(w, net.JoinHostPort(host, port))
		return
	}
	g.proxy.ServeHTTP(w, r)
}

func deny(w http.ResponseWriter, hostPort string) {
	http.Error(w, fmt.Sprintf("sandbox egress proxy: %s is not allowed by the sandbox's network policy (a host entry allows ports 80 and 443 unless it names a port: \"host:port\")", hostPort), http.StatusForbidden)
}

// rewrite prepares a plain-HTTP request: the URL's host is the one that was checked, the Host header follows
// it, and the policy's credential headers for that host are set.
func (g *egress) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.Host = "" // the Host header is the URL's host: no other virtual host on the allowed address
	for _, h := range g.policy.HeadersFor(pr.In.URL.Hostname()) {
		pr.Out.Header.Set(h.Header, h.Value)
	}
}

// dial connects to an allowed host's address, as Config.Resolve gives it.
func (g *egress) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if !g.policy.AllowsPort(host, port) {
		return nil, fmt.Errorf("%s is not allowed by the sandbox's network policy", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, egressDialLimit)
	defer cancel()
	target, err := g.resolve(ctx, host, port)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", target)
}

// connect opens a tunnel to an allowed host:port. The proxy cannot see inside it: no header is injected.
func (g *egress) connect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "443"
	}
	if !g.policy.AllowsPort(host, port) {
		deny(w, net.JoinHostPort(host, port))
		return
	}
	ctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	up, err := g.dial(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		http.Error(w, fmt.Sprintf("sandbox egress proxy: %s: %v", r.Host, err), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = up.Close()
		http.Error(w, "sandbox egress proxy: cannot tunnel", http.StatusInternalServerError)
		return
	}
	down, brw, err := hj.Hijack()
	if err != nil {
		_ = up.Close()
		return
	}
	if !g.track(down, up) {
		return
	}
	defer g.untrack(down, up)
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	splice(up, down, brw.Reader)
}

// track records a tunnel's two connections so that close ends them; false (and both closed) after close.
func (g *egress) track(cs ...net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		g.tunnels[c] = struct{}{}
	}
	return true
}

func (g *egress) untrack(cs ...net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range cs {
		delete(g.tunnels, c)
		_ = c.Close()
	}
}

// splice copies both ways between a and b (reading b through br, which may hold buffered bytes) until both
// directions end, passing on half-closes.
func splice(a, b net.Conn, br *bufio.Reader) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(a, br)
		closeWrite(a)
	}()
	_, _ = io.Copy(b, a)
	closeWrite(b)
	wg.Wait()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// defaultResolve resolves host with the system resolver and returns the first address that is not loopback,
// link-local, unspecified or multicast: a sandbox's allowed host names must not lead to the host's own services
// (or a cloud metadata service).
func defaultResolve(ctx context.Context, host, port string) (string, error) {
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return "", err
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	for _, ip := range ips {
		if !egressRefusedIP(ip) {
			return net.JoinHostPort(ip.String(), port), nil
		}
	}
	return "", fmt.Errorf("%s resolves to no address a sandbox may reach (loopback, link-local, unspecified and multicast addresses are refused)", host)
}

// egressRefusedIP reports whether an address is one a sandbox never reaches through the default resolver.
func egressRefusedIP(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast()
}

// connListener is a net.Listener over connections handed to it.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands a connection to Accept; false (and the connection closed) once the listener is closed.
func (l *connListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		_ = c.Close()
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return egressAddr{} }

type egressAddr struct{}

func (egressAddr) Network() string { return "unix" }
func (egressAddr) String() string  { return "sandbox-egress" }

// slotConn releases its connection slot when closed.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// forwarder is the in-sandbox side: run by the package's init in the sandbox's first process.
func runForwarder(fdText string, argv []string) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "sandbox egress forwarder: "+format+"\n", args...)
		return 126
	}
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		return fail("bad %s %q", egressEnv, fdText)
	}
	unix.CloseOnExec(fd) // the command must not inherit it
	f := os.NewFile(uintptr(fd), "egress-control")
	fc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return fail("control socket: %v", err)
	}
	ctl, ok := fc.(*net.UnixConn)
	if !ok {
		return fail("control socket: not a unix socket")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("listening on the sandbox's loopback: %v", err)
	}
	fw := &forwarder{ctl: ctl}
	go fw.serve(ln)
	if len(argv) == 0 {
		return fail("no command")
	}
	proxy := "http://" + ln.Addr().String()
	env := make([]string, 0, len(os.Environ())+6)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case launchEnv, egressEnv, shimNprocEnv, shimCgroupEnv, spawnerEnv, spawnerLockEnv, spawnerIdleEnv, spawnerNprocEnv, "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY":
			continue
		}
		env = append(env, kv)
	}
	noProxy := "localhost,127.0.0.1,::1"
	env = append(env, "HTTP_PROXY="+proxy, "HTTPS_PROXY="+proxy, "http_proxy="+proxy, "https_proxy="+proxy,
		"NO_PROXY="+noProxy, "no_proxy="+noProxy)
	return runChild(argv, env)
}

// forwarder passes connections made to its loopback listener to the host's proxy.
type forwarder struct {
	mu  sync.Mutex
	ctl *net.UnixConn
}

func (fw *forwarder) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := fw.open()
			if err != nil {
				return
			}
			defer up.Close()
			splice(up, c, bufio.NewReader(c))
		}()
	}
}

// open asks the host for a new connection to the proxy.
func (fw *forwarder) open() (net.Conn, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if _, err := fw.ctl.Write([]byte{1}); err != nil {
		return nil, err
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := fw.ctl.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("the egress proxy refused the connection")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("the egress proxy refused the connection")
	}
	f := os.NewFile(uintptr(fds[0]), "egress-conn")
	defer f.Close()
	return net.FileConn(f)
}
