package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/list"
	listschema "github.com/hashicorp/terraform-plugin-framework/list/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// List resources (Terraform 1.14, `terraform query`): the records of sandboxes, workspaces, volumes and setups,
// filtered, each returned with its identity (the record id) and, when Terraform asks (include_resource, or
// -generate-config-out), the resource object that an import of it would read: the same restore code as import
// (fromResult / fromRecord plus the bookkeeping), so that the generated configuration plans empty once imported.
// A listing writes nothing: it neither confirms records (a killed apply's next create may still adopt them) nor
// marks shutdown a sandbox whose object is gone (it is left out).

var _ = []list.ListResourceWithConfigure{
	(*recordList)(nil),
}
var _ list.ListResourceWithValidateConfig = (*recordList)(nil)

// scopeAll is the scope filter that lists the records of every configuration.
const scopeAll = "*"

// ListResources lists the list resources (Terraform 1.14).
func (p *sandboxProvider) ListResources(context.Context) []func() list.ListResource {
	return []func() list.ListResource{
		func() list.ListResource { return &recordList{kind: sandboxListKind} },
		func() list.ListResource { return &recordList{kind: workspaceListKind} },
		func() list.ListResource { return &recordList{kind: volumeListKind} },
		func() list.ListResource { return &recordList{kind: setupListKind} },
	}
}

// listKind is what differs between the list resources: the record entity and how a record becomes a resource.
type listKind struct {
	suffix  string // the type name after "sandbox"
	what    string // "sandbox", for messages
	entity  string
	purpose bool     // records have a purpose (sandboxes)
	gone    []string // statuses whose object no longer exists (never listed, never importable)
	display func(rec *backend.Record) string
	// fill sets the resource object (which has its id set) from the record; false leaves the record out (its
	// object is gone).
	fill func(ctx context.Context, lc *backend.Lifecycle, rec *backend.Record, r *tfsdk.Resource, diags *diag.Diagnostics) bool
}

type recordList struct {
	kind listKind
	data *providerData
}

func (l *recordList) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + l.kind.suffix
}

func (l *recordList) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	pd, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
		return
	}
	l.data = pd
}

func (l *recordList) ListResourceConfigSchema(_ context.Context, _ list.ListResourceSchemaRequest, resp *list.ListResourceSchemaResponse) {
	gone := quoteList(l.kind.gone)
	attrs := map[string]listschema.Attribute{
		"backend": listschema.StringAttribute{
			MarkdownDescription: "Only records of this engine (the record's `provider` field): " + quoteList(availableEngines) + ".",
			Optional:            true,
			Validators:          []validator.String{stringvalidator.OneOf(availableEngines...)},
		},
		"status": listschema.StringAttribute{
			MarkdownDescription: "Only records with this status, e.g. `active`. By default every status but " + gone +
				" (records whose object no longer exists, which cannot be imported); a half-made record (`creating`, " +
				"`error`) imports as a tainted resource would, and the next plan replaces it.",
			Optional:   true,
			Validators: []validator.String{stringvalidator.LengthAtLeast(1), stringvalidator.NoneOf(l.kind.gone...)},
		},
		"labels": listschema.MapAttribute{
			MarkdownDescription: "Only records carrying every one of these labels (`params.labels` of the record, as the " +
				"resources' `labels` and applications using `@ekairos/sandbox` write them).",
			Optional:    true,
			ElementType: types.StringType,
		},
		"created_after": listschema.StringAttribute{
			MarkdownDescription: "Only records created after this time (RFC 3339, e.g. `2026-01-31T00:00:00Z`).",
			Optional:            true,
			Validators:          []validator.String{rfc3339Validator{}},
		},
		"created_before": listschema.StringAttribute{
			MarkdownDescription: "Only records created before this time (RFC 3339).",
			Optional:            true,
			Validators:          []validator.String{rfc3339Validator{}},
		},
		"scope": listschema.StringAttribute{
			MarkdownDescription: "Whose records to list. By default the records no Terraform configuration made (an " +
				"application's, an agent's: they carry no scope) and those of this provider's own `scope`; records of " +
				"other configurations are theirs (their applies adopt them and their `sweep` counts them as theirs), " +
				"so they are left out. A scope (`params.terraform.scope` of a record, e.g. a configuration whose state " +
				"was lost) lists only that configuration's records; `\"" + scopeAll + "\"` lists every record.",
			Optional:   true,
			Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
		},
	}
	if l.kind.purpose {
		attrs["purpose"] = listschema.StringAttribute{
			MarkdownDescription: "Only sandboxes with this `purpose`, e.g. `agent` or `ci`.",
			Optional:            true,
			Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
		}
	}
	resp.Schema = listschema.Schema{
		MarkdownDescription: fmt.Sprintf("Finds %s records in the record store, newest first, for `terraform query`: each "+
			"result is a record's identity (its id) and, with `include_resource = true` or `-generate-config-out`, the "+
			"`sandbox%s` an import of it reads, so the generated configuration plans no change once imported. Listing "+
			"writes nothing to the store. Terraform 1.14 or newer.", l.kind.what, l.kind.suffix),
		Attributes: attrs,
	}
}

