package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// The local {} block's attributes, by the option names the local engine takes in SandboxSpec.Options.
var localOptionTypes = map[string]attr.Type{
	"max_processes": types.Int64Type,
	"memory_mb":     types.Int64Type,
}

func localOptionAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"max_processes": schema.Int64Attribute{
			MarkdownDescription: "The most processes a command in the sandbox may run at once (a fork bomb stops there). Default: no extra limit.",
			Optional:            true,
			Validators:          []validator.Int64{int64validator.Between(1, 1<<20)},
		},
		"memory_mb": schema.Int64Attribute{
			MarkdownDescription: "The address-space limit of each process in the sandbox, in MiB. Default: no limit.",
			Optional:            true,
			Validators:          []validator.Int64{int64validator.Between(16, 1<<22)},
		},
	}
}

// localOptionsFromObject turns the local block into the engine's options map (nil when the block is absent).
func localOptionsFromObject(obj types.Object) map[string]any { return optionsFromObject(obj) }

// localOptionsToObject reads params.local of a record back into the block.
func localOptionsToObject(_ context.Context, raw any, prior types.Object) (types.Object, diag.Diagnostics) {
	return optionsToObject(raw, localOptionTypes, prior), nil
}
