package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

// Engine option blocks, made from the engines' descriptors (backend.EngineDescriptor.Options): for each kind of
// resource, one `<engine> {}` block per registered engine that declares options for it. A model holds them in
// one engineBlocks field (the model codec fills it with the schema's attributes that no other field names), and
// their values go to the engine as a map[string]any (the spec's Options), recorded under params.<engine>.
// Nothing here names an engine.

// engineBlocks are a resource's engine option blocks, by engine name.
type engineBlocks map[string]types.Object

// withOptionBlocks adds to a resource's blocks the engine option blocks of its kind, one per engine that
// declares options for it, named after the engine.
func withOptionBlocks(kind backend.ResourceKind, out map[string]schema.Block) map[string]schema.Block {
	for _, d := range engines.All {
		b, ok := d.Options[kind]
		if !ok {
			continue
		}
		attrs := map[string]schema.Attribute{}
		replace := true
		for _, o := range b.Options {
			attrs[o.Name] = optionAttribute(o, false)
			replace = replace && !o.InPlace && o.InPlaceIf == nil
		}
		modifier := objectplanmodifier.RequiresReplace()
		if !replace {
			modifier = objectplanmodifier.RequiresReplaceIf(blockReplaces(b.Options),
				"Changing an option that is not updated in place, adding or removing the block replaces the resource.",
				"Changing an option that is not updated in place, adding or removing the block replaces the resource.")
		}
		out[d.Name] = schema.SingleNestedBlock{MarkdownDescription: b.Doc, Attributes: attrs, PlanModifiers: []planmodifier.Object{modifier}}
	}
	return out
}

// blockReplaces says whether a change of a block whose options are not all replacing replaces the resource:
// when the block comes or goes, an option that is neither InPlace nor InPlaceIf changes, or an InPlaceIf option
// changes in a way its InPlaceIf refuses (or is set, unset or unknown).
func blockReplaces(opts []backend.Option) objectplanmodifier.RequiresReplaceIfFunc {
	return func(_ context.Context, req planmodifier.ObjectRequest, resp *objectplanmodifier.RequiresReplaceIfFuncResponse) {
		if req.StateValue.IsNull() != req.PlanValue.IsNull() || req.PlanValue.IsUnknown() {
			resp.RequiresReplace = true
			return
		}
		if req.PlanValue.IsNull() {
			return
		}
		for _, o := range opts {
			prior, planned := req.StateValue.Attributes()[o.Name], req.PlanValue.Attributes()[o.Name]
			if o.InPlace || planned.Equal(prior) {
				continue
			}
			if o.InPlaceIf == nil || !inPlaceIf(o, prior, planned) {
				resp.RequiresReplace = true
				return
			}
		}
	}
}

// inPlaceIf asks an InPlaceIf option whether its change from prior to planned is made in place: only between
// two set, known values.
func inPlaceIf(o backend.Option, prior, planned attr.Value) bool {
	p, ok1 := optionValue(prior)
	n, ok2 := optionValue(planned)
	return ok1 && ok2 && o.InPlaceIf(p, n)
}

