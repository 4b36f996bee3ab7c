package provider

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

// fakeDescriptor is an engine that exists only in this test, with options for sandboxes and volumes of every
// kind the descriptor can say.
var fakeDescriptor = backend.EngineDescriptor{
	Name:         "fakeengine",
	Capabilities: backend.Capabilities{NetworkPolicies: []string{backend.PolicyDenyAll}},
	Options: map[backend.ResourceKind]backend.OptionBlock{
		backend.KindSandbox: {Doc: "Options of the fake engine.", Options: []backend.Option{
			{Name: "size", Kind: backend.OptionInt, Doc: "The size.", Min: backend.Bound(2), Max: backend.Bound(8),
				Check: func(v any) error {
					if n, _ := v.(int64); n%2 != 0 {
						return errors.New("the size is even")
					}
					return nil
				}},
			{Name: "flavour", Kind: backend.OptionString, Doc: "The flavour.", OneOf: []string{"sweet", "sour"}},
			{Name: "code", Kind: backend.OptionString, Doc: "A code.", Pattern: regexp.MustCompile(`^[a-z]+$`), PatternMessage: "must be lower-case letters"},
			{Name: "mode", Kind: backend.OptionString, Doc: "The mode.", Computed: true, Default: "auto"},
			{Name: "zone", Kind: backend.OptionString, Doc: "The zone the engine chose.", Computed: true},
			{Name: "secret_name", Kind: backend.OptionString, Doc: "Sensitive.", Sensitive: true},
			{Name: "tags", Kind: backend.OptionStringList, Doc: "Tags."},
			{Name: "meta", Kind: backend.OptionStringMap, Doc: "Metadata.", InPlace: true},
			{Name: "origin", Kind: backend.OptionObject, Doc: "Where it starts.", Attributes: []backend.Option{
				{Name: "url", Kind: backend.OptionString, Doc: "The URL.", Required: true},
				{Name: "depth", Kind: backend.OptionInt, Doc: "The depth."},
			}},
		}},
		backend.KindVolume: {Doc: "Options of the fake engine's volumes.", Options: []backend.Option{
			{Name: "disk_mb", Kind: backend.OptionInt, Doc: "The volume's size.", InPlaceIf: backend.Grows},
			{Name: "class", Kind: backend.OptionString, Doc: "The volume's class."},
		}},
	},
	CheckOptions: func(req backend.OptionRequest) []backend.AttrError {
		if _, ok := req.Options["tags"]; ok && req.Options["flavour"] == "sour" {
			return []backend.AttrError{{Path: []string{"fakeengine", "tags"}, Err: errors.New("sour things have no tags")}}
		}
		return nil
	},
	ResourceDocs:  map[backend.ResourceKind]string{backend.KindVolume: " On `fakeengine` a volume is imaginary."},
	AttributeDocs: map[backend.ResourceKind]map[string]string{backend.KindSandbox: {"urls": " On `fakeengine` they lead nowhere."}},
}

// registerFake adds fakeDescriptor to the registry for the test.
func registerFake(t *testing.T) {
	t.Helper()
	saved := engines.All
	engines.All = append(append([]backend.EngineDescriptor(nil), saved...), fakeDescriptor)
	t.Cleanup(func() { engines.All = saved })
}

func resourceSchema(t *testing.T, r fwresource.Resource) schema.Schema {
	t.Helper()
	var resp fwresource.SchemaResponse
	r.Schema(context.Background(), fwresource.SchemaRequest{}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatal(resp.Diagnostics)
	}
	return resp.Schema
}

