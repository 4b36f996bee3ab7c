// Command fakeservers is a test tool (not shipped: it lives under internal/): it starts the strict fakes of the
// hosted engines (daytonafake, vercelfake, spritesfake) on loopback ports, writes how to reach them, and serves
// until it gets SIGTERM or SIGINT. scripts/killtest.sh runs it to kill terraform applies on the fakes.
//
//	go run ./internal/testfakes/cmd/fakeservers -out DIR [-root DIR] [-step 100ms] [-latency 20ms]
//	fakeservers -get "$FAKESERVERS_URL/count?engine=vercel"   # a GET without curl
//
// In -out it writes one file per engine, KEY=value lines with the environment variables the provider and
// cmd/sweep read (so `env $(cat DIR/daytona.env) sweep` sweeps that fake, and a script can read the same values
// into a provider block):
//
//	daytona.env   DAYTONA_API_KEY, DAYTONA_API_URL
//	vercel.env    VERCEL_TOKEN, VERCEL_TEAM_ID, VERCEL_PROJECT_ID, VERCEL_API_URL
//	sprites.env   SPRITES_API_TOKEN, SPRITES_API_URL
//	instantdb.env INSTANT_APP_ID, INSTANT_APP_ADMIN_TOKEN, INSTANT_API_URL (the InstantDB fake, app id
//	              InstantAppID: the one the records example names)
//	postgres.env  SANDBOX_POSTGRES_URL (with -postgres: a PostgreSQL server of pgtest, when installed)
//	control.env   FAKESERVERS_URL (written last: its presence means every fake is up)
//
// The tokens are dummies that only these fakes accept. FAKESERVERS_URL serves what the fakes hold, seen from
// the fakes' side (not through the engines' list calls, which filter on the provider's labels and names):
//
//	GET /count            "daytona=<n> vercel=<n> sprites=<n>"
//	GET /count?engine=E   "<n>": live sandboxes on E (daytona: not destroyed; vercel: not deleted; sprites:
//	                      every sprite)
//	GET /objects          JSON {"daytona": [names], "vercel": [...], "sprites": [...]}
//
// The fakes' files (sandbox directories, commands' working trees) live under -root (default: temporary
// directories), removed on a graceful stop.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb/instantdbfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres/pgtest"
)

// DaytonaKey is the API key the Daytona fake accepts.
const DaytonaKey = "dtn_fakeservers_key_0123456789"

// InstantAppID and InstantToken are the app id and admin token the InstantDB fake accepts (UUIDs, as real
// ones are); the app id is the one examples/records/instantdb names.
const (
	InstantAppID = "0b7c5d6e-2f1a-4c3b-9d8e-7f6a5b4c3d2e"
	InstantToken = "7e6d5c4b-3a29-4817-9f6e-5d4c3b2a1908"
)

