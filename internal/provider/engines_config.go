package provider

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// engineSetting is one setting of a hosted engine's provider block, with its environment fallbacks.
type engineSetting struct {
	name      string
	envs      []string // fallbacks, first set wins
	sensitive bool
	desc      string
}

// hostedEngineSettings are the provider blocks of the hosted engines, by engine name. Their values are read
// at Configure (attribute, then environment) and handed to the engine when a resource first uses it: nothing
// is required until then.
var hostedEngineSettings = map[string][]engineSetting{
	"daytona": {
		{"api_key", []string{"DAYTONA_API_KEY"}, true, "The Daytona API key."},
		{"jwt_token", []string{"DAYTONA_JWT_TOKEN"}, true, "A Daytona JWT, the alternative to `api_key` (needs `organization_id`)."},
		{"organization_id", []string{"DAYTONA_ORGANIZATION_ID"}, false, "The organization, sent as `X-Daytona-Organization-ID`."},
		{"api_url", []string{"DAYTONA_API_URL", "DAYTONA_SERVER_URL"}, false, "The API URL (default `https://app.daytona.io/api`)."},
		{"target", []string{"DAYTONA_TARGET"}, false, "The default target (region) for new sandboxes."},
	},
	"vercel": {
		{"token", []string{"VERCEL_TOKEN", "VERCEL_OIDC_TOKEN"}, true, "A Vercel access token, or an OIDC token (team and project are then read from its claims)."},
		{"team_id", []string{"VERCEL_TEAM_ID"}, false, "The team that owns the sandboxes."},
		{"project_id", []string{"VERCEL_PROJECT_ID"}, false, "The project the sandboxes belong to."},
		{"api_url", []string{"VERCEL_API_URL"}, false, "The API URL (default `https://api.vercel.com`)."},
	},
	"sprites": {
		{"token", []string{"SPRITES_API_TOKEN", "SPRITE_TOKEN", "SPRITES_TOKEN"}, true, "The Sprites API token."},
		{"api_url", []string{"SPRITES_API_URL", "SPRITES_API_BASE_URL"}, false, "The API URL (default `https://api.sprites.dev`)."},
	},
}

// hostedEngineBlocks are the provider schema blocks of the hosted engines.
func hostedEngineBlocks() map[string]schema.Block {
	blocks := map[string]schema.Block{}
	for engine, settings := range hostedEngineSettings {
		attrs := map[string]schema.Attribute{}
		for _, s := range settings {
			desc := s.desc + " Falls back to " + envList(s.envs) + "."
			if s.sensitive {
				desc += " Sensitive: never written to records, state or logs."
			}
			attrs[s.name] = schema.StringAttribute{MarkdownDescription: desc, Optional: true, Sensitive: s.sensitive}
		}
		blocks[engine] = schema.SingleNestedBlock{
			MarkdownDescription: "Credentials and settings of the `" + engine + "` engine. Nothing here is required until a resource " +
				"uses `backend = \"" + engine + "\"`; then a missing credential is a plan-time error that names its environment variable.",
			Attributes: attrs,
		}
	}
	return blocks
}

func envList(envs []string) string {
	q := make([]string, len(envs))
	for i, e := range envs {
		q[i] = "`" + e + "`"
	}
	return strings.Join(q, ", then ")
}

// readHostedEngineSettings resolves every hosted engine's settings: attribute, then environment.
func readHostedEngineSettings(ctx context.Context, cfg tfsdk.Config, diags *diag.Diagnostics) map[string]map[string]string {
	out := map[string]map[string]string{}
	for engine, settings := range hostedEngineSettings {
		var block types.Object
		diags.Append(cfg.GetAttribute(ctx, path.Root(engine), &block)...)
		vals := map[string]string{}
		for _, s := range settings {
			v := ""
			if !block.IsNull() && !block.IsUnknown() {
				a, ok := block.Attributes()[s.name].(types.String)
				if ok && a.IsUnknown() {
					diags.AddAttributeError(path.Root(engine).AtName(s.name), "Value not known at plan time",
						fmt.Sprintf("%s.%s must be known when the provider is configured.", engine, s.name))
				}
				if ok {
					v = a.ValueString()
				}
			}
			for _, e := range s.envs {
				if v != "" {
					break
				}
				v = os.Getenv(e)
			}
			vals[s.name] = v
		}
		out[engine] = vals
	}
	return out
}
