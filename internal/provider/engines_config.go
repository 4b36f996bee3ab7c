package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

// availableEngines are the engines this build can provision on (the registry's). The backend validators accept
// only these.
var availableEngines = engines.Names()

// providerEngineBlocks are the provider blocks of the engines, one per registered engine, made from its descriptor's
// settings. Their values are read at Configure (attribute, then environment, then default) and handed to the
// engine when a resource first uses it: no credential is required until then.
func providerEngineBlocks() map[string]schema.Block {
	blocks := map[string]schema.Block{}
	for _, d := range engines.All {
		attrs := map[string]schema.Attribute{}
		for _, s := range d.Settings {
			attrs[s.Name] = settingAttribute(s)
		}
		doc := d.Doc
		if doc == "" {
			doc = "Credentials and settings of the `" + d.Name + "` engine. Nothing here is required until a resource " +
				"uses `backend = \"" + d.Name + "\"`; then a missing credential is a plan-time error that names its environment variable."
		}
		blocks[d.Name] = schema.SingleNestedBlock{MarkdownDescription: doc, Attributes: attrs}
	}
	return blocks
}

// settingAttribute is the schema of one engine setting: its description says its fallbacks.
func settingAttribute(s backend.Setting) schema.StringAttribute {
	fallbacks := make([]string, 0, len(s.Envs)+1)
	for _, e := range s.Envs {
		fallbacks = append(fallbacks, "`"+e+"`")
	}
	if s.DefaultDoc != "" {
		fallbacks = append(fallbacks, s.DefaultDoc)
	}
	desc := s.Doc + " Falls back to " + strings.Join(fallbacks, ", then ") + "."
	if s.Sensitive {
		desc += " Sensitive: never written to records, state or logs."
	}
	if s.Note != "" {
		desc += " " + s.Note
	}
	var vs []validator.String
	if s.NonEmpty {
		vs = append(vs, stringvalidator.LengthAtLeast(1))
	}
	if len(s.OneOf) > 0 {
		vs = append(vs, stringvalidator.OneOf(s.OneOf...))
	}
	return schema.StringAttribute{MarkdownDescription: desc, Optional: true, Sensitive: s.Sensitive, Validators: vs}
}

// readEngineSettings resolves every engine's settings: attribute, then environment, then default. Errors are
// reported on the setting's attribute.
func readEngineSettings(ctx context.Context, cfg tfsdk.Config, diags *diag.Diagnostics) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, d := range engines.All {
		var block types.Object
		diags.Append(cfg.GetAttribute(ctx, path.Root(d.Name), &block)...)
		set := map[string]string{}
		for _, s := range d.Settings {
			if block.IsNull() || block.IsUnknown() {
				continue
			}
			a, ok := block.Attributes()[s.Name].(types.String)
			if ok && a.IsUnknown() {
				diags.AddAttributeError(path.Root(d.Name).AtName(s.Name), "Value not known at plan time",
					fmt.Sprintf("%s.%s must be known when the provider is configured.", d.Name, s.Name))
			}
			if ok {
				set[s.Name] = a.ValueString()
			}
		}
		if diags.HasError() {
			continue
		}
		vals, err := d.ResolveSettings(set, os.Getenv)
		var se *backend.SettingError
		if errors.As(err, &se) {
			diags.AddAttributeError(path.Root(d.Name).AtName(se.Setting), se.Summary, se.Detail)
		} else if err != nil {
			diags.AddError("Invalid "+d.Name+" settings", err.Error())
		}
		out[d.Name] = vals
	}
	return out
}