// An engine registered with option blocks gets them in the resources' schemas, made from its descriptor,
// without a line of internal/provider naming it: types, flags, defaults, validators from the constraints,
// replacement from InPlace, and its paragraphs in the resources' descriptions.
func TestOptionBlocksFromDescriptor(t *testing.T) {
	registerFake(t)
	ctx := context.Background()
	sb := resourceSchema(t, NewSandboxResource())
	for _, d := range engines.All {
		if _, ok := sb.Blocks[d.Name]; !ok {
			t.Errorf("sandbox_sandbox has no %s block", d.Name)
		}
	}
	if doc := sb.Attributes["urls"].GetMarkdownDescription(); !strings.HasSuffix(doc, " On `fakeengine` they lead nowhere.") {
		t.Errorf("urls: %q has not the engine's sentence", doc)
	}
	block, ok := sb.Blocks["fakeengine"].(schema.SingleNestedBlock)
	if !ok || block.MarkdownDescription != "Options of the fake engine." || len(block.Attributes) != 9 {
		t.Fatalf("sandbox block: %#v", sb.Blocks["fakeengine"])
	}
	if _, ok := resourceSchema(t, NewSetupResource()).Blocks["fakeengine"]; ok {
		t.Error("a setup block for an engine that declares no setup options")
	}
	vol := resourceSchema(t, NewVolumeResource())
	if _, ok := vol.Blocks["fakeengine"]; !ok || !strings.HasSuffix(vol.MarkdownDescription, " On `fakeengine` a volume is imaginary.") {
		t.Errorf("volume: block %v, description %q", vol.Blocks["fakeengine"], vol.MarkdownDescription)
	}

	want := map[string]attr.Type{
		"size": types.Int64Type, "flavour": types.StringType, "code": types.StringType, "mode": types.StringType,
		"secret_name": types.StringType, "tags": types.ListType{ElemType: types.StringType}, "zone": types.StringType,
		"meta":   types.MapType{ElemType: types.StringType},
		"origin": types.ObjectType{AttrTypes: map[string]attr.Type{"url": types.StringType, "depth": types.Int64Type}},
	}
	if got, _ := block.Type().(types.ObjectType); !reflect.DeepEqual(got.AttrTypes, want) {
		t.Errorf("attribute types %v, want %v", got, want)
	}
	mode, _ := block.Attributes["mode"].(schema.StringAttribute)
	if !mode.Computed || mode.Default == nil {
		t.Error("mode: a computed option with a default")
	}
	if !block.Attributes["secret_name"].IsSensitive() {
		t.Error("secret_name is not sensitive")
	}
	if origin, _ := block.Attributes["origin"].(schema.SingleNestedAttribute); origin.Attributes["url"] == nil || !origin.Attributes["url"].IsRequired() {
		t.Error("origin.url is not required within its object")
	}

	// Validators from the constraints: range and Check on ints, one-of and pattern on strings.
	intErrs := func(n int64) string {
		var resp validator.Int64Response
		size, _ := block.Attributes["size"].(schema.Int64Attribute)
		for _, v := range size.Validators {
			v.ValidateInt64(ctx, validator.Int64Request{Path: path.Root("fakeengine").AtName("size"), ConfigValue: types.Int64Value(n)}, &resp)
		}
		return diagText(resp.Diagnostics)
	}
	if intErrs(4) != "" || !strings.Contains(intErrs(10), "between 2 and 8") || !strings.Contains(intErrs(3), "the size is even") {
		t.Errorf("size validators: 4 %q, 10 %q, 3 %q", intErrs(4), intErrs(10), intErrs(3))
	}
	strErrs := func(name, s string) string {
		var resp validator.StringResponse
		a, _ := block.Attributes[name].(schema.StringAttribute)
		for _, v := range a.Validators {
			v.ValidateString(ctx, validator.StringRequest{Path: path.Root("fakeengine").AtName(name), ConfigValue: types.StringValue(s)}, &resp)
		}
		return diagText(resp.Diagnostics)
	}
	if strErrs("flavour", "sweet") != "" || !strings.Contains(strErrs("flavour", "salty"), "sweet") ||
		strErrs("code", "abc") != "" || !strings.Contains(strErrs("code", "ABC"), "must be lower-case letters") {
		t.Error("string validators do not hold the constraints")
	}

	// Changing meta (InPlace) updates in place; changing size, or adding the block, replaces.
	replaces := func(prior, planned types.Object) bool {
		var resp planmodifier.ObjectResponse
		resp.PlanValue = planned
		for _, m := range block.PlanModifiers {
			m.PlanModifyObject(ctx, planmodifier.ObjectRequest{StateValue: prior, PlanValue: planned, ConfigValue: planned,
				State: tfsdk.State{Raw: sampleValue(sb.Type().TerraformType(ctx), "null", 0, "")}, Plan: tfsdk.Plan{Raw: sampleValue(sb.Type().TerraformType(ctx), "null", 0, "")}}, &resp)
		}
		return resp.RequiresReplace
	}
	base := fakeBlock(map[string]attr.Value{"size": types.Int64Value(2)})
	if replaces(base, fakeBlock(map[string]attr.Value{"size": types.Int64Value(2), "meta": types.MapValueMust(types.StringType, map[string]attr.Value{"a": types.StringValue("b")})})) {
		t.Error("a change of an in-place option replaces")
	}
	if !replaces(base, fakeBlock(map[string]attr.Value{"size": types.Int64Value(4)})) {
		t.Error("a change of a replacing option does not replace")
	}
	if !replaces(types.ObjectNull(want), base) {
		t.Error("adding the block does not replace")
	}
}

