// Package backend holds everything below Terraform: the record stores, the sandbox engines and the
// record-first lifecycle that ties them together. Nothing in this package or below it imports a Terraform
// framework type.
package backend

import "sort"

// Entity names. They are the InstantDB namespaces of @ekairos/sandbox (sandbox_sandboxes, sandbox_processes)
// plus the kinds this project adds in the same style. SQL stores use them as table names.
const (
	EntitySandboxes  = "sandbox_sandboxes"
	EntityProcesses  = "sandbox_processes"
	EntityWorkspaces = "sandbox_workspaces"
	EntityVolumes    = "sandbox_volumes"
	EntitySetups     = "sandbox_setups"
	// EntityMeta holds the store's own bookkeeping, never a sandbox object: the store identity (one record,
	// StoreIdentityID) and, on stores without a conditional update (InstantDB), the claims that make
	// CompareAndUpdate atomic.
	EntityMeta = "sandbox_meta"
)

// FieldType is the value type of a record field, as InstantDB's schema types it (i.string, i.number, i.json,
// i.boolean).
type FieldType string

const (
	// TypeString is a UTF-8 string (Go string).
	TypeString FieldType = "string"
	// TypeNumber is a JSON number. Integral values are kept as int64 (epoch milliseconds, counts), others as float64.
	TypeNumber FieldType = "number"
	// TypeJSON is any JSON value: decoded as map[string]any, []any, string, float64/int64, bool or nil.
	TypeJSON FieldType = "json"
	// TypeBoolean is a bool.
	TypeBoolean FieldType = "boolean"
)

// Field describes one attribute of an entity.
type Field struct {
	Name    string
	Type    FieldType
	Indexed bool
}

// EntitySchema is the list of fields of one entity, in the order SQL stores create columns.
type EntitySchema struct {
	Name   string
	Fields []Field
}

// Field returns the named field and whether it exists.
func (s EntitySchema) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Where each field and its type came from:
//
//   - sandbox_sandboxes: @ekairos/sandbox packages/sandbox/src/schema.ts (ekairos-public@d29bca8 and the
//     2026-02-19 snapshot c703fe33): externalSandboxId i.string().optional().indexed(), provider
//     i.string().indexed(), sandboxUrl i.string().optional(), status i.string().indexed(), timeout
//     i.number().optional() (milliseconds), runtime i.string().optional(), vcpus i.number().optional(), ports
//     i.json().optional() (number[]), purpose i.string().optional().indexed(), params i.json().optional(),
//     createdAt i.number().indexed() (epoch ms), updatedAt and shutdownAt i.number().optional().indexed().
//   - sandbox_processes: the same package's newer src/schema.ts (ekairos-public index id 51873780109). The link
//     sandboxProcessSandbox is kept as the plain field sandboxId, which SQL stores can index and which an
//     InstantDB store also writes as a link.
//   - sandbox_meta: this project's bookkeeping (store identity, compare-and-swap claims); key, value, createdAt.
//   - sandbox_workspaces, sandbox_volumes, sandbox_setups: this project's own entities, in the same style
//     (camelCase fields, epoch-ms numbers, json params), with sandkit's values for workspace status and the
//     setup key (see design.md, "Record data model").
var entities = []EntitySchema{
	{Name: EntitySandboxes, Fields: []Field{
		{"externalSandboxId", TypeString, true},
		{"provider", TypeString, true},
		{"sandboxUrl", TypeString, false},
		{"status", TypeString, true},
		{"timeout", TypeNumber, false},
		{"runtime", TypeString, false},
		{"vcpus", TypeNumber, false},
		{"ports", TypeJSON, false},
		{"purpose", TypeString, true},
		{"params", TypeJSON, false},
		{"createdAt", TypeNumber, true},
		{"updatedAt", TypeNumber, true},
		{"shutdownAt", TypeNumber, true},
	}},
	{Name: EntityProcesses, Fields: []Field{
		{"sandboxId", TypeString, true},
		{"workspaceId", TypeString, true},
		{"kind", TypeString, true},
		{"mode", TypeString, true},
		{"status", TypeString, true},
		{"provider", TypeString, true},
		{"command", TypeString, false},
		{"args", TypeJSON, false},
		{"cwd", TypeString, false},
		{"exitCode", TypeNumber, true},
		{"signal", TypeString, false},
		{"externalProcessId", TypeString, true},
		{"startedAt", TypeNumber, true},
		{"updatedAt", TypeNumber, true},
		{"exitedAt", TypeNumber, true},
		{"metadata", TypeJSON, false},
	}},
	{Name: EntityWorkspaces, Fields: []Field{
		{"name", TypeString, true},
		{"provider", TypeString, true},
		{"status", TypeString, true},
		{"sandboxId", TypeString, true},
		{"setupId", TypeString, true},
		{"metadata", TypeJSON, false},
		{"params", TypeJSON, false},
		{"createdAt", TypeNumber, true},
		{"updatedAt", TypeNumber, true},
		{"lastResumedAt", TypeNumber, true},
		{"shutdownAt", TypeNumber, true},
	}},
	{Name: EntityVolumes, Fields: []Field{
		{"name", TypeString, true},
		{"provider", TypeString, true},
		{"externalVolumeId", TypeString, true},
		{"status", TypeString, true},
		{"params", TypeJSON, false},
		{"createdAt", TypeNumber, true},
		{"updatedAt", TypeNumber, true},
		{"shutdownAt", TypeNumber, true},
	}},
	{Name: EntitySetups, Fields: []Field{
		{"key", TypeString, true},
		{"fingerprint", TypeString, true},
		{"provider", TypeString, true},
		{"status", TypeString, true},
		{"snapshotId", TypeString, true},
		{"command", TypeString, false},
		{"args", TypeJSON, false},
		{"policy", TypeJSON, false},
		{"runtime", TypeString, false},
		{"params", TypeJSON, false},
		{"createdAt", TypeNumber, true},
		{"updatedAt", TypeNumber, true},
		{"shutdownAt", TypeNumber, true},
	}},
	{Name: EntityMeta, Fields: []Field{
		{"key", TypeString, true},
		{"value", TypeString, false},
		{"createdAt", TypeNumber, true},
	}},
}

