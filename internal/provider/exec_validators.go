package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// argvValidator refuses at plan time an argv that no engine can execute: an empty program name, or an argument
// holding a NUL byte (a C string ends there). Each error points at the element.
type argvValidator struct{}

func (argvValidator) Description(context.Context) string {
	return "the first element names the program (not empty); no element contains a NUL byte"
}

func (v argvValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (argvValidator) ValidateList(_ context.Context, req validator.ListRequest, resp *validator.ListResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for i, el := range req.ConfigValue.Elements() {
		s, ok := el.(types.String)
		if !ok || s.IsNull() || s.IsUnknown() {
			continue
		}
		p := req.Path.AtListIndex(i)
		switch {
		case i == 0 && s.ValueString() == "":
			resp.Diagnostics.AddAttributeError(p, "Empty program name",
				`The first element of the command is the program to run and must not be empty: e.g. ["sh", "-c", "make test"].`)
		case strings.ContainsRune(s.ValueString(), 0):
			resp.Diagnostics.AddAttributeError(p, "NUL byte in a command argument",
				fmt.Sprintf("Argument %d contains a NUL byte, which no program can receive (arguments are C strings); remove it.", i))
		}
	}
}

// noNULValidator refuses a string holding a NUL byte; it never shows the value (env values may be secrets).
type noNULValidator struct{ what string }

func (v noNULValidator) Description(context.Context) string {
	return v.what + " must not contain a NUL byte"
}

func (v noNULValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v noNULValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if strings.ContainsRune(req.ConfigValue.ValueString(), 0) {
		resp.Diagnostics.AddAttributeError(req.Path, "NUL byte in "+v.what,
			fmt.Sprintf("The %s contains a NUL byte, which no process can receive (environment variables and paths are C strings); remove it.", v.what))
	}
}

// checkMountPaths puts the engine's refusal of a volume's mount path on that volume's mount_path at plan time.
func checkMountPaths(eng any, volumes types.List) (out []struct {
	Path path.Path
	Err  error
}) {
	mc, ok := eng.(backend.MountPathChecker)
	if !ok || volumes.IsNull() || volumes.IsUnknown() {
		return nil
	}
	for i, el := range volumes.Elements() {
		obj, ok := el.(types.Object)
		if !ok || obj.IsNull() || obj.IsUnknown() {
			continue
		}
		mp, ok := obj.Attributes()["mount_path"].(types.String)
		if !ok || mp.IsNull() || mp.IsUnknown() {
			continue
		}
		if err := mc.CheckMountPath(mp.ValueString()); err != nil {
			out = append(out, struct {
				Path path.Path
				Err  error
			}{path.Root("volume").AtListIndex(i).AtName("mount_path"), err})
		}
	}
	return out
}
