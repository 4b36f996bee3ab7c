// Command sweep finds and removes what interrupted applies of terraform-provider-sandbox leave behind: engine
// objects that no live record names, and records stuck in "creating" after their create was killed. It reads
// the same environment as the provider, lists every configured engine (local always; daytona, vercel and
// sprites when their credential is set, otherwise noted as "not configured") and the record store, prints a
// table of findings, and changes nothing unless run with -apply.
//
//	go run ./cmd/sweep [flags]          # dry run: report only
//	go run ./cmd/sweep -apply [flags]   # remove what was found
//
// Run `go run ./cmd/sweep -h` for the flags and what each finding means.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/sweep"
)

// Exit codes.
const (
	exitClean    = 0 // nothing found, or everything found was removed
	exitFailed   = 1 // the store or an engine could not be read, or an action failed
	exitUsage    = 2 // bad flags or settings
	exitFindings = 3 // dry run: something would be removed
)

const usageText = `Usage: go run ./cmd/sweep [-apply] [flags]

sweep finds and removes what interrupted terraform applies leave behind, on every configured engine and in
the record store the provider uses. It reads the provider's environment, with the provider's defaults and
precedence (settings made in a provider block are not seen: export them, or pass the flags below):

  records   SANDBOX_RECORDS, SANDBOX_SQLITE_PATH, INSTANT_APP_ID (or NEXT_PUBLIC_INSTANT_APP_ID),
            INSTANT_APP_ADMIN_TOKEN, INSTANT_API_URL, SANDBOX_POSTGRES_URL, SANDBOX_POSTGRES_SCHEMA
  local     SANDBOX_LOCAL_ROOT, SANDBOX_LOCAL_ISOLATION (always swept)
  daytona   DAYTONA_API_KEY, or DAYTONA_JWT_TOKEN with DAYTONA_ORGANIZATION_ID; DAYTONA_API_URL (or
            DAYTONA_SERVER_URL), DAYTONA_TARGET
  vercel    VERCEL_TOKEN (or VERCEL_OIDC_TOKEN), VERCEL_TEAM_ID, VERCEL_PROJECT_ID, VERCEL_API_URL
  sprites   SPRITES_API_TOKEN (or SPRITE_TOKEN, SPRITES_TOKEN), SPRITES_API_URL (or SPRITES_API_BASE_URL)

A hosted engine is swept only when its credential is set; otherwise a note says "not configured" and its
records are reported ("engine not configured") and left alone. A hosted engine whose settings are refused
(a JWT without organization, a Vercel token without team or project) is an error (exit 1).

Without -apply it only reports (a dry run). With -apply it removes:
  - engine objects labelled with a record id whose record is shutdown (deleted); those whose record is
    missing only with -unattributed (by default reported and left alone: they may belong to another store);
  - engine objects whose record is error (deleted, then the record is marked shutdown);
  - engine objects that their active record does not name, duplicates (deleted);
  - creating records older than -create-timeout, or whose owner (a provider process on this host) has
    exited: their object, if any, is deleted and the record marked shutdown with
    params.error = "swept: create never finished";
  - active records whose engine object is gone (marked shutdown, as a refresh would);
  - with -state: active records of the states' configurations that none of the given states names (deleted
    and marked shutdown);
  - running sandbox_processes records whose sandbox is gone or that outlived their timeout (marked lost, the
    library's status for a run whose outcome is unknown);
  - volumes and workspaces of engines that have them, whose record is missing, shutdown or error.
Records of engines that cannot be listed, and young creating records, are left alone.

Scoped sweeps: every record carries the configuration that made it (the provider's scope, by default
"<configuration directory>#<workspace>"). With -state or -scope, sweep acts only on records (and their engine
objects) of the given configurations: those of the states (a local state file's directory and workspace, and
the scopes its records carry) and of each -scope. Another configuration's records and objects are reported as
"another configuration's" and left alone; records without a scope (made before scopes, or by an application)
as "cannot attribute". An empty state (a killed first apply) thus sweeps only its own configuration.

Exit status: 0 clean or swept, 1 an error (the table says which), 2 bad usage, 3 dry run found something.

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// stateFlags collects -state values.
type stateFlags []string

func (s *stateFlags) String() string     { return strings.Join(*s, ",") }
func (s *stateFlags) Set(v string) error { *s = append(*s, v); return nil }

// run is the command, with its environment passed in for tests. It returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var (
		apply        = fs.Bool("apply", false, "remove what is found (default: dry run, nothing is changed)")
		timeout      = fs.Duration("create-timeout", sweep.DefaultCreateTimeout, "how old a creating record must be to count as abandoned; 0 = every creating record")
		ignoreOwners = fs.Bool("ignore-owners", false, "do not treat creating records whose owner process on this host has exited as abandoned before -create-timeout")
		records      = fs.String("records", "", "record store: sqlite, instantdb or postgres (default: $"+EnvRecords+", else as the provider chooses)")
		sqlitePath   = fs.String("sqlite-path", "", "SQLite records file (default: $"+EnvSQLitePath+", else the provider's default)")
		localRoot    = fs.String("local-root", "", "root of the local engine (default: $"+local.EnvRoot+", else the provider's default)")
		asJSON       = fs.Bool("json", false, "print the findings as JSON instead of a table")
		unattributed = fs.Bool("unattributed", false, "also delete engine objects labelled with a record id that no record has (by default they are reported and left alone: they may belong to another record store)")
		states       stateFlags
		scopes       stateFlags
	)
	fs.Var(&states, "state", "a Terraform state file (terraform.tfstate, or - for `terraform state pull` on stdin) whose sandboxes are managed; repeat for every state that uses the store")
	fs.Var(&scopes, "scope", "a configuration (the provider's scope) whose records sweep may act on; repeat for several. With -state, added to the scopes of the states")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitClean
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sweep: unexpected arguments %q (see -h)\n", fs.Args())
		return exitUsage
	}
	cfg, err := settingsFromEnv(getenv)
	if err == nil {
		err = cfg.override(*records, *sqlitePath, *localRoot)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %v\n", err)
		return exitUsage
	}
	opts := sweep.Options{Apply: *apply, CreateTimeout: *timeout, IgnoreOwners: *ignoreOwners, DeleteUnattributed: *unattributed}
	if *timeout == 0 {
		opts.CreateTimeout = -1
	}
	if len(states) > 0 || len(scopes) > 0 {
		opts.Scopes = map[string]bool{}
		for _, sc := range scopes {
			opts.Scopes[sc] = true
		}
	}
	if len(states) > 0 {
		opts.Managed = map[string]bool{}
		for _, p := range states {
			ids, err := stateRecordIDs(p, stdin)
			if err != nil {
				fmt.Fprintf(stderr, "sweep: %v\n", err)
				return exitUsage
			}
			if sc := stateScope(p); sc != "" {
				opts.Scopes[sc] = true
			}
			if len(ids) == 0 {
				fmt.Fprintf(stderr, "sweep: state %s names no sandbox (an empty state file is what a terraform killed while writing it leaves): its configuration's active records not in another -state count as unmanaged; other configurations' records are left alone\n", p)
			}
			for _, id := range ids {
				opts.Managed[id] = true
			}
		}
	}

	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	store, err := cfg.openStore(openCtx)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %v\n", err)
		return exitFailed
	}
	defer func() {
		if err := store.Close(); err != nil {
			fmt.Fprintf(stderr, "sweep: closing the record store: %v\n", err)
		}
	}()
	made, notes, failed, err := cfg.engines()
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %v\n", err)
		return exitFailed
	}
	if len(opts.Managed) > 0 {
		// The configurations of the given states include those their records name (an explicit provider scope).
		for id := range opts.Managed {
			if rec, err := backend.FindRecord(ctx, store, id); err == nil {
				if sc := sweep.Scope(rec); sc != "" {
					opts.Scopes[sc] = true
				}
			}
		}
	}
	if opts.Scopes != nil {
		var names []string
		for sc := range opts.Scopes {
			names = append(names, sc)
		}
		sort.Strings(names)
		fmt.Fprintf(stderr, "sweep: acting only on records of the configurations %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintf(stderr, "sweep: records: %s; engines: %s\n", cfg.describe(), strings.Join(engineNames(made), ", "))
	rep, err := sweep.Sweep(ctx, store, made, opts)
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %v\n", err)
		return exitFailed
	}
	rep.Notes = append(rep.Notes, notes...)
	for _, name := range engines.Names() {
		if err, ok := failed[name]; ok {
			// Configured but refused: a failure, so that a sweep that could not look at an engine it was told about
			// never reads as clean. Its records are left alone (reported as "engine not configured").
			rep.Findings = append(rep.Findings, sweep.Finding{Kind: sweep.KindSandbox, Engine: name, Problem: sweep.ProblemListFailed,
				Detail: "the engine could not be made from its environment", Err: err})
		}
	}
	if *asJSON {
		if err := writeJSON(stdout, rep); err != nil {
			fmt.Fprintf(stderr, "sweep: %v\n", err)
			return exitFailed
		}
	} else if err := rep.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "sweep: %v\n", err)
		return exitFailed
	}
	switch {
	case rep.Err() != nil:
		return exitFailed
	case !*apply && len(rep.Actionable()) > 0:
		return exitFindings
	}
	return exitClean
}

func engineNames(m backend.EngineMap) []string {
	var out []string
	for _, n := range engines.Names() {
		if _, ok := m[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// jsonFinding is a finding as -json prints it.
type jsonFinding struct {
	Kind       string `json:"kind"`
	Engine     string `json:"engine,omitempty"`
	RecordID   string `json:"recordId,omitempty"`
	ExternalID string `json:"externalId,omitempty"`
	Status     string `json:"status,omitempty"`
	Problem    string `json:"problem"`
	Detail     string `json:"detail,omitempty"`
	Action     string `json:"action,omitempty"`
	Applied    bool   `json:"applied"`
	Error      string `json:"error,omitempty"`
}

func writeJSON(w io.Writer, rep *sweep.Report) error {
	out := struct {
		Applied  bool           `json:"applied"`
		Listed   map[string]int `json:"listed"`
		Records  map[string]int `json:"records"`
		Notes    []string       `json:"notes,omitempty"`
		Findings []jsonFinding  `json:"findings"`
	}{Applied: rep.Applied, Listed: rep.Listed, Records: rep.Records, Notes: rep.Notes, Findings: []jsonFinding{}}
	for _, f := range rep.Findings {
		jf := jsonFinding{Kind: f.Kind, Engine: f.Engine, RecordID: f.RecordID, ExternalID: f.ExternalID, Status: f.Status,
			Problem: f.Problem, Detail: f.Detail, Action: f.Action, Applied: f.Applied}
		if f.Err != nil {
			jf.Error = f.Err.Error()
		}
		out.Findings = append(out.Findings, jf)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
