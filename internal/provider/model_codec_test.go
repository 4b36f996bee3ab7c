package provider

import (
	"context"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
)

// sampleValue builds a value of type t: mode "null" (the object's attributes null), "unknown" (its attributes
// unknown), "full" (every attribute set, collections with two elements, nested objects set). str is the value
// of every string.
func sampleValue(t tftypes.Type, mode string, depth int, str string) tftypes.Value {
	leaf := func() tftypes.Value {
		if depth > 0 && mode == "null" {
			return tftypes.NewValue(t, nil)
		}
		if depth > 0 && mode == "unknown" {
			return tftypes.NewValue(t, tftypes.UnknownValue)
		}
		return tftypes.Value{}
	}
	if v := leaf(); v.Type() != nil {
		return v
	}
	switch tt := t.(type) {
	case tftypes.List:
		et := tt.ElementType
		return tftypes.NewValue(t, []tftypes.Value{sampleValue(et, "full", depth+1, str), sampleValue(et, "full", depth+1, str)})
	case tftypes.Set:
		et := tt.ElementType
		return tftypes.NewValue(t, []tftypes.Value{sampleValue(et, "full", depth+1, str)})
	case tftypes.Map:
		et := tt.ElementType
		return tftypes.NewValue(t, map[string]tftypes.Value{"a": sampleValue(et, "full", depth+1, str), "b": sampleValue(et, "full", depth+1, str)})
	case tftypes.Object:
		ot := tt
		m := map[string]tftypes.Value{}
		for name, at := range ot.AttributeTypes {
			m[name] = sampleValue(at, mode, depth+1, str)
			if mode == "full" {
				m[name] = sampleValue(at, "full", depth+1, str)
			}
		}
		return tftypes.NewValue(t, m)
	}
	switch {
	case t.Is(tftypes.String):
		return tftypes.NewValue(t, str)
	case t.Is(tftypes.Number):
		return tftypes.NewValue(t, big.NewFloat(2))
	case t.Is(tftypes.Bool):
		return tftypes.NewValue(t, true)
	}
	panic(fmt.Sprintf("no sample for %s", t))
}

func sandboxSchema(t testing.TB) schema.Schema {
	t.Helper()
	var resp resource.SchemaResponse
	NewSandboxResource().Schema(context.Background(), resource.SchemaRequest{}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatal(resp.Diagnostics)
	}
	return resp.Schema
}

func diagSummaries(d diag.Diagnostics) []string {
	var out []string
	for _, x := range d {
		out = append(out, x.Severity().String()+": "+x.Summary())
	}
	sort.Strings(out)
	return out
}

// The codec reads and writes exactly what the framework's reflection does, for every shape of value of the
// sandbox_sandbox schema: a config of nulls, a plan of unknowns, a full state; and with a params value that is
// not JSON, the same error.
func TestModelCodecMatchesFramework(t *testing.T) {
	ctx := context.Background()
	s := sandboxSchema(t)
	typ := s.Type().TerraformType(ctx)
	cases := map[string]tftypes.Value{
		"nulls":    sampleValue(typ, "null", 0, `{"a":1}`),
		"unknowns": sampleValue(typ, "unknown", 0, `{"a":1}`),
		"full":     sampleValue(typ, "full", 0, `{"a":1}`),
		"bad json": sampleValue(typ, "full", 0, `not json`),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			var viaFramework, viaCodec sandboxModel
			plan := tfsdk.Plan{Schema: s, Raw: raw}
			fd := frameworkGet(s, &viaFramework, func(t any) diag.Diagnostics { return plan.Get(ctx, t) })
			if codecFor(ctx, reflect.TypeOf(viaCodec), s) == nil {
				t.Fatal("no codec for sandboxModel: the framework's reflection would serve every call")
			}
			cd := getPlan(ctx, tfsdk.Plan{Schema: s, Raw: raw}, &viaCodec)
			if got, want := diagSummaries(cd), diagSummaries(fd); !reflect.DeepEqual(got, want) {
				t.Fatalf("diagnostics: codec %v, framework %v", got, want)
			}
			if fd.HasError() != (name == "bad json") {
				t.Fatalf("framework diagnostics %v", fd)
			}
			if fd.HasError() {
				return
			}
			rf, rc := reflect.ValueOf(viaFramework), reflect.ValueOf(viaCodec)
			for i := 0; i < rf.NumField(); i++ {
				if fb, ok := rf.Field(i).Interface().(engineBlocks); ok {
					cb, _ := rc.Field(i).Interface().(engineBlocks)
					if len(fb) != len(engines.All) || len(cb) != len(fb) {
						t.Errorf("engine blocks: codec %d, framework %d, engines %d", len(cb), len(fb), len(engines.All))
					}
					for name, a := range fb {
						if !a.Equal(cb[name]) {
							t.Errorf("engine block %s: codec %s, framework %s", name, cb[name], a)
						}
					}
					continue
				}
				a, aok := rf.Field(i).Interface().(attr.Value)
				b, bok := rc.Field(i).Interface().(attr.Value)
				if !aok || !bok || !a.Equal(b) || reflect.TypeOf(a) != reflect.TypeOf(b) {
					t.Errorf("%s: codec %s, framework %s", rf.Type().Field(i).Name, b, a)
				}
			}
			st1, st2 := tfsdk.State{Schema: s}, tfsdk.State{Schema: s}
			if d := frameworkSet(ctx, s, &viaFramework, func(v any) diag.Diagnostics { return st1.Set(ctx, v) }); d.HasError() {
				t.Fatal(d)
			}
			if d := setState(ctx, &st2, &viaCodec); d.HasError() {
				t.Fatal(d)
			}
			if !st1.Raw.Equal(st2.Raw) {
				t.Fatalf("set: codec %s\nframework %s", st2.Raw, st1.Raw)
			}
			if !st2.Raw.Equal(raw) {
				t.Fatalf("set after get does not give back the value read:\n%s\n%s", st2.Raw, raw)
			}
			p := tfsdk.Plan{Schema: s}
			if d := setPlan(ctx, &p, &viaCodec); d.HasError() || !p.Raw.Equal(raw) {
				t.Fatalf("setPlan: %v %s", d, p.Raw)
			}
			var fromConfig, fromState sandboxModel
			if d := getConfig(ctx, tfsdk.Config{Schema: s, Raw: raw}, &fromConfig); d.HasError() || !reflect.DeepEqual(fromConfig, viaCodec) {
				t.Fatalf("getConfig differs from getPlan: %v", d)
			}
			if d := getState(ctx, tfsdk.State{Schema: s, Raw: raw}, &fromState); d.HasError() || !reflect.DeepEqual(fromState, viaCodec) {
				t.Fatalf("getState differs from getPlan: %v", d)
			}
		})
	}
}

