// Package daytona implements the daytona engine: sandboxes, volumes, setup snapshots and workspaces on
// Daytona (https://app.daytona.io/api or a self-hosted install), over a small typed client of the main API and
// of the toolbox proxy (commands and files). What the API requires and answers (as the official
// @daytonaio/sdk, pinned in contract_test.go, shows it) is enforced for tests by the in-process fake in
// daytonafake.
//
// # Client
//
// Every call sends Authorization: Bearer <API key or JWT> (and X-Daytona-Organization-ID when configured),
// JSON bodies, and goes through one retry policy (see client.do): 429 after the Retry-After* headers, 5xx and
// connection errors with jittered exponential backoff, never past the context deadline. Errors carry the
// service's message and HTTP status (*APIError); the credentials never appear in them. Waiting for a state
// polls with its own backoff (PollInitial x1.5 up to PollMax) until the context ends.
//
// Creates are made idempotent by name, so that a retry after an answer lost on the way back meets the name
// conflict and adopts the object instead of making a second one: sandboxes are named "ekairos-<record id>",
// volumes "<name>-ekairos-vol-<record id>", setup snapshots "ekairos-setup-<fingerprint>", workspace volumes
// and sandboxes "ekairos-ws-<record id>". Commands (process/execute) are never retried after a 5xx or a lost
// connection: running a command twice is not harmless.
//
// # Sandboxes
//
// A sandbox carries @ekairos/sandbox's labels (ekairos: "1", ekairos_ephemeral: "1"/"0"), the record id
// (ekairos_sandbox_id, which FindSandbox filters on, following the list's cursors), ekairos_managed_by and
// ekairos_kind (what ListSandboxes filters on), the SDK's code-toolbox-language (from the runtime, as the
// library infers it), and the exposed ports and the default command timeout, which the engine reads back.
// Metadata (params.daytona of the record) is {ephemeral, sandboxName}, as the library writes ephemeral.
//
// States: started is running; stopped and paused are stopped; archived is archived (not gone: it starts again,
// restoring first); the transitional states are starting or stopping; destroyed, and a 404, are
// backend.ErrNotFound. Start, stop, create and delete wait for their state.
//
// URLs: one per exposed port, from the preview-url endpoint. Private previews also need the preview token
// (header x-daytona-preview-token); it is a secret that changes when the sandbox restarts, so it is never
// in Metadata, a record or the engine's cache: every read (GetSandbox, FindSandbox, create, update) asks the
// preview-url endpoint again and returns the token in Sandbox.URLTokens, which the provider exposes as the
// sensitive url_tokens attribute. The public option makes the token unnecessary.
//
// Network policy: deny_all is networkBlockAll, allow_list is the domain allow-list (the policy's hosts and
// presets' hosts; wildcards as Daytona takes them), allow_all is Daytona's default (nothing blocked). With no
// policy the network_block_all and network_allow_list (CIDRs) options decide, and without them too the
// sandbox gets deny_all, as on every engine (networkBlockAll is sent explicitly). Setups and workspaces
// follow the same rule, so a setup that downloads packages needs a policy. Daytona cannot inject credentials
// into requests, so a policy with credentials is refused.
//
// Env: the spec's env is the sandbox's env at create (Daytona keeps it, and returns it to its API's readers).
// Daytona cannot change it afterwards, so UpdateSandbox writes the new env to ~/.ekairos/sandbox.env inside
// the sandbox (mode 0600), which every command sources before the request's env; commands run otherwise (the
// Daytona dashboard, the SDK) still see the create-time env.
//
// # Volumes, setups, workspaces
//
// Volumes are Daytona volumes (S3-backed FUSE mounts), waited until ready; a deleted volume (Daytona keeps
// reading it by id) is backend.ErrNotFound; deleting a mounted one is an error wrapping backend.ErrInUse with
// Daytona's 409 message.
//
// A setup runs its command in a builder sandbox; on success the builder is snapshotted as
// "ekairos-setup-<fingerprint>", the snapshot is waited active and the builder deleted. FindSetup finds that
// snapshot by name, so the same definition is built once per organization and reused. A failing command
// leaves no snapshot. Sandboxes and workspaces whose spec names a setup start from its snapshot.
//
// A workspace is a volume of its own plus one durable sandbox (never auto-deleted; Daytona auto-stops and
// auto-archives it as configured) started from the setup snapshot with the volume mounted at
// WorkspaceMountPath. When the workspace is created from a setup, what the setup left in the home directory
// is copied once onto the volume (existing files kept), so that the workspace's commands, which run in
// WorkspaceMountPath, see the setup's files where the setup made them, as on the other engines.
// ExecWorkspace starts that sandbox when needed and runs there. What survives what:
//
//   - files under WorkspaceMountPath (the volume): everything but DeleteWorkspace (sandbox stop, archive,
//     deletion and re-creation, setup changes);
//   - other files of the workspace sandbox (the setup's results included): stop, start, archive and restore,
//     but not the sandbox's deletion; a new sandbox starts again from the setup snapshot;
//   - processes: nothing (a stop ends them);
//   - the env: it lives in the sandbox (see Env above), so a re-created sandbox gets the env of the update
//     that re-creates it.
//
// If the workspace's sandbox is deleted outside Terraform, ExecWorkspace fails with a clear error and
// UpdateWorkspace creates it again when its spec says what from (the lifecycle does not pass the setup on
// update yet).
package daytona
