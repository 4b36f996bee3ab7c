package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var spritesOptionTypes = map[string]attr.Type{
	"name":              types.StringType,
	"url_auth":          types.StringType,
	"wait_for_capacity": types.BoolType,
	"labels":            types.MapType{ElemType: types.StringType},
}

func spritesOptionAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"name": schema.StringAttribute{
			MarkdownDescription: "The sprite's name, its `external_sandbox_id`. Default `ekairos-<record id>`, as `@ekairos/sandbox` names sprites.",
			Optional:            true,
			Validators:          []validator.String{stringvalidator.RegexMatches(spriteNameRegexp, "must be 1-63 lower-case letters, digits and '-', starting with a letter")},
		},
		"url_auth": schema.StringAttribute{
			MarkdownDescription: "Who may open the sprite's URL: `sprite` (default: callers with a Sprites token) or `public` (anyone). " +
				"`@ekairos/sandbox` defaults to `public`; this provider defaults to `sprite` because a sandbox runs untrusted code and " +
				"`public` would publish whatever listens on its port 8080.",
			Optional:   true,
			Validators: []validator.String{stringvalidator.OneOf("sprite", "public")},
		},
		"wait_for_capacity": schema.BoolAttribute{
			MarkdownDescription: "Wait for capacity instead of failing when none is free. Default `true`, as the library does.",
			Optional:            true,
		},
		"labels": schema.MapAttribute{
			MarkdownDescription: "Labels on the sprite (sent as `key=value`). The provider adds one carrying the record id.",
			Optional:            true,
			ElementType:         types.StringType,
		},
	}
}