// An InPlaceIf option updates in place only the changes it allows (backend.Grows: a larger disk_mb); a smaller
// one, setting or unsetting it, a change of another (replacing) option of the block, and adding or removing the
// block replace.
func TestOptionBlocksInPlaceIf(t *testing.T) {
	registerFake(t)
	ctx := context.Background()
	vol := resourceSchema(t, NewVolumeResource())
	block, ok := vol.Blocks["fakeengine"].(schema.SingleNestedBlock)
	if !ok {
		t.Fatalf("volume block: %#v", vol.Blocks["fakeengine"])
	}
	attrTypes := objectTypes(fakeDescriptor.Options[backend.KindVolume].Options)
	obj := func(disk attr.Value, class string) types.Object {
		c := types.StringNull()
		if class != "" {
			c = types.StringValue(class)
		}
		return types.ObjectValueMust(attrTypes, map[string]attr.Value{"disk_mb": disk, "class": c})
	}
	null := types.ObjectNull(attrTypes)
	raw := sampleValue(vol.Type().TerraformType(ctx), "null", 0, "")
	replaces := func(prior, planned types.Object) bool {
		var resp planmodifier.ObjectResponse
		resp.PlanValue = planned
		for _, m := range block.PlanModifiers {
			m.PlanModifyObject(ctx, planmodifier.ObjectRequest{StateValue: prior, PlanValue: planned, ConfigValue: planned,
				State: tfsdk.State{Raw: raw}, Plan: tfsdk.Plan{Raw: raw}}, &resp)
		}
		return resp.RequiresReplace
	}
	n := types.Int64Value
	for _, c := range []struct {
		name           string
		prior, planned types.Object
		want           bool
	}{
		{"larger", obj(n(16), "a"), obj(n(48), "a"), false},
		{"unchanged", obj(n(16), "a"), obj(n(16), "a"), false},
		{"smaller", obj(n(48), "a"), obj(n(40), "a"), true},
		{"set", obj(types.Int64Null(), "a"), obj(n(48), "a"), true},
		{"unset", obj(n(48), "a"), obj(types.Int64Null(), "a"), true},
		{"unknown", obj(n(16), "a"), obj(types.Int64Unknown(), "a"), true},
		{"larger, another option changed", obj(n(16), "a"), obj(n(48), "b"), true},
		{"block added", null, obj(n(16), ""), true},
		{"block removed", obj(n(16), ""), null, true},
	} {
		if got := replaces(c.prior, c.planned); got != c.want {
			t.Errorf("%s: replaces = %v, want %v", c.name, got, c.want)
		}
	}
}

func diagText(d diag.Diagnostics) string {
	var out []string
	for _, x := range d {
		out = append(out, x.Summary()+": "+x.Detail())
	}
	return strings.Join(out, "\n")
}

// fakeBlock is a fakeengine sandbox block with the given values, every other attribute null.
func fakeBlock(vals map[string]attr.Value) types.Object {
	t := objectTypes(fakeDescriptor.Options[backend.KindSandbox].Options)
	all := map[string]attr.Value{}
	for name, at := range t {
		if v, ok := vals[name]; ok {
			all[name] = v
			continue
		}
		all[name] = attrValue(at, nil, false)
	}
	return types.ObjectValueMust(t, all)
}