// Entities returns the schema of every entity, in a stable order.
func Entities() []EntitySchema {
	out := make([]EntitySchema, len(entities))
	copy(out, entities)
	return out
}

// EntityNames returns the entity names, sorted.
func EntityNames() []string {
	names := make([]string, 0, len(entities))
	for _, e := range entities {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	return names
}

// LookupEntity returns the schema of the named entity.
func LookupEntity(name string) (EntitySchema, bool) {
	for _, e := range entities {
		if e.Name == name {
			return e, true
		}
	}
	return EntitySchema{}, false
}

// LinkSide is one side of a link: the entity, the label a query uses from it, and how many records it has on
// the other side ("one" or "many").
type LinkSide struct {
	Entity string
	Label  string
	Has    string
}

// Link is a link of @ekairos/sandbox's InstantDB schema between two entities. Field is the forward entity's
// attribute that holds the linked record's id, so that a store with links (InstantDB) writes the link along
// with the record and one without (SQLite, PostgreSQL) keeps the field only.
type Link struct {
	Name    string
	Forward LinkSide
	Reverse LinkSide
	Field   string
}

// links are the library's links the provider writes: a run (sandbox_processes) has one sandbox, a sandbox has
// many processes (sandboxProcessSandbox), so that an app's `sandbox_sandboxes { processes {} }` sees the runs
// Terraform made. A run in a workspace keeps workspaceId only: the library has no workspace link.
var links = []Link{{
	Name:    "sandboxProcessSandbox",
	Forward: LinkSide{Entity: EntityProcesses, Label: "sandbox", Has: "one"},
	Reverse: LinkSide{Entity: EntitySandboxes, Label: "processes", Has: "many"},
	Field:   "sandboxId",
}}

// Links returns the links of the schema.
func Links() []Link { return append([]Link(nil), links...) }

// LinkFrom finds the link a label names from an entity: the link and the side the label is on (forward or
// reverse), and the other side.
func LinkFrom(entity, label string) (l Link, from, to LinkSide, ok bool) {
	for _, l := range links {
		switch {
		case l.Forward.Entity == entity && l.Forward.Label == label:
			return l, l.Forward, l.Reverse, true
		case l.Reverse.Entity == entity && l.Reverse.Label == label:
			return l, l.Reverse, l.Forward, true
		}
	}
	return Link{}, LinkSide{}, LinkSide{}, false
}
