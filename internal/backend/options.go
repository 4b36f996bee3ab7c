package backend

import (
	"fmt"
	"regexp"
)

// Option schemas: the engine blocks of resources (`daytona { image = ... }` on a sandbox, `vercel { expiration
// = ... }` on a setup) described as plain data in each engine's descriptor. The provider turns them into
// Terraform schema (attributes, validators from the constraints, plan modifiers from InPlace and InPlaceIf), reads a block's
// values into the map[string]any the engine takes as SandboxSpec.Options (VolumeSpec.Options, ...), which the
// lifecycle records under params.<engine>, and reads them back from there on refresh and import.

// ResourceKind is a kind of resource an engine may take an option block for.
type ResourceKind string

// The resource kinds with engine option blocks.
const (
	KindSandbox   ResourceKind = "sandbox"
	KindSetup     ResourceKind = "setup"
	KindWorkspace ResourceKind = "workspace"
	KindVolume    ResourceKind = "volume"
)

// ResourceKinds lists the kinds, in documentation order.
var ResourceKinds = []ResourceKind{KindSandbox, KindSetup, KindWorkspace, KindVolume}

// OptionKind is the value type of an option. The options map holds string, int64, bool, []any of strings,
// map[string]any of strings, and map[string]any (an object's attributes) for them.
type OptionKind string

// The option kinds.
const (
	OptionString     OptionKind = "string"
	OptionInt        OptionKind = "int"
	OptionBool       OptionKind = "bool"
	OptionStringList OptionKind = "list(string)"
	OptionStringMap  OptionKind = "map(string)"
	// OptionObject is a nested object (Attributes).
	OptionObject OptionKind = "object"
)

// OptionBlock is an engine's option block on one kind of resource: `<engine> {}`, allowed only on resources
// of that engine.
type OptionBlock struct {
	// Doc is the block's description (Markdown): what the options are, where they are recorded, what changing
	// them does.
	Doc string
	// Options are the block's attributes.
	Options []Option
}

// Option is one attribute of an option block (or of an OptionObject option).
type Option struct {
	Name string
	Kind OptionKind
	// Doc is the attribute's description (Markdown).
	Doc string
	// Required: inside an OptionObject only, the attribute must be set when the object is. Top-level options
	// are always optional (the block itself is).
	Required bool
	// Computed: the engine may set the value when the configuration does not (with Default: that value).
	Computed bool
	// Sensitive values are hidden in plans and output. The options are recorded: a secret belongs in a
	// write-only attribute of the resource, never in an option.
	Sensitive bool
	// Default is the value (string, int64 or bool) when the configuration sets none; needs Computed.
	Default any
	// InPlace: changing the option updates the object in place; otherwise (the default) it replaces it.
	InPlace bool
	// InPlaceIf, instead of InPlace: a change of the option from prior to planned (both set and known, as the
	// kind's values: string, int64, bool, ...) updates the object in place when it reports true ("a larger
	// disk_mb grows the disk"); any other change of it, setting it or unsetting it replaces the object.
	InPlaceIf func(prior, planned any) bool

	// Constraints, checked at plan time on the attribute (nil/empty = none).

	// Min and Max bound an OptionInt.
	Min, Max *int64
	// OneOf lists the values an OptionString accepts.
	OneOf []string
	// Pattern is what an OptionString must match, PatternMessage what the refusal says ("must be ...").
	Pattern        *regexp.Regexp
	PatternMessage string
	// Check is any further check of a value (string or int64 as the kind says); its error is the refusal's
	// message, CheckDoc what it accepts.
	Check    func(v any) error
	CheckDoc string

	// Attributes are an OptionObject's own attributes.
	Attributes []Option
}

// Bound is a constraint's number, for Option.Min and Option.Max.
func Bound(n int64) *int64 { return &n }

// OptionCheck is an engine's check of an option block's values as a whole (the rules across options: "image
// and snapshot are exclusive"), run at plan time, before the engine is made and without credentials, for the
// engine the configuration names. It never sees a block with an unknown value. Each refusal is an AttrError
// whose Path is under the block ("<engine>", "<option>").
type OptionCheck func(req OptionRequest) []AttrError

// OptionRequest is what an OptionCheck judges.
type OptionRequest struct {
	Kind ResourceKind
	// Options holds the block's set options.
	Options map[string]any
	// Setup: the resource starts from a setup (its setup_id is set, maybe not known yet).
	Setup bool
}

// OptionErrors turns an engine's option error into the refusals of an OptionCheck: an *AttrError as it is,
// any other error on the engine's block; nil for nil.
func OptionErrors(engine string, err error) []AttrError {
	if err == nil {
		return nil
	}
	if ae, ok := err.(*AttrError); ok { //nolint:errorlint // an engine returns its AttrError unwrapped
		return []AttrError{*ae}
	}
	return []AttrError{{Path: []string{engine}, Err: err}}
}

// Validate reports what is wrong with an option block's description (a descriptor's mistake, found by the
// registry's tests): duplicate or empty names, a missing doc, constraints that do not fit the kind, a default
// without Computed, Required outside an object.
func (b OptionBlock) Validate() error {
	if b.Doc == "" {
		return fmt.Errorf("the block has no Doc")
	}
	return checkOptions(b.Options, false)
}

func checkOptions(opts []Option, nested bool) error {
	seen := map[string]bool{}
	for _, o := range opts {
		switch {
		case o.Name == "" || seen[o.Name]:
			return fmt.Errorf("option %q: empty or repeated name", o.Name)
		case o.Doc == "":
			return fmt.Errorf("option %q has no Doc", o.Name)
		case o.Required && !nested:
			return fmt.Errorf("option %q: Required is for an object's attributes only", o.Name)
		case o.Default != nil && !o.Computed:
			return fmt.Errorf("option %q: a Default needs Computed", o.Name)
		case (o.Min != nil || o.Max != nil) && o.Kind != OptionInt:
			return fmt.Errorf("option %q: Min and Max are for OptionInt", o.Name)
		case (len(o.OneOf) > 0 || o.Pattern != nil) && o.Kind != OptionString:
			return fmt.Errorf("option %q: OneOf and Pattern are for OptionString", o.Name)
		case o.InPlace && o.InPlaceIf != nil:
			return fmt.Errorf("option %q: InPlace and InPlaceIf are exclusive", o.Name)
		case o.Pattern != nil && o.PatternMessage == "":
			return fmt.Errorf("option %q: a Pattern needs its PatternMessage", o.Name)
		case (o.Kind == OptionObject) != (len(o.Attributes) > 0):
			return fmt.Errorf("option %q: Attributes are for OptionObject, which needs them", o.Name)
		}
		switch o.Kind {
		case OptionString, OptionInt, OptionBool, OptionStringList, OptionStringMap:
		case OptionObject:
			if err := checkOptions(o.Attributes, true); err != nil {
				return fmt.Errorf("option %q: %w", o.Name, err)
			}
		default:
			return fmt.Errorf("option %q: unknown kind %q", o.Name, o.Kind)
		}
		seen[o.Name] = true
	}
	return nil
}

// Grows is an InPlaceIf for an OptionInt: in place when the number grows (a disk made larger), replacing when
// it shrinks.
func Grows(prior, planned any) bool {
	a, ok1 := AsInt(prior)
	b, ok2 := AsInt(planned)
	return ok1 && ok2 && b > a
}