func (l *recordList) ValidateListResourceConfig(ctx context.Context, req list.ValidateConfigRequest, resp *list.ValidateConfigResponse) {
	var after, before types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("created_after"), &after)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("created_before"), &before)...)
	if resp.Diagnostics.HasError() || after.IsNull() || after.IsUnknown() || before.IsNull() || before.IsUnknown() {
		return
	}
	a, errA := time.Parse(time.RFC3339, after.ValueString())
	b, errB := time.Parse(time.RFC3339, before.ValueString())
	if errA == nil && errB == nil && !a.Before(b) {
		resp.Diagnostics.AddAttributeError(path.Root("created_before"), "Empty time range",
			fmt.Sprintf("created_before (%s) must be later than created_after (%s).", before.ValueString(), after.ValueString()))
	}
}

// listFilter is a list block's config.
type listFilter struct {
	Backend, Status, Purpose, Scope types.String
	CreatedAfter, CreatedBefore     types.String
	Labels                          map[string]string
}

func (l *recordList) readFilter(ctx context.Context, cfg tfsdk.Config, diags *diag.Diagnostics) listFilter {
	var f listFilter
	for name, dst := range map[string]*types.String{"backend": &f.Backend, "status": &f.Status, "scope": &f.Scope,
		"created_after": &f.CreatedAfter, "created_before": &f.CreatedBefore} {
		diags.Append(cfg.GetAttribute(ctx, path.Root(name), dst)...)
	}
	if l.kind.purpose {
		diags.Append(cfg.GetAttribute(ctx, path.Root("purpose"), &f.Purpose)...)
	}
	var labels types.Map
	diags.Append(cfg.GetAttribute(ctx, path.Root("labels"), &labels)...)
	if !labels.IsNull() && !labels.IsUnknown() {
		diags.Append(labels.ElementsAs(ctx, &f.Labels, false)...)
	}
	return f
}

// query is the store query of the filter's indexed fields; the rest (labels, scope) is matched by match.
func (l *recordList) query(f listFilter, limit int) backend.Query {
	q := backend.Query{Entity: l.kind.entity, OrderBy: "createdAt", Desc: true}
	for field, v := range map[string]types.String{"provider": f.Backend, "status": f.Status, "purpose": f.Purpose} {
		if !v.IsNull() && v.ValueString() != "" {
			q.Where = append(q.Where, backend.Cond{Field: field, Op: backend.OpEq, Value: v.ValueString()})
		}
	}
	if t, err := time.Parse(time.RFC3339, f.CreatedAfter.ValueString()); err == nil && !f.CreatedAfter.IsNull() {
		q.Where = append(q.Where, backend.Cond{Field: "createdAt", Op: backend.OpGt, Value: t.UnixMilli()})
	}
	if t, err := time.Parse(time.RFC3339, f.CreatedBefore.ValueString()); err == nil && !f.CreatedBefore.IsNull() {
		q.Where = append(q.Where, backend.Cond{Field: "createdAt", Op: backend.OpLt, Value: t.UnixMilli()})
	}
	// Without filters the store cannot apply, the store's limit is Terraform's; with them, every candidate is
	// read and the limit counts the matches.
	if len(f.Labels) == 0 && !f.Status.IsNull() && f.Scope.ValueString() == scopeAll && limit > 0 {
		q.Limit = limit
	}
	return q
}

