package provider

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Labels: a string map on every resource, merged over the provider's default_labels (the resource's win) into
// the computed labels_all, which is what the record holds (params.labels; metadata.labels of a run) and what
// engines with labels carry (Daytona). The keys the resource itself set are kept in the bookkeeping, so that an
// import gives back labels without the default ones.

// bkLabels is the bookkeeping key listing the keys of the resource's own labels (absent: no labels argument).
const bkLabels = "labelKeys"

// Label rules, checked at plan time: what every engine that carries labels accepts.
const (
	maxLabels          = 50
	maxLabelValueChars = 256
)

var labelKeyRegexp = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._:/-]{0,62})$`)

const labelKeyRule = "1 to 63 characters: letters, digits, `.`, `_`, `:`, `/` and `-`, starting with a letter or digit; " +
	"keys starting with `ekairos` and the key `code-toolbox-language` are reserved (the library's own Daytona labels)"

const labelsDoc = " Keys: " + labelKeyRule + ". Values: at most 256 characters, no control characters. At most 50 labels."

// labelsEnginesDoc says which engines carry the labels (the record always does).
const labelsEnginesDoc = "The record always holds them. On `daytona` a sandbox (and a workspace's sandbox) also carries them as " +
	"Daytona labels, beside the library's own (`ekairos = \"1\"`, ...; the `daytona { labels }` option wins over them), and a " +
	"change updates them in place (`PUT /sandbox/{id}/labels`). Vercel (at most 5 tags, 4 of which the library already uses) " +
	"and Sprites (labels are a list of plain strings there, not pairs) keep them in the record only, and so do volumes, " +
	"setups, command runs and the `local` engine."

// labelsAttribute is the labels argument of a resource.
func labelsAttribute(what string) schema.MapAttribute {
	return schema.MapAttribute{
		MarkdownDescription: "Labels of the " + what + ", merged over the provider's `default_labels` (these win on the same key) into " +
			"`labels_all`, which is recorded as the record's `params.labels`" + map[bool]string{true: " (`metadata.labels` of its run)", false: ""}[what == "command"] +
			", filterable in `sandbox_records` and in the list resources. Changed in place." + labelsDoc,
		Optional:    true,
		ElementType: types.StringType,
		Validators:  labelValidators(),
	}
}

// labelsAllAttribute is the computed labels_all of a resource.
func labelsAllAttribute() schema.MapAttribute {
	return schema.MapAttribute{
		MarkdownDescription: "The labels in effect: the provider's `default_labels` merged with `labels` (these win). " +
			"Changing `default_labels` changes it, and the resource is updated in place. " + labelsEnginesDoc,
		Computed:    true,
		ElementType: types.StringType,
	}
}

func labelValidators() []validator.Map {
	return []validator.Map{
		mapvalidator.SizeAtMost(maxLabels),
		mapvalidator.KeysAre(stringvalidator.RegexMatches(labelKeyRegexp, "must be a label key: "+labelKeyRule), reservedLabelKey{}),
		mapvalidator.ValueStringsAre(labelValueValidator{}),
	}
}

// reservedLabelKey refuses the keys the library and this provider put on engine objects themselves.
type reservedLabelKey struct{}

func (reservedLabelKey) Description(context.Context) string {
	return "must not start with `ekairos` nor be `code-toolbox-language`"
}
func (v reservedLabelKey) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (reservedLabelKey) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	k := req.ConfigValue.ValueString()
	if strings.HasPrefix(strings.ToLower(k), "ekairos") || k == "code-toolbox-language" {
		resp.Diagnostics.AddAttributeError(req.Path, "Reserved label key",
			fmt.Sprintf("The label key %q is reserved: keys starting with \"ekairos\" and \"code-toolbox-language\" are the labels @ekairos/sandbox and this provider put on engine objects (ekairos = \"1\", ekairos_sandbox_id, ...). Use another key, e.g. \"team\".", k))
	}
}

// labelValueValidator: at most 256 characters, no control characters.
type labelValueValidator struct{}

