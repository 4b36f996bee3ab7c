package provider

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/attr/xattr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// The model codec reads a whole plan, state or configuration into a resource's model struct, and writes a model
// back, without the framework's reflection: for a 27-field model like sandbox_sandbox's, tfsdk's Get and Set
// were about a third of the provider's own CPU in an apply (terraform-plugin-framework v1.19 compiles a regular
// expression for every struct field on every Get and Set, in internal/reflect's isValidFieldName, and Set
// converts every value twice). The codec does what they do for a struct whose fields are all attr.Value types
// with tfsdk tags, the fields worked out once per model type:
//
//   - get: each top-level attribute through its schema type's ValueFromTerraform, with the same validation
//     (xattr.ValidateableAttribute, xattr.TypeWithValidate) and the same refusal of a missing or extra field;
//   - set: each field's ToTerraformValue, checked against the schema's type for that attribute, into one
//     object of the schema's type (and the same validation).
//
// A model whose fields are not all attr.Value types, or that does not match the schema attribute for
// attribute, and any value whose type is not the schema's, goes through the framework's Get/Set instead, so
// the codec never changes what a resource reads or writes (TestModelCodecMatchesFramework).

// schemaTyper is what tfsdk's Config, Plan and State hold as their Schema (the framework's fwschema.Schema).
type schemaTyper interface {
	Type() attr.Type
}

type codecField struct {
	name  string
	index int
	typ   attr.Type
	tf    tftypes.Type
	rtyp  reflect.Type // the Go type the field holds
}

type modelCodec struct {
	obj    tftypes.Object
	fields []codecField
	// blocks are the engine option blocks, read into and written from the model's engineBlocks field (its
	// index blocksAt; -1 = the model has none): the schema's attributes that no other field names.
	blocks   []codecField
	blocksAt int
}

type codecKey struct {
	model reflect.Type
	obj   string // the schema's Terraform type, as a string: one codec per (model, schema) pair
}

// schemaID identifies a schema value by its attribute and block maps: the framework builds a resource's
// schema once per process and hands the same one with every request, so this spares rebuilding the schema's
// type (fwschema.SchemaType, a tenth of a Get and Set) on every call. The entry keeps the schema, so that its
// maps' addresses are never reused by another while the entry exists.
type schemaID struct {
	model         reflect.Type
	attrs, blocks uintptr
}

type schemaEntry struct {
	schema schemaTyper // kept alive: see schemaID
	codec  *modelCodec // nil: the framework's reflection serves this pair
}

var (
	codecMu sync.RWMutex
	// bySchema are the codecs (or nil) of the schemas seen, by identity.
	bySchema = map[schemaID]schemaEntry{}
	// byKey are the codecs by model and schema type, for schemas without an identity.
	byKey = map[codecKey]*modelCodec{}
	// noCodec are the models the codec cannot handle (a field that is not an attr.Value, a mismatch with the
	// schema): the framework's reflection serves them.
	noCodec = map[codecKey]bool{}
)

var attrValueType = reflect.TypeOf((*attr.Value)(nil)).Elem()

// identify returns the identity of a schema value (a struct with Attributes and Blocks maps, as every schema of
// the framework is), or false.
func identify(model reflect.Type, s schemaTyper) (schemaID, bool) {
	rv := reflect.ValueOf(s)
	if rv.Kind() != reflect.Struct {
		return schemaID{}, false
	}
	a, b := rv.FieldByName("Attributes"), rv.FieldByName("Blocks")
	if !a.IsValid() || a.Kind() != reflect.Map || a.IsNil() {
		return schemaID{}, false
	}
	id := schemaID{model: model, attrs: a.Pointer()}
	if b.IsValid() && b.Kind() == reflect.Map {
		id.blocks = b.Pointer()
	}
	return id, true
}

// codecFor returns the codec of the model type for the schema, or nil when the framework must do the work.
func codecFor(ctx context.Context, model reflect.Type, s schemaTyper) *modelCodec {
	if s == nil {
		return nil
	}
	id, identified := identify(model, s)
	if identified {
		codecMu.RLock()
		e, ok := bySchema[id]
		codecMu.RUnlock()
		if ok {
			return e.codec
		}
	}
	c := buildCodec(ctx, model, s)
	if identified {
		codecMu.Lock()
		bySchema[id] = schemaEntry{schema: s, codec: c}
		codecMu.Unlock()
	}
	return c
}

func buildCodec(ctx context.Context, model reflect.Type, s schemaTyper) *modelCodec {
	st := s.Type()
	if st == nil {
		return nil
	}
	obj, ok := st.TerraformType(ctx).(tftypes.Object)
	if !ok {
		return nil
	}
	key := codecKey{model: model, obj: obj.String()}
	codecMu.Lock()
	defer codecMu.Unlock()
	if noCodec[key] {
		return nil
	}
	if c := byKey[key]; c != nil {
		return c
	}
	c, err := newModelCodec(model, st, obj)
	if err != nil {
		noCodec[key] = true
		return nil
	}
	byKey[key] = c
	return c
}

