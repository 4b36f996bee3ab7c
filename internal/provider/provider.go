// Package provider is the Terraform side of terraform-provider-sandbox: the provider configuration, resources,
// data sources, validators and plan modifiers. It translates Terraform values to and from internal/backend
// types and holds no engine or store logic of its own.
package provider

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
)

// Environment variables read by the provider configuration. Each one is the fallback of an attribute.
const (
	EnvBackend        = "SANDBOX_PROVIDER"
	EnvRecords        = "SANDBOX_RECORDS"
	EnvSQLitePath     = "SANDBOX_SQLITE_PATH"
	EnvInstantAppID   = "INSTANT_APP_ID"
	EnvInstantAppIDJS = "NEXT_PUBLIC_INSTANT_APP_ID"
	EnvInstantToken   = "INSTANT_APP_ADMIN_TOKEN"
	EnvInstantAPIURL  = "INSTANT_API_URL"
	EnvPostgresURL    = "SANDBOX_POSTGRES_URL"
	EnvPostgresSchema = "SANDBOX_POSTGRES_SCHEMA"
)

// Record stores.
const (
	RecordsSQLite    = "sqlite"
	RecordsInstantDB = "instantdb"
	RecordsPostgres  = "postgres"
)

// availableStores are the record stores this build can use.
var availableStores = []string{RecordsSQLite, RecordsInstantDB, RecordsPostgres}

var (
	_ provider.ProviderWithEphemeralResources = (*sandboxProvider)(nil)
	_ provider.ProviderWithActions            = (*sandboxProvider)(nil)
)

type sandboxProvider struct {
	version string
}

// New returns a function that makes the provider, as providerserver.Serve wants it.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &sandboxProvider{version: version} }
}

type providerModel struct {
	Backend       types.String    `tfsdk:"backend"`
	Records       types.String    `tfsdk:"records"`
	SQLitePath    types.String    `tfsdk:"sqlite_path"`
	DeleteRecords types.Bool      `tfsdk:"delete_records_on_destroy"`
	Scope         types.String    `tfsdk:"scope"`
	DefaultLabels types.Map       `tfsdk:"default_labels"`
	InstantDB     *instantDBModel `tfsdk:"instantdb"`
	Postgres      *postgresModel  `tfsdk:"postgres"`
	// The engines' blocks are read from their descriptors (readEngineSettings).
}

func mergeBlocks(a, b map[string]schema.Block) map[string]schema.Block {
	for k, v := range b {
		a[k] = v
	}
	return a
}

type instantDBModel struct {
	AppID      types.String `tfsdk:"app_id"`
	AdminToken types.String `tfsdk:"admin_token"`
	APIURL     types.String `tfsdk:"api_url"`
}

type postgresModel struct {
	URL    types.String `tfsdk:"url"`
	Schema types.String `tfsdk:"schema"`
}

func (p *sandboxProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "sandbox"
	resp.Version = p.version
}

