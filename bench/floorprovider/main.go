// Command floorprovider is the smallest terraform-plugin-framework provider there can be: one resource,
// floor_data, with an id and an input string, whose CRUD touch nothing. bench/bench.sh applies and refreshes it
// next to terraform_data and sandbox_sandbox, so that the table shows what any plugin-framework provider costs
// Terraform (a plugin process, gRPC round trips, framework schema walks) apart from what this provider adds.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type floorProvider struct{}

func (floorProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "floor"
}
func (floorProvider) Schema(context.Context, provider.SchemaRequest, *provider.SchemaResponse) {}
func (floorProvider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}
func (floorProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return floorData{} }}
}
func (floorProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }

type floorData struct{}

type floorModel struct {
	ID    types.String `tfsdk:"id"`
	Input types.String `tfsdk:"input"`
}

func (floorData) Metadata(_ context.Context, _ resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = "floor_data"
}

func (floorData) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{Attributes: map[string]schema.Attribute{
		"id": schema.StringAttribute{Computed: true,
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
		"input": schema.StringAttribute{Optional: true},
	}}
}

func (floorData) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m floorModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	m.ID = types.StringValue(hex.EncodeToString(b))
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func (floorData) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

func (floorData) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m floorModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func (floorData) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

func main() {
	// The same logging default as the provider (main.go): SDK loggers off unless a log was asked for.
	if os.Getenv("TF_LOG") == "" {
		for _, k := range []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER"} {
			_ = os.Setenv(k, "off")
		}
	}
	err := providerserver.Serve(context.Background(), func() provider.Provider { return floorProvider{} },
		providerserver.ServeOpts{Address: "registry.terraform.io/bench/floor"})
	if err != nil {
		log.Fatal(err)
	}
}
