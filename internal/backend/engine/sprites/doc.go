// Package sprites implements the sprites engine: sandboxes on Sprites (sprites.dev, Fly.io), recorded under
// their record id as @ekairos/sandbox does.
//
// # Client
//
// Client is a small typed client of the REST API (sprites, checkpoints, filesystem, network policy) and of
// the exec WebSocket. It sends the token as a bearer header only; every error carries the HTTP status and
// the API's message (either body shape, {"error","message"} or {"errors":[...]}), with the token redacted. One
// retry policy covers every call: 429 (after retry_after_seconds, else Retry-After), 5xx and connection errors
// are retried with jittered exponential backoff, never past the context's deadline. Exec sends argv as
// repeated cmd parameters (no shell), the whole environment (the API replaces the sprite's environment when
// any variable is sent), the working directory and stdin as 0x00 frames then 0x04; it keeps 0x01 and 0x02
// apart and takes the exit code from the 0x03 frame. A socket that ends before that frame is an error wrapping
// ErrExecInterrupted, never exit code 0. Checkpoint and restore answers are NDJSON progress: success is a
// complete line with no error line, whatever the HTTP status said.
//
// # Sandboxes
//
// A sandbox is one sprite, named by the name option or "ekairos-<record id>" (the library's name, so that
// its reconnect finds it), and labelled "tfsandbox", "tfsandbox-kind-sandbox" and "tfsandbox-record-<id>" so
// that FindSandbox finds a custom-named one and ListSandboxes lists only this provider's. The sprite name is
// the external id; its URL the sandbox URL (the URL routes to port 8080 only: URLs has that one entry).
// url_auth defaults to "sprite" (private), not the library's "public": see DefaultURLAuth. Sprites have no
// stop: they sleep by themselves (cold) and wake on use, so Capabilities().StopStart is false, StopSandbox
// fails with ErrNoStop, StartSandbox wakes the sprite, and a cold sprite reads as backend.StateSleeping
// (warm and running read as running).
//
// What the API cannot hold is kept in a state file inside the sprite (see statePath): the sandbox's env, its
// default command timeout and its network policy. Exec reads it (one filesystem call) and sends base env,
// sandbox env and request env, later ones winning. Env values travel in the exec URL's query over TLS, as
// the official SDKs send them; that URL never appears in an error.
//
// # Setups
//
// A checkpoint belongs to one sprite and cannot seed another, so a setup cannot be a snapshot shared by
// sandboxes. The artifact of a setup is its recipe, proven once: BuildSetup runs the setup in a builder sprite
// named after the fingerprint (SetupName) and keeps the builder, with the recipe in its state file, only if
// the setup exits 0. A sandbox or workspace made from the setup runs the recipe once in its own new sprite,
// then checkpoints it (the id is in Metadata["setupCheckpointId"] and in a label), so that Restore to that
// checkpoint returns it to the set-up state. Deleting a setup deletes only its builder: what was made from
// it keeps its own checkpoint.
//
// # Workspaces
//
// A workspace is one long-lived sprite ("ekairos-ws-<record id>") whose disk outlives the sandboxes that work
// on it; ExecWorkspace runs commands in it, CheckpointWorkspace checkpoints it on request and RestoreWorkspace
// restores its files (not its configuration) to a checkpoint (backend.WorkspaceCheckpointer: the provider's
// checkpoint_trigger and restore_checkpoint_id), and Workspace.Checkpoints lists its checkpoint ids, oldest
// first (also in Metadata["checkpoints"]). In-place updates keep the setup a sprite was made from.
//
// # Network policy
//
// The policy API stores allow/deny domain rules (DNS-based, applied live), so deny_all, allow_all and
// allow_list are all enforced (CompilePolicy); credential injection has no Sprites equivalent and is refused.
package sprites