func (p *sandboxProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Provisions sandboxes for AI agents and CI and records each one under a durable record id " +
			"that is also the Terraform resource id. Every setting has an environment fallback, so the environment an " +
			"application already uses with `@ekairos/sandbox` configures the provider too.",
		Attributes: map[string]schema.Attribute{
			"backend": schema.StringAttribute{
				MarkdownDescription: "The default engine for resources that do not set `backend`. One of " + quoteList(availableEngines) +
					". Falls back to `" + EnvBackend + "`, then `local`. (`@ekairos/sandbox` defaults to `sprites`; this provider " +
					"defaults to `local` because it needs no account.)",
				Optional:   true,
				Validators: []validator.String{stringvalidator.OneOf(availableEngines...)},
			},
			"records": schema.StringAttribute{
				MarkdownDescription: "Where records are kept. One of " + quoteList(availableStores) + ". Falls back to `" + EnvRecords +
					"`; when neither says, `postgres` if a PostgreSQL URL is configured (block or `" + EnvPostgresURL + "`), else `instantdb` " +
					"if an InstantDB app id and admin token are configured (block or `" + EnvInstantAppID + "` and `" + EnvInstantToken + "`, " +
					"as an app using `@ekairos/sandbox` has them), else `sqlite`. Both configured and nothing said is an error.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.OneOf(availableStores...)},
			},
			"sqlite_path": schema.StringAttribute{
				MarkdownDescription: "Path of the SQLite records file, created by the first apply that creates a resource (a plan never creates it: when the file is missing and the state holds resources, the plan fails naming the store). Falls back to `" + EnvSQLitePath +
					"`, then `$XDG_DATA_HOME/terraform-provider-sandbox/records.db` (`~/.local/share/...` when `XDG_DATA_HOME` " +
					"is unset). **Note:** A SQLite file lives on one machine: a CI runner that plans against remote state " +
					"needs a shared store.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"scope": schema.StringAttribute{
				MarkdownDescription: "Names the configuration that owns the records this provider makes. Every record carries it " +
					"(`params.terraform.scope` of a sandbox, `metadata.terraform.scope` of a command's run); the next apply of the " +
					"same scope adopts a create that a killed apply left out of the state, and `sweep` removes only records (and " +
					"engine objects) of the scopes of the states it is given. Falls back to `" + EnvScope + "`, then to the " +
					"configuration's directory (the provider's working directory, `-chdir` included) and workspace, as " +
					"`<absolute directory>#<workspace>` (`TF_WORKSPACE`, else the selected workspace, else `default`). Set it " +
					"when one configuration is applied from several directories or machines (CI runners with different " +
					"checkout paths) against one shared store, so that they are one owner. Changing it does not change " +
					"existing records.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"default_labels": schema.MapAttribute{
				MarkdownDescription: "Labels given to every resource of this provider, as the AWS provider's `default_tags`: each " +
					"resource's `labels_all` is these merged with its own `labels` (the resource's win on the same key), and " +
					"that is what its record holds (`params.labels`) and what engines with labels carry. Changing them updates " +
					"every resource in place." + labelsDoc,
				Optional:    true,
				ElementType: types.StringType,
				Validators:  labelValidators(),
			},
			"delete_records_on_destroy": schema.BoolAttribute{
				MarkdownDescription: "When `true`, destroying a resource deletes its record. By default (`false`) records are " +
					"history: a destroyed sandbox's record stays with status `shutdown` and `shutdownAt` set.",
				Optional: true,
			},
		},
		Blocks: mergeBlocks(providerEngineBlocks(), map[string]schema.Block{
			"instantdb": schema.SingleNestedBlock{
				MarkdownDescription: "The InstantDB app that keeps the records (`records = \"instantdb\"`): the app an application " +
					"using `@ekairos/sandbox` reads. Its schema must have the provider's entities (see the InstantDB guide).",
				Attributes: map[string]schema.Attribute{
					"app_id": schema.StringAttribute{
						MarkdownDescription: "The app id (a UUID). Falls back to `" + EnvInstantAppID + "`, then `" + EnvInstantAppIDJS + "`.",
						Optional:            true,
						Validators:          []validator.String{uuidValidator{}},
					},
					"admin_token": schema.StringAttribute{
						MarkdownDescription: "The app's admin token. Sensitive; never written to records, state or logs. Falls back to `" + EnvInstantToken + "`.",
						Optional:            true,
						Sensitive:           true,
						Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
					},
					"api_url": schema.StringAttribute{
						MarkdownDescription: "The API base URL, for self-hosted or test servers. Falls back to `" + EnvInstantAPIURL + "`, then `https://api.instantdb.com`.",
						Optional:            true,
						Validators:          []validator.String{stringvalidator.RegexMatches(httpURLRegexp, "must be an http:// or https:// URL")},
					},
				},
			},
			"postgres": schema.SingleNestedBlock{
				MarkdownDescription: "The PostgreSQL database that keeps the records (`records = \"postgres\"`): shared records for " +
					"teams without InstantDB, and records that outlive a CI runner.",
				Attributes: map[string]schema.Attribute{
					"url": schema.StringAttribute{
						MarkdownDescription: "A libpq connection string or URL (`postgres://user:pass@host:5432/db?sslmode=require`); `sslmode` " +
							"and the `PG*` environment variables are honoured as libpq does. Sensitive. Falls back to `" + EnvPostgresURL + "`.",
						Optional:   true,
						Sensitive:  true,
						Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
					},
					"schema": schema.StringAttribute{
						MarkdownDescription: "The PostgreSQL schema that holds the tables, created when missing, so that one database can " +
							"hold several installations. Falls back to `" + EnvPostgresSchema + "`, then `public`.",
						Optional:   true,
						Validators: []validator.String{stringvalidator.RegexMatches(sqlIdentRegexp, "must be a plain SQL identifier: a letter or _, then letters, digits or _ (at most 63)")},
					},
				},
			},
		}),
	}
}

// providerData is what resources and data sources receive from Configure.
type providerData struct {
	defaultBackend string
	records        string
	sqlitePath     string
	deleteRecords  bool
	instant        instantdb.Config
	pg             postgres.Config
	engineSettings map[string]map[string]string // each engine's resolved settings (secrets included: never logged)

	scope string
	// defaultLabels are the provider's default_labels, merged under every resource's labels.
	defaultLabels map[string]string

	mu        sync.Mutex
	storeID   string // the store's identity, once read or written
	store     backend.Store
	lifecycle *backend.Lifecycle
	engines   map[string]backend.Engine
}

