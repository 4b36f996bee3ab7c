package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

var (
	envNameRegexp  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	httpURLRegexp  = regexp.MustCompile(`^https?://[^\s]+$`)
	sqlIdentRegexp = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
)

// durationValidator accepts a Go duration string within [min, max].
type durationValidator struct {
	min, max time.Duration
}

func (v durationValidator) Description(context.Context) string {
	return fmt.Sprintf("a duration such as 90s, 5m or 1h30m, between %s and %s", formatMillis(v.min.Milliseconds()), formatMillis(v.max.Milliseconds()))
}

func (v durationValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v durationValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	d, err := time.ParseDuration(req.ConfigValue.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%q is not a duration: want %s (units ms, s, m, h).", req.ConfigValue.ValueString(), v.Description(ctx)))
		return
	}
	if d < v.min || d > v.max {
		resp.Diagnostics.AddAttributeError(req.Path, "Duration out of range",
			fmt.Sprintf("%q is out of range: want %s.", req.ConfigValue.ValueString(), v.Description(ctx)))
	}
}

// jsonObjectValidator accepts a JSON object whose top-level keys avoid the reserved ones.
type jsonObjectValidator struct {
	reserved []string
}

func (v jsonObjectValidator) Description(context.Context) string {
	return "a JSON object (use jsonencode) whose keys are not reserved"
}

func (v jsonObjectValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (v jsonObjectValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(req.ConfigValue.ValueString()), &obj); err != nil || obj == nil {
		msg := "the value is not a JSON object"
		if err != nil {
			msg = err.Error()
		}
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid JSON object",
			fmt.Sprintf("Want a JSON object such as jsonencode({ team = \"infra\" }): %s.", msg))
		return
	}
	for _, k := range v.reserved {
		if _, ok := obj[k]; ok {
			resp.Diagnostics.AddAttributeError(req.Path, "Reserved params key",
				fmt.Sprintf("The key %q is reserved for the provider and the engines (reserved: %s); rename it.", k, quoteList(v.reserved)))
		}
	}
}

// uuidValidator accepts a canonical UUID (a record id).
type uuidValidator struct{}

func (uuidValidator) Description(context.Context) string {
	return "a record id: a UUID in canonical form"
}

func (v uuidValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (uuidValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if !backend.ValidID(req.ConfigValue.ValueString()) {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid record id",
			fmt.Sprintf("%q is not a record id: want a UUID such as 6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f.", req.ConfigValue.ValueString()))
	}
}

var absPathRegexp = regexp.MustCompile(`^/([^/.][^/]*|\.[^/.][^/]*)?(/([^/.][^/]*|\.[^/.][^/]*))*$`)

var hostPatternRegexp = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}(:[1-9][0-9]{0,4})?$`)
