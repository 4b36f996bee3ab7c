package sprites

import (
	"regexp"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// The sprites engine's option block and documentation, as its descriptor declares them (Descriptor.Options,
// Descriptor.ResourceDocs): the provider makes the sandbox's `sprites {}` block from them.

const sandboxBlockDoc = "Options of the `sprites` engine; only allowed with `backend = \"sprites\"`. Recorded under " +
	"`params.sprites` with the library's sprite metadata. Changing them replaces the sandbox. **Note:** Sprites have no " +
	"stop: they sleep by themselves when idle and wake on use, so `desired_state = \"stopped\"` is refused at plan time."

// nameOptionRE is the plan-time rule of the name option.
var nameOptionRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

var sandboxOptionSchema = []backend.Option{
	{Name: OptionName, Kind: backend.OptionString,
		Doc:     "The sprite's name, its `external_sandbox_id`. Default `ekairos-<record id>`, as `@ekairos/sandbox` names sprites.",
		Pattern: nameOptionRE, PatternMessage: "must be 1-63 lower-case letters, digits and '-', starting with a letter"},
	{Name: OptionURLAuth, Kind: backend.OptionString, OneOf: []string{URLAuthSprite, URLAuthPublic},
		Doc: "Who may open the sprite's URL: `sprite` (default: callers with a Sprites token) or `public` (anyone). " +
			"`@ekairos/sandbox` defaults to `public`; this provider defaults to `sprite` because a sandbox runs untrusted code and " +
			"`public` would publish whatever listens on its port 8080."},
	{Name: OptionWaitForCapacity, Kind: backend.OptionBool,
		Doc: "Wait for capacity instead of failing when none is free. Default `true`, as the library does."},
	{Name: OptionLabels, Kind: backend.OptionStringMap,
		Doc: "Labels on the sprite (sent as `key=value`). The provider adds one carrying the record id."},
}

var resourceDocs = map[backend.ResourceKind]string{
	backend.KindSetup: " On `sprites` a checkpoint belongs to one sprite and cannot seed another, so the " +
		"artifact is the setup proven once in a kept builder sprite (`ekairos-setup-<hash>`): each sandbox or workspace made from " +
		"it runs the `command` once in its own new sprite, which is then checkpointed (`params.sprites.setupCheckpointId`), so " +
		"that restoring that checkpoint returns it to the set-up state.",
}

// checkOptions checks a sandbox's block as its create would (the name's full rule, the labels), before any
// credential is needed.
func checkOptions(req backend.OptionRequest) []backend.AttrError {
	if req.Kind != backend.KindSandbox {
		return nil
	}
	_, err := parseOptions(req.Options, true)
	return backend.OptionErrors(Name, err)
}