func (p *sandboxProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	for p, target := range map[string]any{"backend": &cfg.Backend, "records": &cfg.Records, "sqlite_path": &cfg.SQLitePath,
		"delete_records_on_destroy": &cfg.DeleteRecords, "scope": &cfg.Scope, "default_labels": &cfg.DefaultLabels, "instantdb": &cfg.InstantDB, "postgres": &cfg.Postgres} {
		resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root(p), target)...)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	unknown := func(v types.String, p path.Path) bool {
		if v.IsUnknown() {
			resp.Diagnostics.AddAttributeError(p, "Value not known at plan time",
				"The provider needs this setting when it is configured: set it to a value known before apply, or use the environment variable.")
			return true
		}
		return false
	}
	if unknown(cfg.Backend, path.Root("backend")) || unknown(cfg.Records, path.Root("records")) ||
		unknown(cfg.SQLitePath, path.Root("sqlite_path")) || unknown(cfg.Scope, path.Root("scope")) {
		return
	}
	data := &providerData{engines: map[string]backend.Engine{}}
	data.defaultBackend = firstNonEmpty(cfg.Backend.ValueString(), os.Getenv(EnvBackend), engines.Default())
	if !contains(availableEngines, data.defaultBackend) {
		resp.Diagnostics.AddAttributeError(path.Root("backend"), "Unknown backend",
			fmt.Sprintf("%s is %q; this provider knows %s.", EnvBackend, data.defaultBackend, quoteList(availableEngines)))
		return
	}
	var idb instantDBModel
	if cfg.InstantDB != nil {
		idb = *cfg.InstantDB
	}
	var pg postgresModel
	if cfg.Postgres != nil {
		pg = *cfg.Postgres
	}
	for p, v := range map[string]types.String{"instantdb.app_id": idb.AppID, "instantdb.admin_token": idb.AdminToken,
		"instantdb.api_url": idb.APIURL, "postgres.url": pg.URL, "postgres.schema": pg.Schema} {
		if v.IsUnknown() {
			resp.Diagnostics.AddError("Value not known at plan time", p+" must be known when the provider is configured.")
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}
	data.instant = instantdb.Config{
		AppID:      firstNonEmpty(idb.AppID.ValueString(), os.Getenv(EnvInstantAppID), os.Getenv(EnvInstantAppIDJS)),
		AdminToken: firstNonEmpty(idb.AdminToken.ValueString(), os.Getenv(EnvInstantToken)),
		APIURL:     firstNonEmpty(idb.APIURL.ValueString(), os.Getenv(EnvInstantAPIURL)),
	}
	data.pg = postgres.Config{
		URL:    firstNonEmpty(pg.URL.ValueString(), os.Getenv(EnvPostgresURL)),
		Schema: firstNonEmpty(pg.Schema.ValueString(), os.Getenv(EnvPostgresSchema)),
	}
	data.engineSettings = readEngineSettings(ctx, req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	data.records = firstNonEmpty(cfg.Records.ValueString(), os.Getenv(EnvRecords))
	if data.records == "" {
		hasInstant := data.instant.AppID != "" && data.instant.AdminToken != ""
		switch {
		case data.pg.URL != "" && hasInstant:
			resp.Diagnostics.AddAttributeError(path.Root("records"), "Two record stores configured",
				"Both a PostgreSQL URL and InstantDB credentials are configured: set records (or "+EnvRecords+") to \"postgres\" or \"instantdb\" to say which keeps the records.")
			return
		case data.pg.URL != "":
			data.records = RecordsPostgres
		case hasInstant:
			data.records = RecordsInstantDB
		default:
			data.records = RecordsSQLite
		}
	}
	if !contains(availableStores, data.records) {
		resp.Diagnostics.AddAttributeError(path.Root("records"), "Unknown record store",
			fmt.Sprintf("%s is %q; this provider knows %s.", EnvRecords, data.records, quoteList(availableStores)))
		return
	}
	data.sqlitePath = firstNonEmpty(cfg.SQLitePath.ValueString(), os.Getenv(EnvSQLitePath))
	if data.sqlitePath == "" {
		p, err := sqlite.DefaultPath()
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("sqlite_path"), "No default records path",
				fmt.Sprintf("%v: set sqlite_path or %s.", err, EnvSQLitePath))
			return
		}
		data.sqlitePath = p
	}
	data.deleteRecords = cfg.DeleteRecords.ValueBool()
	if data.defaultLabels = readDefaultLabels(cfg.DefaultLabels, &resp.Diagnostics); resp.Diagnostics.HasError() {
		return
	}
	data.scope = firstNonEmpty(cfg.Scope.ValueString(), os.Getenv(EnvScope))
	if data.scope == "" {
		data.scope = defaultScope()
	}

	logged := map[string]any{"backend": data.defaultBackend, "records": data.records, "sqlite_path": data.sqlitePath, "scope": data.scope}
	for _, d := range engines.All {
		for _, s := range d.Settings {
			if v := data.engineSettings[d.Name][s.Name]; v != "" && !s.Sensitive {
				logged[d.Name+"_"+s.Name] = v
			}
		}
	}
	tflog.Debug(ctx, "sandbox provider configured", logged)
	resp.ResourceData = data
	resp.DataSourceData = data
	resp.EphemeralResourceData = data
	resp.ActionData = data
	resp.ListResourceData = data
}