var engines = []string{"daytona", "vercel", "sprites"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeservers:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "", "directory to write daytona.env, vercel.env, sprites.env and control.env to (required)")
	root := flag.String("root", "", "directory for the fakes' files (default: temporary directories)")
	latency := flag.Duration("latency", 0, "added before every API request is served, as a network round trip would (0 = none); the URLs written are then those of a delaying proxy in front of each fake")
	get := flag.String("get", "", "instead of serving: GET this URL (e.g. $FAKESERVERS_URL/count), print the body and exit (non-zero unless 200), so that scripts need no curl")
	record := flag.Bool("record", false, "put a recording proxy in front of each fake (also done by -latency) and serve GET /requests?engine=E[&reset=1] and GET /summary?engine=E&n=N[&reset=1] on FAKESERVERS_URL (make bench's requests per resource)")
	withPG := flag.Bool("postgres", false, "also start a PostgreSQL server (pgtest: the installed PostgreSQL binaries) and write postgres.env")
	step := flag.Duration("step", 0, "how long each transitional state lasts: Daytona's StepDelay, Vercel's boot and stop delays (default: the fakes' own, 40 ms and 20 ms); longer widens the windows a kill can land in")
	flag.Parse()
	if *get != "" {
		return fetch(*get)
	}
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		return errors.New("-out is required")
	}
	sub := func(name string) string {
		if *root == "" {
			return ""
		}
		return filepath.Join(*root, name)
	}
	for _, n := range engines {
		if d := sub(n); d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}

	dt := daytonafake.New(daytonafake.Options{APIKey: DaytonaKey, Root: sub("daytona"), StepDelay: *step})
	defer dt.Close()
	vc, err := vercelfake.New(vercelfake.Config{Dir: sub("vercel"), BootDelay: *step, StopDelay: *step, SnapshotDelay: *step})
	if err != nil {
		return err
	}
	defer vc.Close()
	sp, err := spritesfake.New(spritesfake.Options{Root: sub("sprites")})
	if err != nil {
		return err
	}
	defer sp.Close()

	idb := instantdbfake.New(InstantAppID, InstantToken)
	defer idb.Close()
	var pgURL string
	if *withPG {
		pg, err := pgtest.StartServer()
		if err != nil {
			return fmt.Errorf("starting PostgreSQL: %w", err)
		}
		defer func() { _ = pg.Stop() }()
		// A URL (no spaces, unlike pgtest's keyword DSN), so that `env $(cat postgres.env)` works too.
		pgURL = fmt.Sprintf("postgres://%s:%s@/postgres?host=%s&sslmode=disable", pgtest.Superuser, url.QueryEscape(pg.Password()), url.QueryEscape(pg.SocketDir()))
	}

	dtURL, vcURL, spURL := dt.URL(), vc.URL(), sp.URL()
	recs := map[string]*recorder{}
	if *latency > 0 || *record {
		var closeProxies []func()
		for i, u := range []*string{&dtURL, &vcURL, &spURL} {
			rec := &recorder{start: time.Now()}
			recs[engines[i]] = rec
			p, closeProxy, err := delayingProxy(*u, *latency, rec)
			if err != nil {
				return err
			}
			*u = p
			closeProxies = append(closeProxies, closeProxy)
		}
		defer func() {
			for _, c := range closeProxies {
				c()
			}
		}()
	}

	live := func() map[string][]string {
		return map[string][]string{"daytona": orEmpty(dt.LiveSandboxNames()), "vercel": orEmpty(vc.Names()), "sprites": orEmpty(sp.Names())}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		l := live()
		if e := r.URL.Query().Get("engine"); e != "" {
			objs, ok := l[e]
			if !ok {
				http.Error(w, "unknown engine "+e, http.StatusNotFound)
				return
			}
			fmt.Fprintln(w, len(objs))
			return
		}
		var parts []string
		for _, e := range engines {
			parts = append(parts, fmt.Sprintf("%s=%d", e, len(l[e])))
		}
		fmt.Fprintln(w, strings.Join(parts, " "))
	})
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, r *http.Request) {
		rec, ok := recs[r.URL.Query().Get("engine")]
		if !ok {
			http.Error(w, "unknown engine, or not recording (-record)", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rec.take(r.URL.Query().Get("reset") == "1"))
	})
	mux.HandleFunc("GET /summary", func(w http.ResponseWriter, r *http.Request) {
		rec, ok := recs[r.URL.Query().Get("engine")]
		if !ok {
			http.Error(w, "unknown engine, or not recording (-record)", http.StatusNotFound)
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		fmt.Fprintln(w, summarize(rec.take(r.URL.Query().Get("reset") == "1"), n))
	})
	mux.HandleFunc("GET /objects", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(live())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ctl.Serve(ln) }()

	vcfg := vc.Config()
	files := []struct {
		name string
		vars [][2]string
	}{
		{"daytona.env", [][2]string{{"DAYTONA_API_KEY", DaytonaKey}, {"DAYTONA_API_URL", dtURL}}},
		{"vercel.env", [][2]string{{"VERCEL_TOKEN", vcfg.Token}, {"VERCEL_TEAM_ID", vcfg.TeamID}, {"VERCEL_PROJECT_ID", vcfg.ProjectID}, {"VERCEL_API_URL", vcURL}}},
		{"sprites.env", [][2]string{{"SPRITES_API_TOKEN", sp.Token()}, {"SPRITES_API_URL", spURL}}},
		{"instantdb.env", [][2]string{{"INSTANT_APP_ID", InstantAppID}, {"INSTANT_APP_ADMIN_TOKEN", InstantToken}, {"INSTANT_API_URL", idb.URL()}}},
		{"control.env", [][2]string{{"FAKESERVERS_URL", "http://" + ln.Addr().String()}}},
	}
	if pgURL != "" {
		files = append(files[:len(files)-1:len(files)-1], files[len(files)-1:]...)
		files = append(files[:len(files)-1], struct {
			name string
			vars [][2]string
		}{"postgres.env", [][2]string{{"SANDBOX_POSTGRES_URL", pgURL}}}, files[len(files)-1])
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		var b strings.Builder
		for _, kv := range f.vars {
			fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
		}
		// Written whole and renamed into place, so that a reader never sees half a file.
		tmp := filepath.Join(*out, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(*out, f.name)); err != nil {
			return err
		}
		fmt.Print(b.String())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return ctl.Shutdown(shut)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// delayingProxy serves target (a base URL, its path kept) on a new loopback port, waiting d (when > 0) before
// passing on each request and recording it in rec. It returns the proxy's URL with target's path.
func delayingProxy(target string, d time.Duration, rec *recorder) (string, func(), error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, err
	}
	origin := &url.URL{Scheme: u.Scheme, Host: u.Host}
	rp := httputil.NewSingleHostReverseProxy(origin)
	rp.FlushInterval = -1 // streamed answers (command output, progress lines) pass at once
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r.Method, r.URL.Path)
		if d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + u.Path, func() { _ = srv.Close() }, nil
}

