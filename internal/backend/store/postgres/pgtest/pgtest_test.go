package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	if os.Getenv(orphanEnv) != "" {
		orphan()
		return
	}
	Main(m)
}

func TestServer(t *testing.T) {
	srv := StartShared(t)
	ctx := t.Context()
	if os.Geteuid() == 0 {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "Uid:") {
				t.Logf("postgres runs as %s", line)
				if f := strings.Fields(line); len(f) < 2 || f[1] == "0" {
					t.Errorf("postgres runs as root: %s", line)
				}
			}
		}
	}
	name, dsn := srv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx) //nolint:errcheck // test connection
	var db, user string
	if err := conn.QueryRow(ctx, "SELECT current_database(), current_user").Scan(&db, &user); err != nil {
		t.Fatal(err)
	}
	if db != name || user != Superuser {
		t.Errorf("connected to %s as %s; want %s as %s", db, user, name, Superuser)
	}
	// Password authentication is on: a wrong password is refused.
	wrong := srv.ConnString(Superuser, "wrong", name)
	if c, err := pgx.Connect(ctx, wrong); err == nil {
		_ = c.Close(ctx)
		t.Error("a wrong password was accepted")
	}
	if dsn2 := Start(t); dsn2 == dsn {
		t.Error("Start returned the same database twice")
	}
}

func TestStop(t *testing.T) {
	if _, err := findBinDir(); err != nil {
		t.Skip(err)
	}
	srv, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	pid := srv.cmd.Process.Pid
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(srv.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop left %s behind: %v", srv.dir, err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postgres (pid %d) still runs after Stop: %v", pid, err)
	}
}

const orphanEnv = "PGTEST_ORPHAN"

// orphan starts a server, prints its pid and directory, and exits without stopping it.
func orphan() {
	srv, err := StartServer()
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println(srv.cmd.Process.Pid, srv.dir)
	os.Exit(0)
}

// TestOrphanDies checks that a test binary that exits without Stop takes its server with it.
func TestOrphanDies(t *testing.T) {
	if _, err := findBinDir(); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var pid int
	var dir string
	if _, err := fmt.Sscan(string(out), &pid, &dir); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("postgres (pid %d) outlived its test binary", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNotInstalled checks the message, and that Start skips, when no binaries can be found.
func TestNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := libDirs
	libDirs = "/nonexistent/postgresql/*/bin"
	defer func() { libDirs = saved }()

	_, err := StartServer()
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Errorf("StartServer: err = %v; want ErrNotInstalled saying what to install", err)
	}

	var skipped bool
	t.Run("skips", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		skipOrFail(t, err)
		t.Error("skipOrFail returned")
	})
	if !skipped {
		t.Error("a missing installation did not skip the test")
	}
}

func TestConnStringQuoting(t *testing.T) {
	s := &Server{dir: "/tmp/with space"}
	got := s.ConnString("me", `it's a \ secret`, "db")
	want := `host='/tmp/with space' port=5432 user=me password='it\'s a \\ secret' dbname=db sslmode=disable`
	if got != want {
		t.Errorf("ConnString = %s; want %s", got, want)
	}
	cfg, err := pgx.ParseConfig(got)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != `it's a \ secret` || cfg.Host != "/tmp/with space" {
		t.Errorf("parsed back: password %q host %q", cfg.Password, cfg.Host)
	}
}
