package provider

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/attr/xattr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
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
	c := &modelCodec{obj: obj}
	seen := map[string]bool{}
	for i := 0; i < model.NumField(); i++ {
		sf := model.Field(i)
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
	if len(c.fields) != len(types) || len(obj.AttributeTypes) != len(types) {
		return nil, fmt.Errorf("%s has %d attribute fields, the schema %d attributes", model, len(c.fields), len(types))
	}
	return c, nil
}

// decode reads raw (an object of the codec's schema) into the struct dst points to. ok is false when the codec
// cannot (the framework must), with no diagnostics.
func (c *modelCodec) decode(ctx context.Context, raw tftypes.Value, dst reflect.Value) (diags diag.Diagnostics, ok bool) {
	if raw.IsNull() || !raw.IsKnown() {
		return nil, false
	}
	var vals map[string]tftypes.Value
	if err := raw.As(&vals); err != nil || len(vals) != len(c.fields) {
		return nil, false
	}
	out := reflect.New(dst.Type()).Elem()
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
	return tftypes.NewValue(c.obj, vals), diags, true
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

// getModel reads raw into *dst through the codec, or through fallback (the framework's Get) when the codec
// cannot.
func getModel[T any](ctx context.Context, s schemaTyper, raw tftypes.Value, dst *T, fallback func() diag.Diagnostics) diag.Diagnostics {
	rv := reflect.ValueOf(dst).Elem()
	if c := codecFor(ctx, rv.Type(), s); c != nil {
		if diags, ok := c.decode(ctx, raw, rv); ok {
			return diags
		}
	}
	return fallback()
}

// getPlan is req.Plan.Get(ctx, dst) without the framework's reflection.
func getPlan[T any](ctx context.Context, p tfsdk.Plan, dst *T) diag.Diagnostics {
	return getModel(ctx, p.Schema, p.Raw, dst, func() diag.Diagnostics { return p.Get(ctx, dst) })
}

// getState is req.State.Get(ctx, dst) without the framework's reflection.
func getState[T any](ctx context.Context, s tfsdk.State, dst *T) diag.Diagnostics {
	return getModel(ctx, s.Schema, s.Raw, dst, func() diag.Diagnostics { return s.Get(ctx, dst) })
}

// getConfig is req.Config.Get(ctx, dst) without the framework's reflection.
func getConfig[T any](ctx context.Context, c tfsdk.Config, dst *T) diag.Diagnostics {
	return getModel(ctx, c.Schema, c.Raw, dst, func() diag.Diagnostics { return c.Get(ctx, dst) })
}

// setState is resp.State.Set(ctx, src) without the framework's reflection.
func setState[T any](ctx context.Context, s *tfsdk.State, src *T) diag.Diagnostics {
	rv := reflect.ValueOf(src).Elem()
	if c := codecFor(ctx, rv.Type(), s.Schema); c != nil {
		if v, diags, ok := c.encode(ctx, rv); ok {
			if !diags.HasError() {
				s.Raw = v
			}
			return diags
		}
	}
	return s.Set(ctx, src)
}

// setPlan is resp.Plan.Set(ctx, src) without the framework's reflection.
func setPlan[T any](ctx context.Context, p *tfsdk.Plan, src *T) diag.Diagnostics {
	rv := reflect.ValueOf(src).Elem()
	if c := codecFor(ctx, rv.Type(), p.Schema); c != nil {
		if v, diags, ok := c.encode(ctx, rv); ok {
			if !diags.HasError() {
				p.Raw = v
			}
			return diags
		}
	}
	return p.Set(ctx, src)
}
