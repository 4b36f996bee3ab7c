package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var (
	_ datasource.DataSourceWithConfigure      = (*recordsDataSource)(nil)
	_ datasource.DataSourceWithValidateConfig = (*recordsDataSource)(nil)
)

const (
	defaultRecordsLimit = 100
	maxRecordsLimit     = 1000
)

// NewRecordsDataSource makes the sandbox_records data source.
func NewRecordsDataSource() datasource.DataSource { return &recordsDataSource{} }

type recordsDataSource struct {
	data *providerData
}

type recordsModel struct {
	Kind    types.String `tfsdk:"kind"`
	Backend types.String `tfsdk:"backend"`
	Status  types.String `tfsdk:"status"`
	Purpose types.String `tfsdk:"purpose"`
	Labels  types.Map    `tfsdk:"labels"`
	Order   types.String `tfsdk:"order"`
	Limit   types.Int64  `tfsdk:"limit"`
	IDs     types.List   `tfsdk:"ids"`
	Records types.List   `tfsdk:"records"`
}

func (d *recordsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_records"
}

func (d *recordsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	recAttrs := recordComputedAttributes()
	recAttrs["id"] = schema.StringAttribute{Computed: true, MarkdownDescription: "The record id."}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists records of one kind, filtered on indexed fields by the store itself (one indexed SQL " +
			"query, or an InstaQL `where`), newest first by default. Reading never changes anything.",
		Attributes: map[string]schema.Attribute{
			"kind": schema.StringAttribute{
				MarkdownDescription: "The kind of record: " + quoteList(kindNames()) + ". Default `sandbox`.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.OneOf(kindNames()...)},
			},
			"backend": schema.StringAttribute{
				MarkdownDescription: "Only records of this engine (the record's `provider` field), e.g. `local`.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "Only records with this status, e.g. `active` or `shutdown`.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"purpose": schema.StringAttribute{
				MarkdownDescription: "Only sandboxes with this `purpose` (kind `sandbox` only).",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"labels": schema.MapAttribute{
				MarkdownDescription: "Only records whose labels (`params.labels`, `metadata.labels` of a run: a resource's " +
					"`labels_all`) contain every one of these pairs. Labels are not an indexed field: the provider filters the " +
					"records the store returns for the other filters, then applies `limit`.",
				Optional:    true,
				ElementType: types.StringType,
			},
			"order": schema.StringAttribute{
				MarkdownDescription: "`desc` (default: newest first) or `asc`, by creation time.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.OneOf("asc", "desc")},
			},
			"limit": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("The most records to return, 1 to %d. Default %d.", maxRecordsLimit, defaultRecordsLimit),
				Optional:            true,
				Validators:          []validator.Int64{int64validator.Between(1, maxRecordsLimit)},
			},
			"ids": schema.ListAttribute{
				MarkdownDescription: "The ids of the records found, in order.",
				Computed:            true,
				ElementType:         types.StringType,
			},
			"records": schema.ListNestedAttribute{
				MarkdownDescription: "The records found, in order.",
				Computed:            true,
				NestedObject:        schema.NestedAttributeObject{Attributes: recAttrs},
			},
		},
	}
}

func (d *recordsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	pd, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
		return
	}
	d.data = pd
}

func (d *recordsDataSource) ValidateConfig(ctx context.Context, req datasource.ValidateConfigRequest, resp *datasource.ValidateConfigResponse) {
	var m recordsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	kind := m.Kind.ValueString()
	if kind != "" && kind != "sandbox" && !m.Purpose.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("purpose"), "Filter not available",
			fmt.Sprintf("Only sandbox records have a purpose; kind is %q. Remove purpose or set kind = \"sandbox\".", kind))
	}
}

func (d *recordsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m recordsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || d.data == nil {
		return
	}
	kind := m.Kind.ValueString()
	if kind == "" {
		kind = "sandbox"
	}
	q := backend.Query{Entity: recordKinds[kind], Desc: m.Order.ValueString() != "asc", Limit: defaultRecordsLimit}
	if !m.Limit.IsNull() {
		q.Limit = int(m.Limit.ValueInt64())
	}
	wantLabels, _ := knownStringMap(m.Labels)
	limit := q.Limit
	if len(wantLabels) > 0 {
		q.Limit = 0 // labels are matched here, after the store's query
	}
	if kind == "process" {
		q.OrderBy = "startedAt"
	} else {
		q.OrderBy = "createdAt"
	}
	for field, v := range map[string]types.String{"provider": m.Backend, "status": m.Status, "purpose": m.Purpose} {
		if !v.IsNull() {
			q.Where = append(q.Where, backend.Cond{Field: field, Op: backend.OpEq, Value: v.ValueString()})
		}
	}
	st, err := d.data.existingStore()
	if err != nil {
		resp.Diagnostics.AddError("Record store unavailable", err.Error())
		return
	}
	var recs []*backend.Record
	if st != nil { // a SQLite file that does not exist yet holds no record (and is not created by a read)
		if recs, err = st.Query(ctx, q); err != nil {
			resp.Diagnostics.AddError("Cannot query the record store", err.Error())
			return
		}
	}
	if len(wantLabels) > 0 {
		recs = filterByLabels(recs, wantLabels, limit)
	}
	ids := make([]attr.Value, 0, len(recs))
	objs := make([]attr.Value, 0, len(recs))
	objType := types.ObjectType{AttrTypes: recordAttrTypes}
	for _, rec := range recs {
		rm, err := recordToModel(rec)
		if err != nil {
			resp.Diagnostics.AddError("Cannot encode a record", err.Error())
			return
		}
		obj, diags := types.ObjectValueFrom(ctx, recordAttrTypes, rm)
		resp.Diagnostics.Append(diags...)
		ids = append(ids, types.StringValue(rec.ID))
		objs = append(objs, obj)
	}
	m.IDs = types.ListValueMust(types.StringType, ids)
	m.Records = types.ListValueMust(objType, objs)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// filterByLabels keeps the records whose labels contain every pair of want, at most limit of them (0 = all).
func filterByLabels(recs []*backend.Record, want map[string]string, limit int) []*backend.Record {
	out := make([]*backend.Record, 0, len(recs))
	for _, r := range recs {
		if backend.HasLabels(backend.LabelsOf(r), want) {
			out = append(out, r)
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out
}
