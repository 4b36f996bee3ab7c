package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
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