// A value of the wrong type is refused as the framework refuses it (the codec hands it to the framework).
func TestModelCodecWrongTypeFallsBack(t *testing.T) {
	ctx := context.Background()
	s := sandboxSchema(t)
	var m sandboxModel
	if d := getPlan(ctx, tfsdk.Plan{Schema: s, Raw: sampleValue(s.Type().TerraformType(ctx), "null", 0, "")}, &m); d.HasError() {
		t.Fatal(d)
	}
	m.Ports = types.ListValueMust(types.StringType, []attr.Value{types.StringValue("80")}) // schema: list of number
	var st tfsdk.State
	st.Schema = s
	d := setState(ctx, &st, &m)
	if !d.HasError() {
		t.Fatalf("a list of strings for a list of numbers was written: %s", st.Raw)
	}
	want := frameworkSet(ctx, s, &m, func(v any) diag.Diagnostics { return (&tfsdk.State{Schema: s}).Set(ctx, v) })
	if !reflect.DeepEqual(diagSummaries(d), diagSummaries(want)) {
		t.Fatalf("codec %v, framework %v", diagSummaries(d), diagSummaries(want))
	}

	// A model that is not the schema's: the framework's error.
	type other struct {
		ID types.String `tfsdk:"id"`
	}
	var o other
	d = getPlan(ctx, tfsdk.Plan{Schema: s, Raw: sampleValue(s.Type().TerraformType(ctx), "null", 0, "")}, &o)
	if !d.HasError() {
		t.Fatal("a one-field model read a 27-attribute object")
	}
}

// BenchmarkModelGetSet: a plan read and a state written, by the framework's reflection and by the codec.
func BenchmarkModelGetSet(b *testing.B) {
	ctx := context.Background()
	s := sandboxSchema(b)
	raw := sampleValue(s.Type().TerraformType(ctx), "full", 0, `{"a":1}`)
	b.Run("framework", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var m sandboxModel
			plan := tfsdk.Plan{Schema: s, Raw: raw}
			if d := frameworkGet(s, &m, func(t any) diag.Diagnostics { return plan.Get(ctx, t) }); d.HasError() {
				b.Fatal(d)
			}
			st := tfsdk.State{Schema: s}
			if d := frameworkSet(ctx, s, &m, func(v any) diag.Diagnostics { return st.Set(ctx, v) }); d.HasError() {
				b.Fatal(d)
			}
		}
	})
	b.Run("codec", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var m sandboxModel
			if d := getPlan(ctx, tfsdk.Plan{Schema: s, Raw: raw}, &m); d.HasError() {
				b.Fatal(d)
			}
			st := tfsdk.State{Schema: s}
			if d := setState(ctx, &st, &m); d.HasError() {
				b.Fatal(d)
			}
		}
	})
}