// optionAttribute is an option's schema attribute: its type, flags, default and the validators of its
// constraints. nested: inside an object option (whose Required applies).
func optionAttribute(o backend.Option, nested bool) schema.Attribute {
	optional := !nested || !o.Required
	switch o.Kind {
	case backend.OptionString:
		a := schema.StringAttribute{MarkdownDescription: o.Doc, Optional: optional, Required: !optional, Computed: o.Computed, Sensitive: o.Sensitive}
		if len(o.OneOf) > 0 {
			a.Validators = append(a.Validators, stringvalidator.OneOf(o.OneOf...))
		}
		if o.Pattern != nil {
			a.Validators = append(a.Validators, stringvalidator.RegexMatches(o.Pattern, o.PatternMessage))
		}
		if o.Check != nil {
			a.Validators = append(a.Validators, optionCheck{o})
		}
		if d, ok := o.Default.(string); ok {
			a.Default = stringdefault.StaticString(d)
		}
		if o.Computed {
			a.PlanModifiers = []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
		}
		return a
	case backend.OptionInt:
		a := schema.Int64Attribute{MarkdownDescription: o.Doc, Optional: optional, Required: !optional, Computed: o.Computed, Sensitive: o.Sensitive}
		switch {
		case o.Min != nil && o.Max != nil:
			a.Validators = append(a.Validators, int64validator.Between(*o.Min, *o.Max))
		case o.Min != nil:
			a.Validators = append(a.Validators, int64validator.AtLeast(*o.Min))
		case o.Max != nil:
			a.Validators = append(a.Validators, int64validator.AtMost(*o.Max))
		}
		if o.Check != nil {
			a.Validators = append(a.Validators, optionCheck{o})
		}
		if d, ok := o.Default.(int64); ok {
			a.Default = int64default.StaticInt64(d)
		}
		if o.Computed {
			a.PlanModifiers = []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}
		}
		return a
	case backend.OptionBool:
		a := schema.BoolAttribute{MarkdownDescription: o.Doc, Optional: optional, Required: !optional, Computed: o.Computed, Sensitive: o.Sensitive}
		if d, ok := o.Default.(bool); ok {
			a.Default = booldefault.StaticBool(d)
		}
		if o.Computed {
			a.PlanModifiers = []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()}
		}
		return a
	case backend.OptionStringList:
		return schema.ListAttribute{MarkdownDescription: o.Doc, Optional: optional, Required: !optional, Computed: o.Computed, Sensitive: o.Sensitive, ElementType: types.StringType}
	case backend.OptionStringMap:
		return schema.MapAttribute{MarkdownDescription: o.Doc, Optional: optional, Required: !optional, Computed: o.Computed, Sensitive: o.Sensitive, ElementType: types.StringType}
	case backend.OptionObject:
		attrs := map[string]schema.Attribute{}
		for _, a := range o.Attributes {
			attrs[a.Name] = optionAttribute(a, true)
		}
		return schema.SingleNestedAttribute{MarkdownDescription: o.Doc, Optional: optional, Required: !optional, Computed: o.Computed, Sensitive: o.Sensitive, Attributes: attrs}
	}
	panic(fmt.Sprintf("option %s: unknown kind %q", o.Name, o.Kind)) // the registry's tests refuse it (OptionBlock.Validate)
}

// optionCheck runs an option's Check at plan time, on its attribute.
type optionCheck struct{ o backend.Option }

func (v optionCheck) Description(context.Context) string             { return v.o.CheckDoc }
func (v optionCheck) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v optionCheck) check(p path.Path, val any, diags *diag.Diagnostics) {
	if err := v.o.Check(val); err != nil {
		diags.AddAttributeError(p, "Invalid "+v.o.Name, err.Error())
	}
}

func (v optionCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if !req.ConfigValue.IsNull() && !req.ConfigValue.IsUnknown() {
		v.check(req.Path, req.ConfigValue.ValueString(), &resp.Diagnostics)
	}
}

func (v optionCheck) ValidateInt64(_ context.Context, req validator.Int64Request, resp *validator.Int64Response) {
	if !req.ConfigValue.IsNull() && !req.ConfigValue.IsUnknown() {
		v.check(req.Path, req.ConfigValue.ValueInt64(), &resp.Diagnostics)
	}
}

// optionTypes are the attribute types of an engine's block on a kind of resource; nil when it has none.
func optionTypes(engine string, kind backend.ResourceKind) map[string]attr.Type {
	d, _ := engines.Lookup(engine)
	b, ok := d.Options[kind]
	if !ok {
		return nil
	}
	return objectTypes(b.Options)
}