func newModelCodec(model reflect.Type, st attr.Type, obj tftypes.Object) (*modelCodec, error) {
	if model.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct", model)
	}
	at, ok := st.(attr.TypeWithAttributeTypes)
	if !ok {
		return nil, fmt.Errorf("schema type %T has no attribute types", st)
	}
	types := at.AttributeTypes()
	c := &modelCodec{obj: obj, blocksAt: -1}
	seen := map[string]bool{}
	for i := 0; i < model.NumField(); i++ {
		sf := model.Field(i)
		if sf.Type == engineBlocksType {
			c.blocksAt = i
			continue
		}
		tag := sf.Tag.Get("tfsdk")
		if tag == "-" {
			continue
		}
		if tag == "" || !sf.IsExported() || sf.Anonymous {
			return nil, fmt.Errorf("%s.%s: no tfsdk tag, unexported or embedded", model, sf.Name)
		}
		if !sf.Type.Implements(attrValueType) || sf.Type.Kind() == reflect.Interface {
			return nil, fmt.Errorf("%s.%s: %s is not a concrete attr.Value type", model, sf.Name, sf.Type)
		}
		t, ok := types[tag]
		if !ok || seen[tag] {
			return nil, fmt.Errorf("%s.%s: attribute %q not in the schema, or twice in the model", model, sf.Name, tag)
		}
		seen[tag] = true
		tf, ok := obj.AttributeTypes[tag]
		if !ok {
			return nil, fmt.Errorf("attribute %q not in the schema's Terraform type", tag)
		}
		c.fields = append(c.fields, codecField{name: tag, index: i, typ: t, tf: tf, rtyp: sf.Type})
	}
	for _, name := range blockNames(model, st) {
		if _, isObject := types[name].(basetypes.ObjectType); !isObject || c.blocksAt < 0 {
			return nil, fmt.Errorf("%s: attribute %q is not in the model", model, name)
		}
		c.blocks = append(c.blocks, codecField{name: name, typ: types[name], tf: obj.AttributeTypes[name], rtyp: objectValueType})
	}
	if len(c.fields)+len(c.blocks) != len(types) || len(obj.AttributeTypes) != len(types) {
		return nil, fmt.Errorf("%s has %d attribute fields, the schema %d attributes", model, len(c.fields), len(types))
	}
	return c, nil
}

var (
	engineBlocksType = reflect.TypeOf(engineBlocks(nil))
	objectValueType  = reflect.TypeOf(basetypes.ObjectValue{})
)

