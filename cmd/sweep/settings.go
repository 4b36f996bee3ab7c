package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
)

// The provider's environment variables (internal/provider/provider.go). They are repeated here rather than
// imported, so that this command does not link the Terraform plugin framework; a test keeps them equal. The
// engines' own (credentials, the local root) come from their descriptors in the registry.
const (
	EnvRecords        = "SANDBOX_RECORDS"
	EnvSQLitePath     = "SANDBOX_SQLITE_PATH"
	EnvInstantAppID   = "INSTANT_APP_ID"
	EnvInstantAppIDJS = "NEXT_PUBLIC_INSTANT_APP_ID"
	EnvInstantToken   = "INSTANT_APP_ADMIN_TOKEN"
	EnvInstantAPIURL  = "INSTANT_API_URL"
	EnvPostgresURL    = "SANDBOX_POSTGRES_URL"
	EnvPostgresSchema = "SANDBOX_POSTGRES_SCHEMA"
)

// Record stores, as the provider names them.
const (
	recordsSQLite    = "sqlite"
	recordsInstantDB = "instantdb"
	recordsPostgres  = "postgres"
)

// settings are the provider settings sweep needs, resolved from the environment as the provider's Configure
// resolves them when its block sets nothing.
type settings struct {
	records    string
	sqlitePath string
	instant    instantdb.Config
	pg         postgres.Config
	getenv     func(string) string
	// engineSettings holds each engine's resolved settings by name (secrets included: never printed), set by
	// override. sweep sees only the environment: a value set in a provider block must be exported to reach it.
	engineSettings map[string]map[string]string
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// settingsFromEnv applies the provider's precedence: SANDBOX_RECORDS, else postgres when a PostgreSQL URL is
// set, else instantdb when an app id and admin token are set, else sqlite (both set is an error).
func settingsFromEnv(getenv func(string) string) (settings, error) {
	s := settings{
		sqlitePath: getenv(EnvSQLitePath),
		getenv:     getenv,
		instant: instantdb.Config{
			AppID:      firstNonEmpty(getenv(EnvInstantAppID), getenv(EnvInstantAppIDJS)),
			AdminToken: getenv(EnvInstantToken),
			APIURL:     getenv(EnvInstantAPIURL),
		},
		pg: postgres.Config{URL: getenv(EnvPostgresURL), Schema: getenv(EnvPostgresSchema)},
	}
	s.records = getenv(EnvRecords)
	if s.records == "" {
		hasInstant := s.instant.AppID != "" && s.instant.AdminToken != ""
		switch {
		case s.pg.URL != "" && hasInstant:
			return s, fmt.Errorf("both %s and InstantDB credentials are set: set %s (or -records) to postgres or instantdb", EnvPostgresURL, EnvRecords)
		case s.pg.URL != "":
			s.records = recordsPostgres
		case hasInstant:
			s.records = recordsInstantDB
		default:
			s.records = recordsSQLite
		}
	}
	return s, nil
}

// override applies the command-line flags, which win over the environment, and resolves every engine's
// settings as the provider does (flag, then environment, then default). localRoot is the -local-root flag.
func (s *settings) override(records, sqlitePath, localRoot string) error {
	s.records = firstNonEmpty(records, s.records)
	s.sqlitePath = firstNonEmpty(sqlitePath, s.sqlitePath)
	switch s.records {
	case recordsSQLite, recordsInstantDB, recordsPostgres:
	default:
		return fmt.Errorf("unknown record store %q (want sqlite, instantdb or postgres)", s.records)
	}
	if s.sqlitePath == "" {
		p, err := sqlite.DefaultPath()
		if err != nil {
			return fmt.Errorf("%w: set %s or -sqlite-path", err, EnvSQLitePath)
		}
		s.sqlitePath = p
	}
	s.engineSettings = map[string]map[string]string{}
	for _, d := range engines.All {
		var flags map[string]string
		if d.Name == local.Descriptor.Name {
			flags = map[string]string{"root": localRoot}
		}
		vals, err := d.ResolveSettings(flags, s.getenv)
		if err != nil {
			return err
		}
		s.engineSettings[d.Name] = vals
	}
	return nil
}

// describe names the record store without any secret.
func (s *settings) describe() string {
	switch s.records {
	case recordsInstantDB:
		return "instantdb app " + s.instant.AppID
	case recordsPostgres:
		return "postgres schema " + firstNonEmpty(s.pg.Schema, "public")
	}
	return "sqlite " + s.sqlitePath
}

func (s *settings) openStore(ctx context.Context) (backend.Store, error) {
	switch s.records {
	case recordsInstantDB:
		if s.instant.AppID == "" || s.instant.AdminToken == "" {
			return nil, fmt.Errorf("records = instantdb needs %s and %s", EnvInstantAppID, EnvInstantToken)
		}
		return instantdb.New(s.instant)
	case recordsPostgres:
		if s.pg.URL == "" {
			return nil, fmt.Errorf("records = postgres needs %s", EnvPostgresURL)
		}
		return postgres.Open(ctx, s.pg)
	}
	// A dry run must not create a records file where there was none.
	if _, err := os.Stat(s.sqlitePath); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no SQLite records at %s (set %s or -sqlite-path to the provider's file)", s.sqlitePath, EnvSQLitePath)
	}
	return sqlite.Open(s.sqlitePath)
}

// engines makes every engine this build knows and can reach, from its descriptor in the registry, exactly as
// the provider makes it from its block: an engine without credentials always (the local engine: listing and
// deleting need no isolation, so a machine without bubblewrap sweeps its local sandboxes with isolation none),
// and each hosted engine whose credential the environment sets. A hosted engine without a credential is left
// out with a note, so that its records are reported as "engine not configured" instead of guessed at; one
// whose settings are set but refused (a JWT without an organization, a Vercel token without team or project)
// is returned in failed and is not swept either.
func (s *settings) engines() (made backend.EngineMap, notes []string, failed map[string]error, err error) {
	made, failed = backend.EngineMap{}, map[string]error{}
	for _, d := range engines.All {
		vals := s.engineSettings[d.Name]
		if !d.Configured(vals) {
			notes = append(notes, d.Name+": not configured (set "+strings.Join(d.CredentialEnvs(), " or ")+"); its records are reported, not swept")
			continue
		}
		eng, err := d.New(vals)
		if errors.Is(err, local.ErrBwrapNotInstalled) {
			vals["isolation"] = local.IsolationNone
			eng, err = d.New(vals)
			notes = append(notes, d.Name+": bubblewrap is not installed; sweeping with isolation none (listing and deleting run no command)")
		}
		if err != nil && !d.HasCredentials() {
			return nil, nil, nil, err
		}
		if err != nil {
			failed[d.Name] = err
			continue
		}
		made[d.Name] = eng
		notes = append(notes, d.Name+": "+describeEngine(d, vals))
	}
	return made, notes, failed, nil
}

// describeEngine names what sweep reaches on an engine (its API URL, team, root...), never a credential.
func describeEngine(d backend.EngineDescriptor, vals map[string]string) string {
	var parts []string
	for _, st := range d.Settings {
		if st.Label != "" && !st.Sensitive && vals[st.Name] != "" {
			parts = append(parts, st.Label+" "+vals[st.Name])
		}
	}
	if len(parts) == 0 {
		return "default settings"
	}
	return strings.Join(parts, ", ")
}

// stateRecordIDs reads a Terraform state (format version 4, as terraform.tfstate and `terraform state pull`
// write it; "-" reads stdin) and returns the ids of its sandbox_* resources of this provider.
func stateRecordIDs(path string, stdin io.Reader) ([]string, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading state %s: %w", path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		// Terraform reads an empty state file as an empty state; a SIGKILL during its (truncate, then write)
		// state write leaves one behind.
		return nil, nil
	}
	var st struct {
		Version   int `json:"version"`
		Resources []struct {
			Mode      string `json:"mode"`
			Type      string `json:"type"`
			Instances []struct {
				Attributes struct {
					ID string `json:"id"`
				} `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state %s is not a Terraform state file: %w", path, err)
	}
	if st.Version != 4 {
		return nil, fmt.Errorf("state %s has format version %d; want 4 (Terraform 0.12 and later)", path, st.Version)
	}
	var ids []string
	for _, r := range st.Resources {
		if r.Mode != "managed" || len(r.Type) < len("sandbox_") || r.Type[:len("sandbox_")] != "sandbox_" {
			continue
		}
		for _, in := range r.Instances {
			if backend.ValidID(in.Attributes.ID) {
				ids = append(ids, in.Attributes.ID)
			}
		}
	}
	return ids, nil
}

// stateScope is the default scope (backend.ScopeOf) of the configuration that a local state file belongs to:
// <dir>/terraform.tfstate is workspace "default" of <dir>, <dir>/terraform.tfstate.d/<ws>/terraform.tfstate is
// workspace <ws> of <dir>. Other paths (a pulled remote state) give "".
func stateScope(path string) string {
	if path == "-" {
		return ""
	}
	abs, err := filepath.Abs(path)
	if err != nil || filepath.Base(abs) != "terraform.tfstate" {
		return ""
	}
	dir := filepath.Dir(abs)
	ws := "default"
	if parent := filepath.Dir(dir); filepath.Base(parent) == "terraform.tfstate.d" {
		ws = filepath.Base(dir)
		dir = filepath.Dir(parent)
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return backend.ScopeOf(dir, ws)
}
