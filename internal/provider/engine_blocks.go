package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// optionsFromObject turns an engine block into the engine's options map, generically over its attribute types:
// strings, bools, numbers, lists and maps of strings. Null and unknown attributes are left out; nil when the
// block is absent.
func optionsFromObject(obj types.Object) map[string]any {
	if obj.IsNull() || obj.IsUnknown() {
		return nil
	}
	out := map[string]any{}
	for name, v := range obj.Attributes() {
		if v.IsNull() || v.IsUnknown() {
			continue
		}
		switch x := v.(type) {
		case types.String:
			out[name] = x.ValueString()
		case types.Bool:
			out[name] = x.ValueBool()
		case types.Int64:
			out[name] = x.ValueInt64()
		case types.List:
			var l []any
			for _, e := range x.Elements() {
				if s, ok := e.(types.String); ok {
					l = append(l, s.ValueString())
				}
			}
			out[name] = l
		case types.Map:
			m := map[string]any{}
			for k, e := range x.Elements() {
				if s, ok := e.(types.String); ok {
					m[k] = s.ValueString()
				}
			}
			out[name] = m
		case types.Object:
			out[name] = optionsFromObject(x)
		}
	}
	return out
}

// optionsToObject reads an engine's recorded options (params.<engine>) back into its block. Only attributes
// set in the prior value are refreshed: engine metadata shares the map (a sprite's generated name, say) and must
// not appear as a change of an attribute the configuration leaves unset. An absent block stays absent.
func optionsToObject(raw any, attrTypes map[string]attr.Type, prior types.Object) types.Object {
	if prior.IsNull() || prior.IsUnknown() {
		return types.ObjectNull(attrTypes)
	}
	m, _ := raw.(map[string]any)
	vals := map[string]attr.Value{}
	for name, t := range attrTypes {
		p := prior.Attributes()[name]
		if p == nil || p.IsNull() || p.IsUnknown() {
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