// A fake engine's block travels like any engine's: read from a plan into the model, given to the engine as
// its options map, its set names kept for import, rebuilt from the record on import, refused on another
// engine's resource, and checked across options by the engine's CheckOptions, each error on its attribute.
func TestOptionBlocksMappedGenerically(t *testing.T) {
	registerFake(t)
	ctx := context.Background()
	sb := resourceSchema(t, NewSandboxResource())
	plan := tfsdk.Plan{Schema: sb, Raw: sampleValue(sb.Type().TerraformType(ctx), "null", 0, "")}
	origin := types.ObjectValueMust(map[string]attr.Type{"url": types.StringType, "depth": types.Int64Type},
		map[string]attr.Value{"url": types.StringValue("https://example.com"), "depth": types.Int64Null()})
	block := fakeBlock(map[string]attr.Value{"size": types.Int64Value(4), "flavour": types.StringValue("sour"),
		"tags": types.ListValueMust(types.StringType, []attr.Value{types.StringValue("x")}), "origin": origin})
	if d := plan.SetAttribute(ctx, path.Root("fakeengine"), block); d.HasError() {
		t.Fatal(d)
	}
	var m sandboxModel
	if d := getPlan(ctx, plan, &m); d.HasError() {
		t.Fatal(d)
	}
	m.Backend = types.StringValue("fakeengine")
	opts := m.Engines.options("fakeengine")
	wantOpts := map[string]any{"size": int64(4), "flavour": "sour", "tags": []any{"x"}, "origin": map[string]any{"url": "https://example.com"}}
	if !reflect.DeepEqual(opts, wantOpts) {
		t.Fatalf("options %#v, want %#v", opts, wantOpts)
	}
	keys := m.bookkeeping()[bkOptions]
	if !reflect.DeepEqual(keys, []any{"flavour", "origin", "size", "tags"}) {
		t.Fatalf("bookkeeping %v", keys)
	}

	// Written back unchanged.
	st := tfsdk.State{Schema: sb}
	if d := setState(ctx, &st, &m); d.HasError() {
		t.Fatal(d)
	}
	var back types.Object
	if d := st.GetAttribute(ctx, path.Root("fakeengine"), &back); d.HasError() || !back.Equal(block) {
		t.Fatalf("state block %s, want %s (%v)", back, block, d)
	}

	// On import (no prior block) the block comes back from params.fakeengine and the bookkeeping's names, without
	// the engine's metadata that shares the map.
	params := map[string]any{"fakeengine": map[string]any{"size": int64(4), "flavour": "sour", "tags": []any{"x"},
		"origin": map[string]any{"url": "https://example.com"}, "machineId": "m-1"}}
	restored := engineBlocks{}.restore(kindSandbox, "fakeengine", params, map[string]any{bkOptions: keys})
	if !restored["fakeengine"].Equal(block) {
		t.Fatalf("restored %s, want %s", restored["fakeengine"], block)
	}
	if !restored[engines.Default()].IsNull() {
		t.Error("another engine's block was restored")
	}

	// A computed option left unknown by the plan takes what the engine recorded.
	planned := fakeBlock(map[string]attr.Value{"size": types.Int64Value(4), "zone": types.StringUnknown()})
	applied := engineBlocks{"fakeengine": planned}.restore(kindSandbox, "fakeengine", map[string]any{"fakeengine": map[string]any{"size": int64(4), "zone": "z1"}}, nil)
	if got := applied["fakeengine"].Attributes()["zone"]; !got.Equal(types.StringValue("z1")) {
		t.Errorf("computed zone after apply: %s", got)
	}

	var diags diag.Diagnostics
	m.Engines.check(kindSandbox, engines.Default(), types.StringNull(), &diags)
	if !diags.HasError() || !strings.Contains(diagText(diags), "The fakeengine block only applies to backend = \"fakeengine\"") {
		t.Errorf("a fakeengine block on a %s sandbox: %s", engines.Default(), diagText(diags))
	}
	diags = nil
	m.Engines.check(kindSandbox, "fakeengine", types.StringNull(), &diags)
	if len(diags) != 1 || !strings.Contains(diags[0].Detail(), "sour things have no tags") {
		t.Fatalf("CheckOptions: %s", diagText(diags))
	}
	if wp, ok := diags[0].(diag.DiagnosticWithPath); !ok || !wp.Path().Equal(path.Root("fakeengine").AtName("tags")) {
		t.Errorf("CheckOptions: the refusal is not on fakeengine.tags: %v", diags[0])
	}
}

// The engines' checks across options (their descriptors' CheckOptions) run at plan time without credentials:
// a daytona block with both image and snapshot, or a vercel source without its url, is refused on its
// attribute even when the engine is not configured, not only with "Backend not available". Before the checks
// were descriptor data, they ran only inside a configured engine's ValidateSpec.
func TestAccOptionChecksWithoutCredentials(t *testing.T) {
	env := newTestEnv(t)
	for _, v := range []string{"DAYTONA_API_KEY", "DAYTONA_JWT_TOKEN", "VERCEL_TOKEN", "VERCEL_OIDC_TOKEN"} {
		t.Setenv(v, "")
	}
	cfg := fmt.Sprintf("provider \"sandbox\" {\n  sqlite_path = %q\n}\n", env.dbPath)
	for name, c := range map[string]struct{ body, want string }{
		"daytona image and snapshot": {
			"resource \"sandbox_sandbox\" \"s\" {\n  backend = \"daytona\"\n  daytona {\n    image    = \"python:3.12\"\n    snapshot = \"snap\"\n  }\n}\n",
			`(?s)Invalid engine options.*snapshot = "snap".*daytona options image and snapshot are\s+exclusive`},
		"vercel git source without url": {
			"resource \"sandbox_sandbox\" \"s\" {\n  backend = \"vercel\"\n  vercel {\n    source = { type = \"git\" }\n  }\n}\n",
			`(?s)Invalid engine options.*a git source needs an http\(s\) url`},
	} {
		t.Run(name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps:                    []resource.TestStep{{Config: cfg + c.body, PlanOnly: true, ExpectError: regexp.MustCompile(c.want)}},
			})
		})
	}
}

// An option whose value is unknown at plan time (from another resource) leaves the engine's checks across
// options for the apply: with `image` unknown, `cpu` alone is not "cpu without an image". The plan used to
// check the options it knew and refuse this configuration.
func TestAccOptionChecksWaitForUnknownOptions(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	cfg := daytonaHCL(env, fake) + `
resource "terraform_data" "image" {
  input = "python:3.12-slim"
}

resource "sandbox_sandbox" "s" {
  daytona {
    image = terraform_data.image.output
    cpu   = 2
  }
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps:                    []resource.TestStep{{Config: cfg, PlanOnly: true, ExpectNonEmptyPlan: true}},
	})
}
