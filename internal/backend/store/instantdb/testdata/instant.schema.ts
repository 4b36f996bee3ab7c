// instant.schema.ts: the entities terraform-provider-sandbox writes.
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
    sandbox_sandboxes: i.entity({
      externalSandboxId: i.string().optional().indexed(),
      provider: i.string().optional().indexed(),
      sandboxUrl: i.string().optional(),
      status: i.string().optional().indexed(),
      timeout: i.number().optional(),
      runtime: i.string().optional(),
      vcpus: i.number().optional(),
      ports: i.json().optional(),
      purpose: i.string().optional().indexed(),
      params: i.json().optional(),
      createdAt: i.number().optional().indexed(),
      updatedAt: i.number().optional().indexed(),
      shutdownAt: i.number().optional().indexed(),
    }),
    sandbox_processes: i.entity({
      sandboxId: i.string().optional().indexed(),
      workspaceId: i.string().optional().indexed(),
      kind: i.string().optional().indexed(),
      mode: i.string().optional().indexed(),
      status: i.string().optional().indexed(),
      provider: i.string().optional().indexed(),
      command: i.string().optional(),
      args: i.json().optional(),
      cwd: i.string().optional(),
      exitCode: i.number().optional().indexed(),
      signal: i.string().optional(),
      externalProcessId: i.string().optional().indexed(),
      startedAt: i.number().optional().indexed(),
      updatedAt: i.number().optional().indexed(),
      exitedAt: i.number().optional().indexed(),
      metadata: i.json().optional(),
    }),
    sandbox_workspaces: i.entity({
      name: i.string().optional().indexed(),
      provider: i.string().optional().indexed(),
      status: i.string().optional().indexed(),
      sandboxId: i.string().optional().indexed(),
      setupId: i.string().optional().indexed(),
      metadata: i.json().optional(),
      params: i.json().optional(),
      createdAt: i.number().optional().indexed(),
      updatedAt: i.number().optional().indexed(),
      lastResumedAt: i.number().optional().indexed(),
      shutdownAt: i.number().optional().indexed(),
    }),
    sandbox_volumes: i.entity({
      name: i.string().optional().indexed(),
      provider: i.string().optional().indexed(),
      externalVolumeId: i.string().optional().indexed(),
      status: i.string().optional().indexed(),
      params: i.json().optional(),
      createdAt: i.number().optional().indexed(),
      updatedAt: i.number().optional().indexed(),
      shutdownAt: i.number().optional().indexed(),
    }),
    sandbox_setups: i.entity({
      key: i.string().optional().indexed(),
      fingerprint: i.string().optional().indexed(),
      provider: i.string().optional().indexed(),
      status: i.string().optional().indexed(),
      snapshotId: i.string().optional().indexed(),
      command: i.string().optional(),
      args: i.json().optional(),
      policy: i.json().optional(),
      runtime: i.string().optional(),
      params: i.json().optional(),
      createdAt: i.number().optional().indexed(),
      updatedAt: i.number().optional().indexed(),
      shutdownAt: i.number().optional().indexed(),
    }),
    sandbox_meta: i.entity({
      key: i.string().optional().indexed(),
      value: i.string().optional(),
      createdAt: i.number().optional().indexed(),
    }),
  },
  links: {
    sandboxProcessSandbox: {
      forward: { on: "sandbox_processes", has: "one", label: "sandbox" },
      reverse: { on: "sandbox_sandboxes", has: "many", label: "processes" },
    },
  },
  rooms: {},
});

// This helps TypeScript display nicer intellisense.
type _AppSchema = typeof _schema;
interface AppSchema extends _AppSchema {}
const schema: AppSchema = _schema;

export type { AppSchema };
export default schema;
