package harness

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// server serves "GET /x" under the harness, counting the requests its handler really served.
func server(t *testing.T) (*Set, *httptest.Server, *atomic.Int32) {
	t.Helper()
	var set Set
	var served atomic.Int32
	done := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set.Take(r.Method+" "+r.URL.Path, r).Serve(w, r, done, func(w http.ResponseWriter, _ *http.Request) {
			served.Add(1)
			_, _ = io.WriteString(w, "ok")
		}, func(w http.ResponseWriter, _ *http.Request, f *Fault) {
			w.WriteHeader(f.Status)
			_, _ = io.WriteString(w, "fake error")
		})
	}))
	t.Cleanup(func() { close(done); ts.Close() })
	return &set, ts, &served
}

func get(t *testing.T, url string) (int, string, error) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestNthAndTimes(t *testing.T) {
	set, ts, _ := server(t)
	set.Add(Fault{Route: "GET /x", Nth: 2, Times: 2, Status: 503})
	var got []int
	for range 5 {
		st, _, err := get(t, ts.URL+"/x")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, st)
	}
	want := []int{200, 503, 503, 200, 200}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses = %v, want %v", got, want)
		}
	}
	if set.Pending() != 0 {
		t.Errorf("a spent fault is still pending")
	}
}

func TestOtherRoutesAndMethodsDoNotMatch(t *testing.T) {
	set, ts, _ := server(t)
	set.Add(Fault{Route: "GET /y", Status: 500}, Fault{Route: "POST", Status: 500})
	if st, _, _ := get(t, ts.URL+"/x"); st != 200 {
		t.Errorf("GET /x = %d, want 200 (faults of GET /y and POST)", st)
	}
	if set.Pending() != 2 {
		t.Errorf("pending = %d, want 2", set.Pending())
	}
}

func TestBodyHeaderAndRetryAfter(t *testing.T) {
	set, ts, served := server(t)
	set.Add(Fault{Status: 429, RetryAfter: "3", Body: `{"error":"slow"}`, Header: http.Header{"X-Limit": {"0"}}, Times: -1})
	for range 3 {
		resp, err := http.Get(ts.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 429 || string(b) != `{"error":"slow"}` || resp.Header.Get("Retry-After") != "3" ||
			resp.Header.Get("X-Limit") != "0" || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("answer %d %q %v", resp.StatusCode, b, resp.Header)
		}
	}
	if served.Load() != 0 {
		t.Errorf("a fault without AfterApply let the request through %d times", served.Load())
	}
	set.Clear()
	if st, body, _ := get(t, ts.URL+"/x"); st != 200 || body != "ok" {
		t.Errorf("after Clear: %d %q", st, body)
	}
}

func TestFakeErrorBodyWithoutBody(t *testing.T) {
	set, ts, _ := server(t)
	set.Add(Fault{Status: 500})
	if st, body, _ := get(t, ts.URL+"/x"); st != 500 || body != "fake error" {
		t.Errorf("got %d %q, want the fake's own error body", st, body)
	}
}

func TestDropAfterApply(t *testing.T) {
	set, ts, served := server(t)
	set.Add(Fault{Status: Drop, AfterApply: true})
	_, _, err := get(t, ts.URL+"/x")
	if err == nil {
		t.Fatal("a dropped connection gave an answer")
	}
	if served.Load() != 1 {
		t.Errorf("the request was served %d times before its answer was lost, want 1", served.Load())
	}
	set.Add(Fault{Status: 502, AfterApply: true})
	if st, _, _ := get(t, ts.URL+"/x"); st != 502 || served.Load() != 2 {
		t.Errorf("applied then 502: %d, served %d", st, served.Load())
	}
}

func TestDelay(t *testing.T) {
	set, ts, _ := server(t)
	set.Add(Fault{Delay: 50 * time.Millisecond})
	start := time.Now()
	if st, body, _ := get(t, ts.URL+"/x"); st != 200 || body != "ok" {
		t.Errorf("a delay-only fault answered %d %q", st, body)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered after %s, before the delay", d)
	}
}

func TestMatch(t *testing.T) {
	set, ts, _ := server(t)
	set.Add(Fault{Times: -1, Status: 500, Match: func(r *http.Request) bool { return r.URL.Query().Get("f") == "1" }})
	if st, _, _ := get(t, ts.URL+"/x?f=1"); st != 500 {
		t.Errorf("matched request: %d", st)
	}
	if st, _, _ := get(t, ts.URL+"/x"); st != 200 {
		t.Errorf("unmatched request: %d", st)
	}
}

func TestCopyTree(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "d", "f"), []byte("hi"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("d/f", filepath.Join(src, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "d-old"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CopyTree(src, dst, true); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "l")); err != nil || string(b) != "hi" {
		t.Errorf("link: %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "d", "f")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("file mode: %v %v", fi, err)
	}
	dst2 := t.TempDir()
	if err := CopyTree(src, dst2, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dst2, "l")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("without keepLinks a link was copied: %v", err)
	}
}
