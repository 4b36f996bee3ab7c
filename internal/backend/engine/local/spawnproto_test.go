//go:build linux

package local

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// seqpacketPair returns both ends of a SOCK_SEQPACKET unix socket pair, as the engine and the spawner see their
// connection.
func seqpacketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "seqpacket")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		uc, ok := c.(*net.UnixConn)
		if !ok {
			t.Fatalf("a socket pair end is a %T", c)
		}
		return uc
	}
	return conn(fds[0]), conn(fds[1])
}

// A request is one message when its body fits in spawnChunk (the spawner, woken by it, finds it whole), and
// still arrives whole, descriptors included, when its body takes several messages.
func TestSpawnRequestMessages(t *testing.T) {
	for _, c := range []struct {
		name     string
		envBytes int
		messages int
	}{{"small", 100, 1}, {"one chunk", spawnChunk - 200, 1}, {"several chunks", 3*spawnChunk + 10, 4}} {
		t.Run(c.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			req := spawnRequest{Argv: []string{"true"}, Env: []string{"BIG=" + strings.Repeat("x", c.envBytes)}, Dir: "/home/sandbox", Cgroup: []int{3}}
			files := []*os.File{r, w, w, r}

			// How many messages the engine sends.
			engine, spawnerEnd := seqpacketPair(t)
			if err := sendSpawnRequest(engine, req, files); err != nil {
				t.Fatal(err)
			}
			_ = engine.CloseWrite()
			n := 0
			buf := make([]byte, 8+spawnChunk)
			oob := make([]byte, unix.CmsgSpace(4*spawnMaxFDs))
			for {
				m, oobn, _, _, err := spawnerEnd.ReadMsgUnix(buf, oob)
				if err != nil || m == 0 {
					break
				}
				if oobn > 0 {
					msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
					for _, cm := range msgs {
						fds, _ := unix.ParseUnixRights(&cm)
						for _, fd := range fds {
							_ = unix.Close(fd)
						}
					}
				}
				n++
			}
			if n != c.messages {
				t.Fatalf("the request took %d messages, want %d", n, c.messages)
			}

			// What the spawner reads.
			engine, spawnerEnd = seqpacketPair(t)
			if err := sendSpawnRequest(engine, req, files); err != nil {
				t.Fatal(err)
			}
			_ = engine.CloseWrite()
			got, gotReq, err := readSpawnRequest(spawnerEnd)
			for _, f := range got {
				_ = f.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(files) {
				t.Fatalf("%d descriptors arrived, want %d", len(got), len(files))
			}
			if !reflect.DeepEqual(*gotReq, req) {
				t.Fatalf("the request changed on the way (%d bytes of env, want %d)", len(gotReq.Env[0]), len(req.Env[0]))
			}
			if m, err := spawnerEnd.Read(buf); m != 0 && err == nil {
				t.Fatalf("%d bytes left after the request", m)
			}
		})
	}
}

// readSmallFile reads what os.ReadFile reads (files whose size stat does not give, as in /proc, and files
// larger than its first buffer), and a missing file is fs.ErrNotExist, as the metadata readers expect.
func TestReadSmallFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("0123456789", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{big, "/proc/self/stat", "/proc/self/mountinfo"} {
		got, err := readSmallFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if p == "/proc/self/stat" { // its counters move between two reads
			got, want = got[:strings.IndexByte(string(got), ')')], want[:strings.IndexByte(string(want), ')')]
		}
		if string(got) != string(want) {
			t.Fatalf("%s: read %d bytes, os.ReadFile %d", p, len(got), len(want))
		}
	}
	if _, err := readSmallFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing file: %v, want fs.ErrNotExist", err)
	}
	f, err := openFile(filepath.Join(dir, "made"), unix.O_RDWR|unix.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("openFile made %v, %v; want a 0600 file", fi, err)
	}
	if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Fatalf("openFile's descriptor is not close-on-exec (%#x, %v)", fl, err)
	}
}