// match applies what the store cannot: the default statuses, labels and scope.
func (l *recordList) match(rec *backend.Record, f listFilter, ownScope string) bool {
	if f.Status.IsNull() {
		for _, g := range l.kind.gone {
			if rec.String("status") == g {
				return false
			}
		}
	}
	labels, _ := rec.JSONMap("params")["labels"].(map[string]any)
	for k, v := range f.Labels {
		if got, ok := labels[k].(string); !ok || got != v {
			return false
		}
	}
	scope, _ := bookkeepingOf(rec)[backend.BookScope].(string)
	switch want := f.Scope.ValueString(); {
	case f.Scope.IsNull():
		return scope == "" || scope == ownScope
	case want == scopeAll:
		return true
	default:
		return scope == want
	}
}

func (l *recordList) List(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream) {
	var diags diag.Diagnostics
	if l.data == nil {
		diags.AddError("Provider not configured", "The provider was not configured before the list resource was used; this is a bug in the provider.")
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	f := l.readFilter(ctx, req.Config, &diags)
	if diags.HasError() {
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	// A listing never creates the store: a SQLite file or PostgreSQL schema that does not exist holds no record.
	missing, _, err := l.data.storeMissing(ctx)
	if err != nil {
		diags.AddError("Record store not reachable", err.Error())
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	if missing {
		stream.Results = list.NoListResults
		return
	}
	lc := lifecycleOf(l.data, &diags)
	if lc == nil {
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	recs, err := lc.Store.Query(ctx, l.query(f, int(req.Limit)))
	if err != nil {
		diags.AddError("Cannot query the record store", err.Error())
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	stream.Results = func(push func(list.ListResult) bool) {
		n := int64(0)
		for _, rec := range recs {
			if req.Limit > 0 && n >= req.Limit {
				return
			}
			if !l.match(rec, f, l.data.scope) {
				continue
			}
			res := req.NewListResult(ctx)
			res.DisplayName = l.kind.display(rec)
			res.Diagnostics.Append(res.Identity.Set(ctx, identityModel{ID: types.StringValue(rec.ID)})...)
			if req.IncludeResource {
				res.Diagnostics.Append(res.Resource.SetAttribute(ctx, path.Root("id"), rec.ID)...)
				if !res.Diagnostics.HasError() && !l.kind.fill(ctx, lc, rec, res.Resource, &res.Diagnostics) {
					continue
				}
			}
			n++
			if !push(res) {
				return
			}
		}
	}
}

// fillModel reads the resource object (its id set, everything else null) into a model, lets restore fill it,
// and writes it back.
func fillModel[M any](ctx context.Context, r *tfsdk.Resource, diags *diag.Diagnostics, restore func(m *M)) {
	var m M
	diags.Append(getResource(ctx, r, &m)...)
	if diags.HasError() {
		return
	}
	restore(&m)
	diags.Append(setResource(ctx, r, &m)...)
}

func describe(parts ...string) string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

var sandboxListKind = listKind{
	suffix: "_sandbox", what: "sandbox", entity: backend.EntitySandboxes, purpose: true,
	gone: []string{backend.StatusShutdown},
	display: func(rec *backend.Record) string {
		return fmt.Sprintf("sandbox %s (%s)", rec.ID, describe(rec.String("provider"), rec.String("status"), rec.String("purpose"), labelsText(rec)))
	},
	fill: func(ctx context.Context, lc *backend.Lifecycle, rec *backend.Record, r *tfsdk.Resource, diags *diag.Diagnostics) bool {
		res, err := lc.PeekSandbox(ctx, rec)
		if err != nil {
			// The record alone still rebuilds the configuration; only the engine's view (state, URLs) is missing.
			diags.AddWarning("Engine not reachable", fmt.Sprintf("Sandbox %s: %s. Its configuration comes from the record alone; "+
				"desired_state is taken as running.", rec.ID, err))
			res = &backend.SandboxResult{Record: rec}
		}
		if res == nil {
			return false // the object is gone: nothing to import
		}
		fillModel(ctx, r, diags, func(m *sandboxModel) { m.fromResult(ctx, res, diags) })
		return true
	},
}

var workspaceListKind = listKind{
	suffix: "_workspace", what: "workspace", entity: backend.EntityWorkspaces,
	gone: []string{backend.StatusShutdown, backend.WorkspaceArchived},
	display: func(rec *backend.Record) string {
		return fmt.Sprintf("workspace %s (%s)", rec.String("name"), describe(rec.String("provider"), rec.String("status"), labelsText(rec)))
	},
	fill: func(ctx context.Context, _ *backend.Lifecycle, rec *backend.Record, r *tfsdk.Resource, diags *diag.Diagnostics) bool {
		fillModel(ctx, r, diags, func(m *workspaceModel) {
			m.fromRecord(rec)
			m.checkpointsFromEngine(rec, nil)
			m.Timeouts = restoreTimeouts(ctx, m.Timeouts, bookkeepingOf(rec))
		})
		return true
	},
}

var volumeListKind = listKind{
	suffix: "_volume", what: "volume", entity: backend.EntityVolumes,
	gone: []string{backend.StatusShutdown},
	display: func(rec *backend.Record) string {
		return fmt.Sprintf("volume %s (%s)", rec.String("name"), describe(rec.String("provider"), rec.String("status"), labelsText(rec)))
	},
	fill: func(ctx context.Context, _ *backend.Lifecycle, rec *backend.Record, r *tfsdk.Resource, diags *diag.Diagnostics) bool {
		fillModel(ctx, r, diags, func(m *volumeModel) {
			m.fromRecord(rec, nil)
			m.Timeouts = restoreTimeouts(ctx, m.Timeouts, bookkeepingOf(rec))
		})
		return true
	},
}

var setupListKind = listKind{
	suffix: "_setup", what: "setup", entity: backend.EntitySetups,
	gone: []string{backend.StatusShutdown},
	display: func(rec *backend.Record) string {
		return fmt.Sprintf("setup %s (%s)", rec.ID, describe(rec.String("provider"), rec.String("status"), rec.String("command"), labelsText(rec)))
	},
	fill: func(ctx context.Context, _ *backend.Lifecycle, rec *backend.Record, r *tfsdk.Resource, diags *diag.Diagnostics) bool {
		fillModel(ctx, r, diags, func(m *setupModel) {
			m.fromRecord(rec)
			m.Timeouts = restoreTimeouts(ctx, m.Timeouts, bookkeepingOf(rec))
		})
		return true
	},
}

// labelsText is a record's labels as k=v, sorted, for display names.
func labelsText(rec *backend.Record) string {
	labels, _ := rec.JSONMap("params")["labels"].(map[string]any)
	kv := make([]string, 0, len(labels))
	for k, v := range labels {
		kv = append(kv, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(kv)
	return strings.Join(kv, " ")
}

// rfc3339Validator checks a time in RFC 3339.
type rfc3339Validator struct{}

func (rfc3339Validator) Description(context.Context) string {
	return "must be a time in RFC 3339, e.g. 2026-01-31T00:00:00Z"
}

func (v rfc3339Validator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (rfc3339Validator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := time.Parse(time.RFC3339, req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid time",
			fmt.Sprintf("%q is not a time in RFC 3339: write e.g. 2026-01-31T00:00:00Z or 2026-01-31T09:00:00+01:00.", req.ConfigValue.ValueString()))
	}
}
