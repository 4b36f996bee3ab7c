// Command schemafloor is the same-schema floor: a no-op provider whose sandbox_sandbox resource has exactly the
// schema of the real one (taken from internal/provider at build time, attribute plan modifiers, defaults and
// validators included, so the two cannot drift) and whose provider block has the real provider's schema, but
// whose CRUD touch nothing: no ValidateConfig, no ModifyPlan, no store, no engine. bench/bench.sh applies and
// refreshes it next to the real provider and floor_data, so the table splits the real provider's cost into what
// the schema's size costs Terraform and the framework (this floor vs floor_data) and what the provider's own
// work costs (the real provider vs this floor).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log"
	"os"
	rtdebug "runtime/debug"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	sandbox "github.com/ekairos/terraform-provider-sandbox/internal/provider"
)

type floorProvider struct{ real provider.Provider }

func (floorProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "sandbox"
}

// Schema is the real provider's schema, so the same provider block is valid for both.
func (p floorProvider) Schema(ctx context.Context, req provider.SchemaRequest, resp *provider.SchemaResponse) {
	p.real.Schema(ctx, req, resp)
}

func (floorProvider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

func (floorProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return floorSandbox{real: sandbox.NewSandboxResource()} }}
}

func (floorProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }

// floorSandbox is sandbox_sandbox with the real schema and CRUD that touch nothing.
type floorSandbox struct{ real resource.Resource }

func (floorSandbox) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_sandbox"
}

func (f floorSandbox) Schema(ctx context.Context, req resource.SchemaRequest, resp *resource.SchemaResponse) {
	f.real.Schema(ctx, req, resp)
}

// Create stores the plan with a random id and every other value left unknown by the plan set to null.
func (floorSandbox) Create(_ context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	v, err := known(req.Plan.Raw, hex.EncodeToString(b))
	if err != nil {
		resp.Diagnostics.AddError("floor", err.Error())
		return
	}
	resp.State.Raw = v
}

func (floorSandbox) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

func (floorSandbox) Update(_ context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	v, err := known(req.Plan.Raw, "")
	if err != nil {
		resp.Diagnostics.AddError("floor", err.Error())
		return
	}
	resp.State.Raw = v
}

// known returns plan with every unknown value null, and the top-level id set to id when id is not empty.
func known(plan tftypes.Value, id string) (tftypes.Value, error) {
	return tftypes.Transform(plan, func(p *tftypes.AttributePath, v tftypes.Value) (tftypes.Value, error) {
		if id != "" && len(p.Steps()) == 1 && p.Steps()[0].Equal(tftypes.AttributeName("id")) {
			return tftypes.NewValue(tftypes.String, id), nil
		}
		if !v.IsKnown() {
			return tftypes.NewValue(v.Type(), nil), nil
		}
		return v, nil
	})
}

func (floorSandbox) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

func main() {
	// The same process defaults as the provider (main.go): SDK loggers off unless a log was asked for, and the
	// collector at 4x the live heap.
	if os.Getenv("TF_LOG") == "" {
		for _, k := range []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER"} {
			_ = os.Setenv(k, "off")
		}
	}
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		rtdebug.SetGCPercent(400)
		rtdebug.SetMemoryLimit(512 << 20)
	}
	real := sandbox.New("floor")()
	err := providerserver.Serve(context.Background(), func() provider.Provider { return floorProvider{real: real} },
		providerserver.ServeOpts{Address: "registry.terraform.io/bench/sandbox"})
	if err != nil {
		log.Fatal(err)
	}
}
