package sprites

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// Name is the engine's name: the value of `backend`, of records' provider field, and of its blocks.
const Name = "sprites"

// Descriptor is the sprites engine as the provider, sweep and the docs see it (internal/backend/engines).
var Descriptor = backend.EngineDescriptor{
	Name: Name,
	Settings: []backend.Setting{
		{Name: "token", Envs: []string{"SPRITES_API_TOKEN", "SPRITE_TOKEN", "SPRITES_TOKEN"}, Sensitive: true, Credential: true,
			Doc: "The Sprites API token."},
		{Name: "api_url", Envs: []string{"SPRITES_API_URL", "SPRITES_API_BASE_URL"}, Label: "API",
			Doc: "The API URL (default `https://api.sprites.dev`)."},
	},
	New: func(s map[string]string) (backend.Engine, error) {
		return backend.Made(New(Config{Token: s["token"], APIURL: s["api_url"]}))
	},
	Capabilities: Capabilities,
	Options: map[backend.ResourceKind]backend.OptionBlock{
		backend.KindSandbox: {Doc: sandboxBlockDoc, Options: sandboxOptionSchema},
	},
	CheckOptions: checkOptions,
	ResourceDocs: resourceDocs,
}
