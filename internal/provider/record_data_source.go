package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var _ datasource.DataSourceWithConfigure = (*recordDataSource)(nil)

// NewRecordDataSource makes the sandbox_record data source.
func NewRecordDataSource() datasource.DataSource { return &recordDataSource{} }

type recordDataSource struct {
	data *providerData
}

func (d *recordDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_record"
}

func (d *recordDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := recordComputedAttributes()
	attrs["id"] = schema.StringAttribute{
		MarkdownDescription: "The record id (a UUID) of any kind of record: a sandbox, workspace, volume, setup or process.",
		Required:            true,
		Validators:          []validator.String{uuidValidator{}},
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads one record of the record store by id, whatever its kind, exactly as an application " +
			"reading the store sees it. Reading never changes anything. A missing id is an error.",
		Attributes: attrs,
	}
}

func (d *recordDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	pd, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider configuration", err.Error())
		return
	}
	d.data = pd
}

func (d *recordDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m recordModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || d.data == nil {
		return
	}
	st, err := d.data.existingStore()
	if err != nil {
		resp.Diagnostics.AddError("Record store unavailable", err.Error())
		return
	}
	if st == nil {
		resp.Diagnostics.AddAttributeError(path.Root("id"), "No such record",
			fmt.Sprintf("No record %s: the record store (%s) does not exist yet.", m.ID.ValueString(), d.data.storeWhere()))
		return
	}
	rec, err := backend.FindRecord(ctx, st, m.ID.ValueString())
	if errors.Is(err, backend.ErrNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("id"), "No such record",
			fmt.Sprintf("No record %s in any entity of the %s store.", m.ID.ValueString(), st.Kind()))
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the record store", err.Error())
		return
	}
	out, err := recordToModel(rec)
	if err != nil {
		resp.Diagnostics.AddError("Cannot encode the record", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &out)...)
}