// fetch GETs u and prints the body.
func fetch(u string) error {
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// request is one API request a fake was sent: when (ms since the recorder started), method and path.
type request struct {
	AtMS   float64 `json:"at_ms"`
	Method string  `json:"method"`
	Path   string  `json:"path"`
}

// recorder keeps the requests sent to one fake.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	reqs  []request
}

func (r *recorder) add(method, path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, request{AtMS: float64(time.Since(r.start).Microseconds()) / 1000, Method: method, Path: path})
}

// take returns the requests recorded so far, and forgets them with reset.
func (r *recorder) take(reset bool) []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]request(nil), r.reqs...)
	if reset {
		r.reqs = nil
	}
	return out
}

// summarize describes reqs for n resources: requests per resource by kind (a POST, PUT or PATCH is a write; a
// GET of one object's path is a get; a GET of a collection is a list; DELETE), and the polling of the object
// read most often: how many times, and the intervals between its reads, which grow when polling backs off.
func summarize(reqs []request, n int) string {
	if n <= 0 {
		n = 1
	}
	kinds := map[string]int{}
	gets := map[string][]float64{}
	for _, q := range reqs {
		switch q.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			kinds["writes"]++
		case http.MethodDelete:
			kinds["deletes"]++
		case http.MethodGet:
			if collection(q.Path) {
				kinds["lists"]++
			} else {
				kinds["gets"]++
				gets[q.Path] = append(gets[q.Path], q.AtMS)
			}
		default:
			kinds["other"]++
		}
	}
	var parts []string
	for _, k := range []string{"writes", "gets", "lists", "deletes", "other"} {
		if kinds[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(kinds[k])/float64(n)))
		}
	}
	out := fmt.Sprintf("%d requests, per resource: %s", len(reqs), strings.Join(parts, ", "))
	if len(parts) == 0 {
		out = "no requests"
	}
	var most string
	paths := make([]string, 0, len(gets))
	for p := range gets {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if most == "" || len(gets[p]) > len(gets[most]) {
			most = p
		}
	}
	if most != "" && len(gets[most]) > 2 {
		ts := gets[most]
		var iv []string
		for i := 1; i < len(ts) && i <= 12; i++ {
			iv = append(iv, strconv.FormatFloat(ts[i]-ts[i-1], 'f', 0, 64))
		}
		out += fmt.Sprintf("; the object read most (%d reads) was read at intervals of %s ms", len(ts), strings.Join(iv, ", "))
	}
	return out
}

// collection reports whether an API path names a collection rather than one object: its last segment is one
// of the collections the fakes serve.
func collection(p string) bool {
	seg := p[strings.LastIndex(p, "/")+1:]
	switch seg {
	case "sandbox", "sandboxes", "sprites", "volumes", "snapshots", "sessions", "checkpoints", "paginated", "cmd":
		return true
	}
	return false
}