func objectTypes(opts []backend.Option) map[string]attr.Type {
	out := make(map[string]attr.Type, len(opts))
	for _, o := range opts {
		switch o.Kind {
		case backend.OptionString:
			out[o.Name] = types.StringType
		case backend.OptionInt:
			out[o.Name] = types.Int64Type
		case backend.OptionBool:
			out[o.Name] = types.BoolType
		case backend.OptionStringList:
			out[o.Name] = types.ListType{ElemType: types.StringType}
		case backend.OptionStringMap:
			out[o.Name] = types.MapType{ElemType: types.StringType}
		case backend.OptionObject:
			out[o.Name] = types.ObjectType{AttrTypes: objectTypes(o.Attributes)}
		}
	}
	return out
}

// resourceDoc is a resource's description: base, then what each engine adds for the kind.
func resourceDoc(kind backend.ResourceKind, base string) string {
	for _, d := range engines.All {
		base += d.ResourceDocs[kind]
	}
	return base
}

// attributeDoc is the description of a resource's own attribute: base, then what each engine adds to it.
//
//nolint:unparam // any kind of resource may have engine sentences; only sandbox attributes have some yet
func attributeDoc(kind backend.ResourceKind, name, base string) string {
	for _, d := range engines.All {
		base += d.AttributeDocs[kind][name]
	}
	return base
}

// options is the engine's block as the engine's options map (nil without a block).
func (b engineBlocks) options(engine string) map[string]any { return optionsFromObject(b[engine]) }

// known reports whether no block holds an unknown value.
func (b engineBlocks) known() bool {
	for _, v := range b {
		if !fullyKnown(v) {
			return false
		}
	}
	return true
}

func fullyKnown(v attr.Value) bool {
	if v.IsUnknown() {
		return false
	}
	if o, ok := v.(types.Object); ok && !o.IsNull() {
		for _, a := range o.Attributes() {
			if !fullyKnown(a) {
				return false
			}
		}
	}
	return true
}

// check refuses a block for an engine other than the resource's, then runs the resource's engine's own checks
// of its block (EngineDescriptor.CheckOptions) once it is known, each refusal on its attribute. setupID is the
// resource's setup_id (null when it has none).
func (b engineBlocks) check(kind backend.ResourceKind, engine string, setupID types.String, diags *diag.Diagnostics) {
	for _, d := range engines.All {
		if block, ok := b[d.Name]; ok && d.Name != engine && !block.IsNull() && !block.IsUnknown() {
			diags.AddAttributeError(path.Root(d.Name), "Block for another engine",
				fmt.Sprintf("The %s block only applies to backend = %q; this %s uses backend = %q.", d.Name, d.Name, kind, engine))
		}
	}
	d, ok := engines.Lookup(engine)
	block := b[engine]
	if !ok || d.CheckOptions == nil || block.IsNull() || !fullyKnown(block) {
		return
	}
	for _, ae := range d.CheckOptions(backend.OptionRequest{Kind: kind, Options: optionsFromObject(block), Setup: !setupID.IsNull()}) {
		diags.AddAttributeError(specErrorPath(engine, &ae), "Invalid engine options", ae.Err.Error())
	}
}

// restore reads the blocks back from a record's params.<engine>: the resource's own engine's block from the
// bookkeeping on import (restoreBlock); blocks of other engines are never set.
func (b engineBlocks) restore(kind backend.ResourceKind, engine string, params, bk map[string]any) engineBlocks {
	out := engineBlocks{}
	for _, d := range engines.All {
		t := optionTypes(d.Name, kind)
		if t == nil {
			continue
		}
		prior, ok := b[d.Name]
		if !ok {
			prior = types.ObjectNull(t)
		}
		if d.Name == engine {
			out[d.Name] = restoreBlock(params[d.Name], bk, t, prior)
		} else {
			out[d.Name] = optionsToObject(params[d.Name], t, prior)
		}
	}
	return out
}

// optionsFromObject turns an engine block into the engine's options map, generically over its attribute types:
// strings, bools, numbers, lists and maps of strings. Null and unknown attributes are left out; nil when the
// block is absent.
func optionsFromObject(obj types.Object) map[string]any {
	if obj.IsNull() || obj.IsUnknown() {
		return nil
	}
	out := map[string]any{}
	for name, v := range obj.Attributes() {
		if x, ok := optionValue(v); ok {
			out[name] = x
		}
	}
	return out
}