func (labelValueValidator) Description(context.Context) string {
	return "must be at most 256 characters without control characters"
}
func (v labelValueValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (labelValueValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	if n := len([]rune(s)); n > maxLabelValueChars {
		resp.Diagnostics.AddAttributeError(req.Path, "Label value too long",
			fmt.Sprintf("A label value is at most %d characters; this one has %d.", maxLabelValueChars, n))
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid label value",
			"A label value must not hold control characters (newlines, tabs, NUL, ...).")
	}
}

// mergedLabels is the provider's default labels with the resource's own over them.
func mergedLabels(defaults, own map[string]string) map[string]string {
	out := make(map[string]string, len(defaults)+len(own))
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

// stringMapValue is a known types.Map of strings (empty, never null).
func stringMapValue(m map[string]string) types.Map {
	vals := make(map[string]attr.Value, len(m))
	for k, v := range m {
		vals[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, vals)
}

// knownStringMap returns a map's values, ok false when the map or one of its values is unknown.
func knownStringMap(m types.Map) (map[string]string, bool) {
	if m.IsUnknown() {
		return nil, false
	}
	out := map[string]string{}
	for k, v := range m.Elements() {
		s, isStr := v.(types.String)
		if !isStr || s.IsUnknown() {
			return nil, false
		}
		out[k] = s.ValueString()
	}
	return out, true
}

// planLabels plans labels_all: the provider's default labels merged with the resource's (unknown while the
// resource's are). Every resource's ModifyPlan calls it.
func planLabels(ctx context.Context, data *providerData, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var own types.Map
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("labels"), &own)...)
	if resp.Diagnostics.HasError() {
		return
	}
	vals, ok := knownStringMap(own)
	if !ok {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("labels_all"), types.MapUnknown(types.StringType))...)
		return
	}
	var defaults map[string]string
	if data != nil {
		defaults = data.defaultLabels
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("labels_all"), stringMapValue(mergedLabels(defaults, vals)))...)
}

// labelsAllOf is the planned labels_all as the request's labels.
func labelsAllOf(m types.Map) map[string]string {
	vals, _ := knownStringMap(m)
	if len(vals) == 0 {
		return nil
	}
	return vals
}

// labelKeysBookkeeping lists the keys of the resource's own labels for the bookkeeping; nil without labels.
func labelKeysBookkeeping(own types.Map) any {
	if own.IsNull() || own.IsUnknown() {
		return nil
	}
	keys := make([]string, 0, len(own.Elements()))
	for k := range own.Elements() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, k)
	}
	return out
}

// recordBookkeeping is a record's bookkeeping: params.terraform, or metadata.terraform of a run.
func recordBookkeeping(rec *backend.Record) map[string]any {
	if rec.Entity == backend.EntityProcesses {
		m, _ := rec.JSONMap("metadata")[backend.MetadataTerraform].(map[string]any)
		return m
	}
	return bookkeepingOf(rec)
}

// restoreLabels reads labels and labels_all back from a record: labels_all is the record's labels; labels keeps
// the prior's keys with the record's values (so that a change behind Terraform's back shows), or, with no prior
// (an import), the keys the bookkeeping lists.
func restoreLabels(prior types.Map, rec *backend.Record) (labels, labelsAll types.Map) {
	all := backend.LabelsOf(rec)
	labelsAll = stringMapValue(all)
	var keys []string
	switch {
	case !prior.IsNull() && !prior.IsUnknown():
		for k := range prior.Elements() {
			keys = append(keys, k)
		}
	default:
		raw, ok := recordBookkeeping(rec)[bkLabels].([]any)
		if !ok {
			return types.MapNull(types.StringType), labelsAll
		}
		for _, k := range raw {
			if s, ok := k.(string); ok {
				keys = append(keys, s)
			}
		}
	}
	own := map[string]string{}
	for _, k := range keys {
		if v, ok := all[k]; ok {
			own[k] = v
		}
	}
	return stringMapValue(own), labelsAll
}

// readDefaultLabels reads the provider's default_labels.
func readDefaultLabels(m types.Map, diags *diag.Diagnostics) map[string]string {
	if m.IsNull() {
		return nil
	}
	vals, ok := knownStringMap(m)
	if !ok {
		diags.AddAttributeError(path.Root("default_labels"), "Value not known at plan time",
			"default_labels must be known when the provider is configured: use values known before apply.")
		return nil
	}
	return vals
}
