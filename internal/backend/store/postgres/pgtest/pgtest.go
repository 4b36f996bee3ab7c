// Package pgtest runs a throwaway PostgreSQL server for tests: initdb in a temporary directory, the server on a
// unix socket in that directory (no TCP port, so test binaries never collide), a fresh database per test.
//
// A package's tests share one server per test binary:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Start(t) // a fresh database, dropped when the test ends
//		...
//	}
//
// The server binaries (initdb, postgres) are looked up in PATH, then in /usr/lib/postgresql/<version>/bin (the
// Debian and Ubuntu layout; the newest version wins). When they are missing, Start skips the test with a message
// that says what to install. PostgreSQL refuses to run as root, so when the tests run as root the server runs
// as the "postgres" system user (which the Debian package creates), else as "nobody".
//go:build linux

package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotInstalled is returned (wrapped) by StartServer when the PostgreSQL server binaries cannot be found.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, postgres) not found in PATH or " +
	"/usr/lib/postgresql/*/bin: install them, e.g. `apt-get install -y postgresql` on Debian/Ubuntu")

// Superuser is the name of the server's superuser role.
const Superuser = "postgres"

// port only names the socket file (.s.PGSQL.<port>); the server listens on no TCP port.
const port = 5432

// Server is a running PostgreSQL server in a temporary directory.
type Server struct {
	dir      string // temporary root: socket, data/, server.log
	binDir   string
	password string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the server process exited
	waitErr  error
	logPath  string
	nextDB   atomic.Int64
	stopOnce sync.Once
	stopErr  error
}

// StartServer runs initdb and starts a server. The caller must Stop it. The error wraps ErrNotInstalled when the
// binaries cannot be found.
func StartServer() (*Server, error) {
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempParent(cred != nil), "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, binDir: binDir, logPath: filepath.Join(dir, "server.log"), done: make(chan struct{})}
	if err := s.start(cred); err != nil {
		if s.cmd != nil {
			s.kill()
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("pgtest: remove %s: %w", dir, rerr))
		}
		return nil, err
	}
	return s, nil
}

func (s *Server) start(cred *syscall.Credential) error {
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	s.password = hex.EncodeToString(pw)
	pwFile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(s.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		for _, p := range []string{s.dir, pwFile} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("pgtest: hand %s to the server's user: %w", p, err)
			}
		}
	}

	data := filepath.Join(s.dir, "data")
	// Password authentication everywhere, so that tests see what a real installation does with a password.
	initdb := exec.Command(filepath.Join(s.binDir, "initdb"), "-D", data, "-U", Superuser, "--pwfile", pwFile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Env = serverEnv()
	initdb.Dir = s.dir // the test's working directory may be closed to the server's user
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	if err := os.Remove(pwFile); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}

	logFile, err := os.Create(s.logPath)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close() //nolint:errcheck // the child has its own descriptor
	s.cmd = exec.Command(filepath.Join(s.binDir, "postgres"), "-D", data,
		"-k", s.dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "dynamic_shared_memory_type=mmap", // /dev/shm is often tiny in containers
		"-c", "log_min_messages=warning",
	)
	s.cmd.Env = serverEnv()
	s.cmd.Dir = s.dir
	s.cmd.Stdout = logFile
	s.cmd.Stderr = logFile
	// Pdeathsig: a test binary that dies without calling Stop takes its server with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	return s.waitReady(30 * time.Second)
}

// waitReady connects until the server accepts connections, the process exits or the timeout passes.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgconn.Connect(ctx, s.dsn("postgres"))
		cancel()
		if err == nil {
			if cerr := conn.Close(context.Background()); cerr != nil {
				return fmt.Errorf("pgtest: close probe connection: %w", cerr)
			}
			return nil
		}
		select {
		case <-s.done:
			exit := s.waitErr
			if exit == nil {
				exit = errors.New("exit status 0")
			}
			return fmt.Errorf("pgtest: postgres exited before accepting connections: %w\n%s", exit, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres did not accept connections within %s: %w\n%s", timeout, err, s.logTail())
		}
	}
}

// DSN returns the superuser's keyword/value connection string for the "postgres" database.
func (s *Server) DSN() string { return s.dsn("postgres") }

// DatabaseDSN returns the superuser's connection string for the named database.
func (s *Server) DatabaseDSN(db string) string { return s.dsn(db) }

func (s *Server) dsn(db string) string { return s.ConnString(Superuser, s.password, db) }

// ConnString returns the keyword/value connection string of another role (see CREATE ROLE ... LOGIN PASSWORD)
// for the named database.
func (s *Server) ConnString(user, password, db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		quoteValue(s.dir), port, quoteValue(user), quoteValue(password), quoteValue(db))
}