// blockNames are the schema's attributes that no field of the model names (sorted): for a model with an
// engineBlocks field, its engine option blocks.
func blockNames(model reflect.Type, st attr.Type) []string {
	at, ok := st.(attr.TypeWithAttributeTypes)
	if !ok {
		return nil
	}
	named := map[string]bool{}
	for i := 0; i < model.NumField(); i++ {
		named[model.Field(i).Tag.Get("tfsdk")] = true
	}
	var out []string
	for name := range at.AttributeTypes() {
		if !named[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// decode reads raw (an object of the codec's schema) into the struct dst points to. ok is false when the codec
// cannot (the framework must), with no diagnostics.
func (c *modelCodec) decode(ctx context.Context, raw tftypes.Value, dst reflect.Value) (diags diag.Diagnostics, ok bool) {
	if raw.IsNull() || !raw.IsKnown() {
		return nil, false
	}
	var vals map[string]tftypes.Value
	if err := raw.As(&vals); err != nil || len(vals) != len(c.fields)+len(c.blocks) {
		return nil, false
	}
	out := reflect.New(dst.Type()).Elem()
	if c.blocksAt >= 0 {
		blocks := make(engineBlocks, len(c.blocks))
		for _, f := range c.blocks {
			tv, found := vals[f.name]
			if !found {
				return nil, false
			}
			v, err := f.typ.ValueFromTerraform(ctx, tv)
			obj, isObject := v.(basetypes.ObjectValue)
			if err != nil || !isObject {
				return nil, false
			}
			if d := validateValue(ctx, f.typ, v, tv, path.Root(f.name)); d.HasError() {
				return d, true
			}
			blocks[f.name] = obj
		}
		out.Field(c.blocksAt).Set(reflect.ValueOf(blocks))
	}
	for _, f := range c.fields {
		tv, found := vals[f.name]
		if !found {
			return nil, false
		}
		v, err := f.typ.ValueFromTerraform(ctx, tv)
		if err != nil || v == nil || reflect.TypeOf(v) != f.rtyp {
			return nil, false
		}
		if d := validateValue(ctx, f.typ, v, tv, path.Root(f.name)); d.HasError() {
			return d, true
		} else {
			diags.Append(d...)
		}
		out.Field(f.index).Set(reflect.ValueOf(v))
	}
	dst.Set(out)
	return diags, true
}

// encode writes the struct src into an object of the codec's schema. ok is false when the codec cannot (a value
// whose type is not the schema's: the framework then reports it as it always did).
func (c *modelCodec) encode(ctx context.Context, src reflect.Value) (v tftypes.Value, diags diag.Diagnostics, ok bool) {
	vals := make(map[string]tftypes.Value, len(c.fields))
	for _, f := range c.fields {
		av, isVal := src.Field(f.index).Interface().(attr.Value)
		if !isVal || av == nil {
			return v, nil, false
		}
		tv, err := av.ToTerraformValue(ctx)
		if err != nil || !tv.Type().Equal(f.tf) {
			return v, nil, false
		}
		if d := validateValue(ctx, f.typ, av, tv, path.Root(f.name)); d.HasError() {
			return v, d, true
		} else {
			diags.Append(d...)
		}
		vals[f.name] = tv
	}
	if c.blocksAt >= 0 {
		blocks, _ := src.Field(c.blocksAt).Interface().(engineBlocks)
		for _, f := range c.blocks {
			tv, err := blockValue(ctx, blocks, f.name, f.typ).ToTerraformValue(ctx)
			if err != nil || !tv.Type().Equal(f.tf) {
				return v, nil, false
			}
			vals[f.name] = tv
		}
	}
	return tftypes.NewValue(c.obj, vals), diags, true
}

// blockValue is the model's value of an engine block: null when the model has none.
func blockValue(ctx context.Context, blocks engineBlocks, name string, t attr.Type) basetypes.ObjectValue {
	if v, ok := blocks[name]; ok && (len(v.AttributeTypes(ctx)) > 0 || !v.IsNull()) {
		return v
	}
	ot, _ := t.(basetypes.ObjectType)
	return types.ObjectNull(ot.AttrTypes)
}

// validateValue runs the value's own validation, as the framework's reflection does on Get and Set.
func validateValue(ctx context.Context, typ attr.Type, v attr.Value, tv tftypes.Value, p path.Path) diag.Diagnostics {
	switch t := v.(type) {
	case xattr.ValidateableAttribute:
		resp := xattr.ValidateAttributeResponse{}
		t.ValidateAttribute(ctx, xattr.ValidateAttributeRequest{Path: p}, &resp)
		return resp.Diagnostics
	default:
		//nolint:staticcheck // xattr.TypeWithValidate is deprecated, but the framework still runs it.
		if tv2, ok := typ.(xattr.TypeWithValidate); ok {
			return tv2.Validate(ctx, tv, p)
		}
	}
	return nil
}

// getModel reads raw into *dst through the codec, or through get (the framework's Get) when the codec
// cannot.
func getModel[T any](ctx context.Context, s schemaTyper, raw tftypes.Value, dst *T, get func(target any) diag.Diagnostics) diag.Diagnostics {
	rv := reflect.ValueOf(dst).Elem()
	if c := codecFor(ctx, rv.Type(), s); c != nil {
		if diags, ok := c.decode(ctx, raw, rv); ok {
			return diags
		}
	}
	return frameworkGet(s, dst, get)
}

// frameworkGet reads into *dst by the framework's reflection (get). A model with engine blocks is read through
// a struct with one field per attribute: the model's, and the engine blocks as fields of their own
// (frameworkShape).
func frameworkGet[T any](s schemaTyper, dst *T, get func(target any) diag.Diagnostics) diag.Diagnostics {
	rv := reflect.ValueOf(dst).Elem()
	if s == nil || !hasEngineBlocks(rv.Type()) {
		return get(dst)
	}
	shape, blocks := frameworkShape(rv.Type(), s.Type())
	tmp := reflect.New(shape)
	diags := get(tmp.Interface())
	if diags.HasError() {
		return diags
	}
	out := reflect.New(rv.Type()).Elem()
	i, at := 0, 0
	for j := 0; j < rv.NumField(); j++ {
		if rv.Type().Field(j).Type == engineBlocksType {
			at = j
			continue
		}
		out.Field(j).Set(tmp.Elem().Field(i))
		i++
	}
	m := engineBlocks{}
	for k, name := range blocks {
		m[name], _ = tmp.Elem().Field(i + k).Interface().(basetypes.ObjectValue)
	}
	out.Field(at).Set(reflect.ValueOf(m))
	rv.Set(out)
	return diags
}

// setModel writes *src through the codec into *raw, or through set (the framework's Set) when the codec
// cannot.
func setModel[T any](ctx context.Context, s schemaTyper, raw *tftypes.Value, src *T, set func(source any) diag.Diagnostics) diag.Diagnostics {
	rv := reflect.ValueOf(src).Elem()
	if c := codecFor(ctx, rv.Type(), s); c != nil {
		if v, diags, ok := c.encode(ctx, rv); ok {
			if !diags.HasError() {
				*raw = v
			}
			return diags
		}
	}
	return frameworkSet(ctx, s, src, set)
}

// frameworkSet writes *src by the framework's reflection (set), through frameworkShape for a model with engine
// blocks.
func frameworkSet[T any](ctx context.Context, s schemaTyper, src *T, set func(source any) diag.Diagnostics) diag.Diagnostics {
	rv := reflect.ValueOf(src).Elem()
	if s == nil || !hasEngineBlocks(rv.Type()) {
		return set(src)
	}
	shape, blocks := frameworkShape(rv.Type(), s.Type())
	tmp := reflect.New(shape).Elem()
	var m engineBlocks
	var types_ map[string]attr.Type
	if at, ok := s.Type().(attr.TypeWithAttributeTypes); ok {
		types_ = at.AttributeTypes()
	}
	i := 0
	for j := 0; j < rv.NumField(); j++ {
		if rv.Type().Field(j).Type == engineBlocksType {
			m, _ = rv.Field(j).Interface().(engineBlocks)
			continue
		}
		tmp.Field(i).Set(rv.Field(j))
		i++
	}
	for k, name := range blocks {
		tmp.Field(i + k).Set(reflect.ValueOf(blockValue(ctx, m, name, types_[name])))
	}
	return set(tmp.Addr().Interface())
}

// hasEngineBlocks reports whether the model holds engine blocks (an engineBlocks field).
func hasEngineBlocks(model reflect.Type) bool {
	for i := 0; i < model.NumField(); i++ {
		if model.Field(i).Type == engineBlocksType {
			return true
		}
	}
	return false
}

// frameworkShape is the struct the framework's reflection reads and writes for a model with engine blocks: the
// model's other fields in order, then one types.Object field per block (blocks, sorted).
func frameworkShape(model reflect.Type, st attr.Type) (reflect.Type, []string) {
	var fields []reflect.StructField
	for i := 0; i < model.NumField(); i++ {
		if f := model.Field(i); f.Type != engineBlocksType {
			fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
		}
	}
	blocks := blockNames(model, st)
	for k, name := range blocks {
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("Block%d", k), Type: objectValueType, Tag: reflect.StructTag(`tfsdk:"` + name + `"`)})
	}
	return reflect.StructOf(fields), blocks
}

// getPlan is req.Plan.Get(ctx, dst) without the framework's reflection.
func getPlan[T any](ctx context.Context, p tfsdk.Plan, dst *T) diag.Diagnostics {
	return getModel(ctx, p.Schema, p.Raw, dst, func(t any) diag.Diagnostics { return p.Get(ctx, t) })
}

// getState is req.State.Get(ctx, dst) without the framework's reflection.
func getState[T any](ctx context.Context, s tfsdk.State, dst *T) diag.Diagnostics {
	return getModel(ctx, s.Schema, s.Raw, dst, func(t any) diag.Diagnostics { return s.Get(ctx, t) })
}

// getConfig is req.Config.Get(ctx, dst) without the framework's reflection.
func getConfig[T any](ctx context.Context, c tfsdk.Config, dst *T) diag.Diagnostics {
	return getModel(ctx, c.Schema, c.Raw, dst, func(t any) diag.Diagnostics { return c.Get(ctx, t) })
}

// getResource is r.Get(ctx, dst) (a list result's resource object) without the framework's reflection.
func getResource[T any](ctx context.Context, r *tfsdk.Resource, dst *T) diag.Diagnostics {
	return getModel(ctx, r.Schema, r.Raw, dst, func(t any) diag.Diagnostics { return r.Get(ctx, t) })
}

// setState is resp.State.Set(ctx, src) without the framework's reflection.
func setState[T any](ctx context.Context, s *tfsdk.State, src *T) diag.Diagnostics {
	return setModel(ctx, s.Schema, &s.Raw, src, func(v any) diag.Diagnostics { return s.Set(ctx, v) })
}

// setPlan is resp.Plan.Set(ctx, src) without the framework's reflection.
func setPlan[T any](ctx context.Context, p *tfsdk.Plan, src *T) diag.Diagnostics {
	return setModel(ctx, p.Schema, &p.Raw, src, func(v any) diag.Diagnostics { return p.Set(ctx, v) })
}

// setResource is r.Set(ctx, src) without the framework's reflection.
func setResource[T any](ctx context.Context, r *tfsdk.Resource, src *T) diag.Diagnostics {
	return setModel(ctx, r.Schema, &r.Raw, src, func(v any) diag.Diagnostics { return r.Set(ctx, v) })
}
