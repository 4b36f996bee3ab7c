package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
)

// The provider's environment variables (internal/provider/provider.go). They are repeated here rather than
// imported, so that this command does not link the Terraform plugin framework; a test keeps them equal.
const (
	EnvRecords        = "SANDBOX_RECORDS"
	EnvSQLitePath     = "SANDBOX_SQLITE_PATH"
	EnvLocalRoot      = "SANDBOX_LOCAL_ROOT"
	EnvLocalIsolation = "SANDBOX_LOCAL_ISOLATION"
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
	localRoot  string
	isolation  string
	instant    instantdb.Config
	pg         postgres.Config
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
		localRoot:  getenv(EnvLocalRoot),
		isolation:  firstNonEmpty(getenv(EnvLocalIsolation), local.IsolationBwrap),
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
	if s.isolation != local.IsolationBwrap && s.isolation != local.IsolationNone {
		return s, fmt.Errorf("%s is %q; use bwrap or none", EnvLocalIsolation, s.isolation)
	}
	return s, nil
}

// override applies the command-line flags, which win over the environment.
func (s *settings) override(records, sqlitePath, localRoot string) error {
	s.records = firstNonEmpty(records, s.records)
	s.sqlitePath = firstNonEmpty(sqlitePath, s.sqlitePath)
	s.localRoot = firstNonEmpty(localRoot, s.localRoot)
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
	if s.localRoot == "" {
		r, err := local.DefaultRoot()
		if err != nil {
			return fmt.Errorf("%w: set %s or -local-root", err, EnvLocalRoot)
		}
		s.localRoot = r
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

// engines makes every engine this build knows. Listing and deleting need no isolation, so a machine without
// bubblewrap sweeps its local sandboxes with isolation none.
//
// Extension point: the hosted engines (daytona, vercel, sprites) are added here once their packages exist,
// each made from its own environment (API tokens) when that environment is set, and skipped with a note
// otherwise, so that records on those engines are reported as "engine not configured" instead of guessed at.
func (s *settings) engines() (backend.EngineMap, []string, error) {
	var notes []string
	loc, err := local.New(local.Config{Root: s.localRoot, Isolation: s.isolation})
	if errors.Is(err, local.ErrBwrapNotInstalled) {
		loc, err = local.New(local.Config{Root: s.localRoot, Isolation: local.IsolationNone})
		notes = append(notes, "local: bubblewrap is not installed; sweeping with isolation none (listing and deleting run no command)")
	}
	if err != nil {
		return nil, nil, err
	}
	notes = append(notes, "local: root "+loc.Root())
	// daytona, vercel, sprites: not in this build (see the extension point above).
	return backend.EngineMap{backend.EngineLocal: loc}, notes, nil
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
