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
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel"
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

// hostedSettings are the hosted engines' provider-block settings with their environment fallbacks (first set
// wins), as internal/provider/engines_config.go (hostedEngineSettings) lists them; a test keeps the two equal.
// sweep sees only the environment: a value set in a provider block must be exported to reach it.
var hostedSettings = map[string][]hostedSetting{
	backend.EngineDaytona: {
		{"api_key", []string{"DAYTONA_API_KEY"}},
		{"jwt_token", []string{"DAYTONA_JWT_TOKEN"}},
		{"organization_id", []string{"DAYTONA_ORGANIZATION_ID"}},
		{"api_url", []string{"DAYTONA_API_URL", "DAYTONA_SERVER_URL"}},
		{"target", []string{"DAYTONA_TARGET"}},
	},
	backend.EngineVercel: {
		{"token", []string{"VERCEL_TOKEN", "VERCEL_OIDC_TOKEN"}},
		{"team_id", []string{"VERCEL_TEAM_ID"}},
		{"project_id", []string{"VERCEL_PROJECT_ID"}},
		{"api_url", []string{"VERCEL_API_URL"}},
	},
	backend.EngineSprites: {
		{"token", []string{"SPRITES_API_TOKEN", "SPRITE_TOKEN", "SPRITES_TOKEN"}},
		{"api_url", []string{"SPRITES_API_URL", "SPRITES_API_BASE_URL"}},
	},
}

// hostedCredentials are the settings of which one must be set for sweep to make the engine; without any the
// engine is "not configured" and its records are reported, not swept.
var hostedCredentials = map[string][]string{
	backend.EngineDaytona: {"api_key", "jwt_token"},
	backend.EngineVercel:  {"token"},
	backend.EngineSprites: {"token"},
}

type hostedSetting struct {
	name string
	envs []string
}

// hostedEngines lists the hosted engines in a fixed order.
var hostedEngines = []string{backend.EngineDaytona, backend.EngineVercel, backend.EngineSprites}

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
	// hosted holds each hosted engine's settings by name (secrets included: never printed).
	hosted map[string]map[string]string
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
		pg:     postgres.Config{URL: getenv(EnvPostgresURL), Schema: getenv(EnvPostgresSchema)},
		hosted: map[string]map[string]string{},
	}
	for engine, settings := range hostedSettings {
		vals := map[string]string{}
		for _, hs := range settings {
			for _, e := range hs.envs {
				if v := getenv(e); v != "" {
					vals[hs.name] = v
					break
				}
			}
		}
		s.hosted[engine] = vals
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

// engines makes every engine this build knows and can reach: the local engine always (listing and deleting
// need no isolation, so a machine without bubblewrap sweeps its local sandboxes with isolation none), and each
// hosted engine whose credential the environment sets, made exactly as the provider makes it from its block
// (internal/provider/engine_*.go). A hosted engine without a credential is left out with a note, so that its
// records are reported as "engine not configured" instead of guessed at; one whose settings are set but
// refused (a JWT without an organization, a Vercel token without team or project) is returned in failed and
// is not swept either.
func (s *settings) engines() (engines backend.EngineMap, notes []string, failed map[string]error, err error) {
	loc, err := local.New(local.Config{Root: s.localRoot, Isolation: s.isolation})
	if errors.Is(err, local.ErrBwrapNotInstalled) {
		loc, err = local.New(local.Config{Root: s.localRoot, Isolation: local.IsolationNone})
		notes = append(notes, "local: bubblewrap is not installed; sweeping with isolation none (listing and deleting run no command)")
	}
	if err != nil {
		return nil, nil, nil, err
	}
	notes = append(notes, "local: root "+loc.Root())
	engines = backend.EngineMap{backend.EngineLocal: loc}
	failed = map[string]error{}
	for _, name := range hostedEngines {
		if !s.hostedConfigured(name) {
			notes = append(notes, name+": not configured (set "+strings.Join(s.credentialEnvs(name), " or ")+"); its records are reported, not swept")
			continue
		}
		eng, err := newHostedEngine(name, s.hosted[name])
		if err != nil {
			failed[name] = err
			continue
		}
		engines[name] = eng
		notes = append(notes, name+": "+s.describeHosted(name))
	}
	return engines, notes, failed, nil
}

// hostedConfigured reports whether the environment sets a credential of a hosted engine.
func (s *settings) hostedConfigured(name string) bool {
	for _, c := range hostedCredentials[name] {
		if s.hosted[name][c] != "" {
			return true
		}
	}
	return false
}

// credentialEnvs names the environment variables of a hosted engine's credentials.
func (s *settings) credentialEnvs(name string) []string {
	var out []string
	for _, c := range hostedCredentials[name] {
		for _, hs := range hostedSettings[name] {
			if hs.name == c {
				out = append(out, hs.envs...)
			}
		}
	}
	return out
}

// describeHosted names a hosted engine's API URL and scope, never its credential.
func (s *settings) describeHosted(name string) string {
	v := s.hosted[name]
	desc := "API " + firstNonEmpty(v["api_url"], "(default)")
	switch name {
	case backend.EngineDaytona:
		if v["organization_id"] != "" {
			desc += ", organization " + v["organization_id"]
		}
		if v["target"] != "" {
			desc += ", target " + v["target"]
		}
	case backend.EngineVercel:
		if v["team_id"] != "" {
			desc += ", team " + v["team_id"]
		}
		if v["project_id"] != "" {
			desc += ", project " + v["project_id"]
		}
	}
	return desc
}

// newHostedEngine makes a hosted engine from its settings, as the provider's newDaytonaEngine, newVercelEngine
// and newSpritesEngine do (internal/provider/engine_*.go).
func newHostedEngine(name string, v map[string]string) (backend.Engine, error) {
	switch name {
	case backend.EngineDaytona:
		return daytona.New(daytona.Config{
			APIKey: v["api_key"], JWTToken: v["jwt_token"], OrganizationID: v["organization_id"],
			APIURL: v["api_url"], Target: v["target"],
		})
	case backend.EngineVercel:
		return vercel.New(vercel.Config{Token: v["token"], TeamID: v["team_id"], ProjectID: v["project_id"], APIURL: v["api_url"]})
	case backend.EngineSprites:
		return sprites.New(sprites.Config{Token: v["token"], APIURL: v["api_url"]})
	}
	return nil, fmt.Errorf("unknown engine %q", name)
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
