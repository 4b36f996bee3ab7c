package vercel

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// Name is the engine's name: the value of `backend`, of records' provider field, and of its blocks.
const Name = "vercel"

// Descriptor is the vercel engine as the provider, sweep and the docs see it (internal/backend/engines).
var Descriptor = backend.EngineDescriptor{
	Name: Name,
	Settings: []backend.Setting{
		{Name: "token", Envs: []string{"VERCEL_TOKEN", "VERCEL_OIDC_TOKEN"}, Sensitive: true, Credential: true,
			Doc: "A Vercel access token, or an OIDC token (team and project are then read from its claims)."},
		{Name: "team_id", Envs: []string{"VERCEL_TEAM_ID"}, Label: "team", Doc: "The team that owns the sandboxes."},
		{Name: "project_id", Envs: []string{"VERCEL_PROJECT_ID"}, Label: "project", Doc: "The project the sandboxes belong to."},
		{Name: "api_url", Envs: []string{"VERCEL_API_URL"}, Label: "API", Doc: "The API URL (default `https://api.vercel.com`)."},
	},
	New: func(s map[string]string) (backend.Engine, error) {
		return backend.Made(New(Config{Token: s["token"], TeamID: s["team_id"], ProjectID: s["project_id"], APIURL: s["api_url"]}))
	},
	Capabilities: Capabilities,
	Options: map[backend.ResourceKind]backend.OptionBlock{
		backend.KindSandbox: {Doc: sandboxBlockDoc, Options: sandboxOptionSchema},
		backend.KindSetup:   {Doc: setupBlockDoc, Options: setupOptionSchema},
	},
	CheckOptions: checkOptions,
}