// quoteValue quotes a keyword/value connection string value when it needs it.
func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`) {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// Password returns the superuser's password (tests check that it never appears in an error).
func (s *Server) Password() string { return s.password }

// SocketDir returns the directory that holds the server's unix socket (the DSN's host).
func (s *Server) SocketDir() string { return s.dir }

// NewDatabase creates an empty database and returns its name and its superuser connection string. Cleanup
// drops it when tb ends.
func (s *Server) NewDatabase(tb testing.TB) (name, dsn string) {
	tb.Helper()
	name = fmt.Sprintf("test_%d_%d", os.Getpid(), s.nextDB.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := s.CreateDatabase(ctx, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return name, dsn
}

// CreateDatabase creates an empty database that lives as long as the server and returns its superuser
// connection string. Creating a database takes a few hundred milliseconds; tests that need many fresh
// installations can share one database and give each its own schema.
func (s *Server) CreateDatabase(ctx context.Context, name string) (dsn string, err error) {
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return s.dsn(name), nil
}

// Exec runs one SQL statement as the superuser in the "postgres" database.
func (s *Server) Exec(ctx context.Context, sql string) error { return s.exec(ctx, sql) }

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgconn.Connect(ctx, s.DSN())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	_, err = conn.Exec(ctx, sql).ReadAll()
	if cerr := conn.Close(ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown, then immediate, then SIGKILL) and removes its directory.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("pgtest: stop postgres: %w", err)
		}
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.kill()
		}
		if err := os.RemoveAll(s.dir); err != nil {
			s.stopErr = errors.Join(s.stopErr, fmt.Errorf("pgtest: %w", err))
		}
	})
	return s.stopErr
}

func (s *Server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
		return
	case <-time.After(5 * time.Second):
	}
	// The postmaster's children are in its process group.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "server log:\n" + string(bytes.TrimSpace(b))
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
	sharedMu   sync.Mutex
)

// Shared returns the test binary's server, starting it on first use. The error wraps ErrNotInstalled when the
// binaries cannot be found.
func Shared() (*Server, error) {
	sharedOnce.Do(func() {
		srv, err := StartServer()
		sharedMu.Lock()
		defer sharedMu.Unlock()
		shared, sharedErr = srv, err
	})
	return shared, sharedErr
}

// StartShared returns the test binary's server, or skips tb when the PostgreSQL binaries are not installed.
func StartShared(tb testing.TB) *Server {
	tb.Helper()
	srv, err := Shared()
	skipOrFail(tb, err)
	return srv
}

// skipOrFail skips tb when err says the binaries are missing, and fails it on any other error.
func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrNotInstalled) {
		tb.Skipf("pgtest: skipping: %v", err)
	}
	if err != nil {
		tb.Fatalf("%v", err)
	}
}

// Start returns the connection string of a fresh database on the test binary's server (started on first use),
// dropped when tb ends. It skips tb when the PostgreSQL binaries are not installed.
func Start(tb testing.TB) (dsn string) {
	tb.Helper()
	_, dsn = StartShared(tb).NewDatabase(tb)
	return dsn
}

// StopShared stops the shared server, if it was started.
func StopShared() error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil {
		return nil
	}
	return shared.Stop()
}

// Main runs the package's tests and then stops the shared server. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// libDirs is where Debian and Ubuntu install the server binaries, one directory per major version.
var libDirs = "/usr/lib/postgresql/*/bin"

// findBinDir returns the directory holding initdb and postgres: PATH first, then the newest
// /usr/lib/postgresql/<version>/bin.
func findBinDir() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); has(dir) {
			return dir, nil
		}
	}
	dirs, err := filepath.Glob(libDirs)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pgtest: %w", ErrNotInstalled)
}

// version is the major version in /usr/lib/postgresql/<version>/bin, 0 when it is not a number.
func version(binDir string) int {
	v, err := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	if err != nil {
		return 0
	}
	return v
}

// serverCredential returns the user to run the server as: nil (this process's user) unless running as root,
// then "postgres" or else "nobody".
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("pgtest: user %s: uid %q: %w", name, u.Uid, err)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("pgtest: user %s: gid %q: %w", name, u.Gid, err)
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("pgtest: running as root, and PostgreSQL refuses root: create a `postgres` user " +
		"(the Debian postgresql package does) or a `nobody` user to run the server as")
}

// tempParent returns the directory for the server's temporary directory: os.TempDir(), unless another user
// must reach it and cannot (a parent that is not world-searchable), then /tmp.
func tempParent(otherUser bool) string {
	dir := os.TempDir()
	if !otherUser {
		return dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

// serverEnv is the environment of initdb and postgres: PATH and the C locale, nothing else of the test's own.
func serverEnv() []string {
	return []string{"LC_ALL=C", "LANG=C", "PATH=" + os.Getenv("PATH")}
}
