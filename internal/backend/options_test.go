package backend

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// A descriptor's mistakes in an option block are found (by the registry's test, for every engine).
func TestOptionBlockValidate(t *testing.T) {
	good := Option{Name: "size", Kind: OptionInt, Doc: "The size.", Min: Bound(1)}
	cases := map[string]struct {
		block OptionBlock
		want  string
	}{
		"fine":            {OptionBlock{Doc: "Options.", Options: []Option{good}}, ""},
		"no block doc":    {OptionBlock{Options: []Option{good}}, "no Doc"},
		"repeated name":   {OptionBlock{Doc: "d", Options: []Option{good, good}}, "repeated"},
		"no option doc":   {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: OptionBool}}}, "has no Doc"},
		"min on a string": {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: OptionString, Doc: "x", Min: Bound(1)}}}, "Min and Max"},
		"one of an int":   {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: OptionInt, Doc: "x", OneOf: []string{"a"}}}}, "OneOf"},
		"pattern, no message": {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: OptionString, Doc: "x",
			Pattern: regexp.MustCompile(`^a$`)}}}, "PatternMessage"},
		"default, not computed":     {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: OptionBool, Doc: "x", Default: true}}}, "Computed"},
		"required at the top":       {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: OptionBool, Doc: "x", Required: true}}}, "Required"},
		"object without attributes": {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: OptionObject, Doc: "x"}}}, "Attributes"},
		"bad nested attribute": {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: OptionObject, Doc: "x",
			Attributes: []Option{{Name: "y", Kind: OptionString}}}}}, `option "x": option "y" has no Doc`},
		"in place, twice": {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: OptionInt, Doc: "x", InPlace: true,
			InPlaceIf: func(_, _ any) bool { return true }}}}, "exclusive"},
		"unknown kind": {OptionBlock{Doc: "d", Options: []Option{{Name: "x", Kind: "float", Doc: "x"}}}, "unknown kind"},
	}
	for name, c := range cases {
		err := c.block.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
	}
}

// An engine's option error becomes refusals under its block: an AttrError keeps its path, another error is
// put on the block.
func TestOptionErrors(t *testing.T) {
	if OptionErrors("e", nil) != nil {
		t.Fatal("no error, yet refusals")
	}
	got := OptionErrors("e", NewAttrError(errors.New("bad"), "e", "size"))
	if len(got) != 1 || strings.Join(got[0].Path, ".") != "e.size" || got[0].Err.Error() != "bad" {
		t.Fatalf("attr error: %+v", got)
	}
	got = OptionErrors("e", errors.New("worse"))
	if len(got) != 1 || strings.Join(got[0].Path, ".") != "e" {
		t.Fatalf("plain error: %+v", got)
	}
}
