package instantdb

import (
	"fmt"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// SchemaTS returns an instant.schema.ts declaring every entity of backend.Entities() with InstantDB's
// schema builder, for the docs and for `npx instant-cli@latest push schema`: the store needs the
// attributes to exist, typed, and the indexed ones indexed (InstaQL compares and orders only on indexed,
// typed attributes).
//
// Types map as i.string() / i.number() / i.boolean() / i.json(); every attribute is .optional() because
// backend.Field has no notion of required, and .indexed() when the field is indexed. sandbox_sandboxes is
// @ekairos/sandbox's entity: an app that already declares it should keep the library's declaration (the
// same types and indexes; provider, status and createdAt are required there, and the provider always writes
// them).
//
// The output is stable (entities and fields in schema order). Everything between "i.schema(" and the
// closing "});" is plain JavaScript, so tests can evaluate it with the official package.
func SchemaTS() string {
	var b strings.Builder
	b.WriteString(`// instant.schema.ts: the entities terraform-provider-sandbox writes.
// Generated from the provider's record schema (instantdb.SchemaTS); do not edit.
//
// Merge these entities into your app's schema and push it:
//   npx instant-cli@latest push schema
// The provider filters and orders on the indexed attributes, which InstantDB
// allows only on indexed, typed attributes. sandbox_sandboxes is the entity of
// @ekairos/sandbox; if your schema already has the library's declaration, keep it.

import { i } from "@instantdb/core";

const _schema = i.schema({
  entities: {
`)
	for _, e := range backend.Entities() {
		fmt.Fprintf(&b, "    %s: i.entity({\n", e.Name)
		for _, f := range e.Fields {
			fmt.Fprintf(&b, "      %s: %s,\n", f.Name, attrBuilder(f))
		}
		b.WriteString("    }),\n")
	}
	b.WriteString("  },\n  links: {\n")
	for _, l := range backend.Links() {
		fmt.Fprintf(&b, "    %s: {\n      forward: { on: %q, has: %q, label: %q },\n      reverse: { on: %q, has: %q, label: %q },\n    },\n",
			l.Name, l.Forward.Entity, l.Forward.Has, l.Forward.Label, l.Reverse.Entity, l.Reverse.Has, l.Reverse.Label)
	}
	b.WriteString(`  },
  rooms: {},
});

// This helps TypeScript display nicer intellisense.
type _AppSchema = typeof _schema;
interface AppSchema extends _AppSchema {}
const schema: AppSchema = _schema;

export type { AppSchema };
export default schema;
`)
	return b.String()
}

// attrBuilder renders one attribute definition, e.g. i.number().optional().indexed().
func attrBuilder(f backend.Field) string {
	var t string
	switch f.Type {
	case backend.TypeString:
		t = "i.string()"
	case backend.TypeNumber:
		t = "i.number()"
	case backend.TypeBoolean:
		t = "i.boolean()"
	default:
		t = "i.json()"
	}
	t += ".optional()"
	if f.Indexed {
		t += ".indexed()"
	}
	return t
}