// optionValue is one attribute of an engine block as the engine's options map holds it; false when it is null,
// unknown or of no option kind.
func optionValue(v attr.Value) (any, bool) {
	if v == nil || v.IsNull() || v.IsUnknown() {
		return nil, false
	}
	switch x := v.(type) {
	case types.String:
		return x.ValueString(), true
	case types.Bool:
		return x.ValueBool(), true
	case types.Int64:
		return x.ValueInt64(), true
	case types.List:
		var l []any
		for _, e := range x.Elements() {
			if s, ok := e.(types.String); ok {
				l = append(l, s.ValueString())
			}
		}
		return l, true
	case types.Map:
		m := map[string]any{}
		for k, e := range x.Elements() {
			if s, ok := e.(types.String); ok {
				m[k] = s.ValueString()
			}
		}
		return m, true
	case types.Object:
		return optionsFromObject(x), true
	}
	return nil, false
}

// optionsToObject reads an engine's recorded options (params.<engine>) back into its block. Only attributes
// set in the prior value, or unknown there (computed), are refreshed: engine metadata shares the map (a sprite's generated name, say) and must
// not appear as a change of an attribute the configuration leaves unset. An absent block stays absent.
func optionsToObject(raw any, attrTypes map[string]attr.Type, prior types.Object) types.Object {
	if prior.IsNull() || prior.IsUnknown() {
		return types.ObjectNull(attrTypes)
	}
	m, _ := raw.(map[string]any)
	vals := map[string]attr.Value{}
	for name, t := range attrTypes {
		p := prior.Attributes()[name]
		if p != nil && p.IsUnknown() { // a computed option the configuration left to the engine: what it recorded
			v, present := m[name]
			vals[name] = attrValue(t, v, present)
			continue
		}
		if p == nil || p.IsNull() {
			vals[name] = attrValue(t, nil, false)
			continue
		}
		v, present := m[name]
		if !present {
			vals[name] = p
			continue
		}
		vals[name] = attrValue(t, v, true)
	}
	return types.ObjectValueMust(attrTypes, vals)
}

func attrValue(t attr.Type, v any, present bool) attr.Value {
	switch t {
	case types.StringType:
		if s, ok := v.(string); ok && present {
			return types.StringValue(s)
		}
		return types.StringNull()
	case types.BoolType:
		if b, ok := v.(bool); ok && present {
			return types.BoolValue(b)
		}
		return types.BoolNull()
	case types.Int64Type:
		if n, ok := backend.AsInt(v); ok && present {
			return types.Int64Value(n)
		}
		return types.Int64Null()
	}
	if lt, ok := t.(types.ListType); ok {
		raw, _ := v.([]any)
		if !present || raw == nil {
			return types.ListNull(lt.ElemType)
		}
		out := make([]attr.Value, 0, len(raw))
		for _, e := range raw {
			s, _ := e.(string)
			out = append(out, types.StringValue(s))
		}
		return types.ListValueMust(lt.ElemType, out)
	}
	if ot, ok := t.(types.ObjectType); ok {
		raw, _ := v.(map[string]any)
		if !present || raw == nil {
			return types.ObjectNull(ot.AttrTypes)
		}
		vals := map[string]attr.Value{}
		for name, et := range ot.AttrTypes {
			ev, ok := raw[name]
			vals[name] = attrValue(et, ev, ok)
		}
		return types.ObjectValueMust(ot.AttrTypes, vals)
	}
	if mt, ok := t.(types.MapType); ok {
		raw, _ := v.(map[string]any)
		if !present || raw == nil {
			return types.MapNull(mt.ElemType)
		}
		out := map[string]attr.Value{}
		for k, e := range raw {
			s, _ := e.(string)
			out[k] = types.StringValue(s)
		}
		return types.MapValueMust(mt.ElemType, out)
	}
	return nil
}
