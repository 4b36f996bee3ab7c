package provider

import (
	"encoding/json"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework-jsontypes/jsontypes"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// recordKinds maps the kind names users write to the entities of the record store.
var recordKinds = map[string]string{
	"sandbox":   backend.EntitySandboxes,
	"process":   backend.EntityProcesses,
	"workspace": backend.EntityWorkspaces,
	"volume":    backend.EntityVolumes,
	"setup":     backend.EntitySetups,
}

func kindNames() []string {
	out := make([]string, 0, len(recordKinds))
	for k := range recordKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func kindOfEntity(entity string) string {
	for k, e := range recordKinds {
		if e == entity {
			return k
		}
	}
	return entity
}

// externalIDFields names, per entity, the field that holds the engine's own id.
var externalIDFields = map[string]string{
	backend.EntitySandboxes:  "externalSandboxId",
	backend.EntityVolumes:    "externalVolumeId",
	backend.EntitySetups:     "snapshotId",
	backend.EntityProcesses:  "externalProcessId",
	backend.EntityWorkspaces: "sandboxId",
}

type recordModel struct {
	ID         types.String         `tfsdk:"id"`
	Kind       types.String         `tfsdk:"kind"`
	Entity     types.String         `tfsdk:"entity"`
	Backend    types.String         `tfsdk:"backend"`
	Status     types.String         `tfsdk:"status"`
	Purpose    types.String         `tfsdk:"purpose"`
	ExternalID types.String         `tfsdk:"external_id"`
	CreatedAt  types.String         `tfsdk:"created_at"`
	UpdatedAt  types.String         `tfsdk:"updated_at"`
	ShutdownAt types.String         `tfsdk:"shutdown_at"`
	Attributes jsontypes.Normalized `tfsdk:"attributes"`
}

var recordAttrTypes = map[string]attr.Type{
	"id":          types.StringType,
	"kind":        types.StringType,
	"entity":      types.StringType,
	"backend":     types.StringType,
	"status":      types.StringType,
	"purpose":     types.StringType,
	"external_id": types.StringType,
	"created_at":  types.StringType,
	"updated_at":  types.StringType,
	"shutdown_at": types.StringType,
	"attributes":  jsontypes.NormalizedType{},
}

// recordComputedAttributes are the record fields every record data source returns. The id attribute is left
// to the caller.
func recordComputedAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"kind":        schema.StringAttribute{Computed: true, MarkdownDescription: "The record's kind: " + quoteList(kindNames()) + "."},
		"entity":      schema.StringAttribute{Computed: true, MarkdownDescription: "The store entity (table or InstantDB namespace), e.g. `sandbox_sandboxes`."},
		"backend":     schema.StringAttribute{Computed: true, MarkdownDescription: "The engine (`provider` field of the record)."},
		"status":      schema.StringAttribute{Computed: true, MarkdownDescription: "The record status, e.g. `creating`, `active`, `shutdown`, `error`."},
		"purpose":     schema.StringAttribute{Computed: true, MarkdownDescription: "The `purpose` field (sandboxes only), or null."},
		"external_id": schema.StringAttribute{Computed: true, MarkdownDescription: "The engine's own id of the object (`externalSandboxId` for sandboxes), or null."},
		"created_at":  schema.StringAttribute{Computed: true, MarkdownDescription: "`createdAt` as RFC 3339, or null."},
		"updated_at":  schema.StringAttribute{Computed: true, MarkdownDescription: "`updatedAt` as RFC 3339, or null."},
		"shutdown_at": schema.StringAttribute{Computed: true, MarkdownDescription: "`shutdownAt` as RFC 3339, or null while the object exists."},
		"attributes": schema.StringAttribute{
			Computed: true, CustomType: jsontypes.NormalizedType{},
			MarkdownDescription: "Every field of the record as a JSON object, with the data model's field names (use `jsondecode`).",
		},
	}
}

func recordToModel(rec *backend.Record) (recordModel, error) {
	b, err := json.Marshal(rec.Attrs)
	if err != nil {
		return recordModel{}, err
	}
	timeField := func(name string) types.String {
		if ms, ok := rec.Int(name); ok {
			return types.StringValue(formatTime(ms))
		}
		return types.StringNull()
	}
	ext := ""
	if f, ok := externalIDFields[rec.Entity]; ok {
		ext = rec.String(f)
	}
	createdAt := timeField("createdAt")
	if rec.Entity == backend.EntityProcesses {
		createdAt = timeField("startedAt")
	}
	return recordModel{
		ID:         types.StringValue(rec.ID),
		Kind:       types.StringValue(kindOfEntity(rec.Entity)),
		Entity:     types.StringValue(rec.Entity),
		Backend:    stringOrNull(rec.String("provider")),
		Status:     stringOrNull(rec.String("status")),
		Purpose:    stringOrNull(rec.String("purpose")),
		ExternalID: stringOrNull(ext),
		CreatedAt:  createdAt,
		UpdatedAt:  timeField("updatedAt"),
		ShutdownAt: timeField("shutdownAt"),
		Attributes: jsontypes.NewNormalizedValue(string(b)),
	}, nil
}

// objectAsOptions lets a block be read into a struct even when some attributes are unknown.
var objectAsOptions = basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true}