// Lifecycle opens the record store on first use and returns the record-first lifecycle.
func (d *providerData) Lifecycle() (*backend.Lifecycle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lifecycle != nil {
		return d.lifecycle, nil
	}
	st, err := d.openStore()
	if err != nil {
		return nil, err
	}
	d.store = st
	d.lifecycle = &backend.Lifecycle{Store: st, Engines: d, DeleteRecords: d.deleteRecords, Scope: d.scope}
	return d.lifecycle, nil
}

// Store returns the record store, opening it on first use.
func (d *providerData) Store() (backend.Store, error) {
	lc, err := d.Lifecycle()
	if err != nil {
		return nil, err
	}
	return lc.Store, nil
}

func (d *providerData) openStore() (backend.Store, error) {
	switch d.records {
	case RecordsSQLite:
		st, err := sqlite.Open(d.sqlitePath)
		if err != nil {
			return nil, fmt.Errorf("opening the SQLite records at %s (set sqlite_path or %s to change it): %w", d.sqlitePath, EnvSQLitePath, err)
		}
		return st, nil
	case RecordsInstantDB:
		if d.instant.AppID == "" || d.instant.AdminToken == "" {
			return nil, fmt.Errorf("records = \"instantdb\" needs an app id and an admin token: set the instantdb block or %s and %s", EnvInstantAppID, EnvInstantToken)
		}
		return instantdb.New(d.instant)
	case RecordsPostgres:
		if d.pg.URL == "" {
			return nil, fmt.Errorf("records = \"postgres\" needs a connection string: set postgres.url or %s", EnvPostgresURL)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return postgres.Open(ctx, d.pg)
	}
	return nil, fmt.Errorf("record store %q is not available", d.records)
}

// EngineNames implements backend.EngineLister: the registry's engines.
func (d *providerData) EngineNames() []string { return availableEngines }

// Engine implements backend.EngineSource, creating each engine on first use.
func (d *providerData) Engine(name string) (backend.Engine, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.engines[name]; ok {
		return e, nil
	}
	desc, ok := engines.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("backend %q is not available in this build of the provider (available: %s)", name, strings.Join(availableEngines, ", "))
	}
	e, err := desc.New(d.engineSettings[name])
	if err != nil {
		return nil, err
	}
	if testEngineHook != nil {
		e = testEngineHook(e)
	}
	d.engines[name] = e
	return e, nil
}

// Resources lists the resources, each with its identity (identity.go).
func (p *sandboxProvider) Resources(context.Context) []func() resource.Resource {
	return identified(
		NewSandboxResource,
		NewCommandResource,
		NewVolumeResource,
		NewSetupResource,
		NewWorkspaceResource,
	)
}

// EphemeralResources lists the ephemeral resources (Terraform 1.10+).
func (p *sandboxProvider) EphemeralResources(context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{NewExecEphemeralResource}
}

// Actions lists the actions (Terraform 1.14+).
func (p *sandboxProvider) Actions(context.Context) []func() action.Action {
	return []func() action.Action{NewRunAction}
}

func (p *sandboxProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewRecordDataSource,
		NewRecordsDataSource,
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}

// providerDataFrom extracts the provider data in a resource's or data source's Configure.
func providerDataFrom(v any) (*providerData, error) {
	if v == nil {
		return nil, nil
	}
	d, ok := v.(*providerData)
	if !ok {
		return nil, fmt.Errorf("unexpected provider data type %T: this is a bug in the provider", v)
	}
	return d, nil
}

// testEngineHook, when set (by tests only), wraps every engine the provider makes.
var testEngineHook func(backend.Engine) backend.Engine
