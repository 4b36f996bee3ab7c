package daytona

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// Name is the engine's name: the value of `backend`, of records' provider field, and of its blocks.
const Name = "daytona"

// Descriptor is the daytona engine as the provider, sweep and the docs see it (internal/backend/engines).
var Descriptor = backend.EngineDescriptor{
	Name: Name,
	Settings: []backend.Setting{
		{Name: "api_key", Envs: []string{"DAYTONA_API_KEY"}, Sensitive: true, Credential: true, Doc: "The Daytona API key."},
		{Name: "jwt_token", Envs: []string{"DAYTONA_JWT_TOKEN"}, Sensitive: true, Credential: true,
			Doc: "A Daytona JWT, the alternative to `api_key` (needs `organization_id`)."},
		{Name: "organization_id", Envs: []string{"DAYTONA_ORGANIZATION_ID"}, Label: "organization",
			Doc: "The organization, sent as `X-Daytona-Organization-ID`."},
		{Name: "api_url", Envs: []string{"DAYTONA_API_URL", "DAYTONA_SERVER_URL"}, Label: "API",
			Doc: "The API URL (default `https://app.daytona.io/api`)."},
		{Name: "target", Envs: []string{"DAYTONA_TARGET"}, Label: "target", Doc: "The default target (region) for new sandboxes."},
	},
	New: func(s map[string]string) (backend.Engine, error) {
		return backend.Made(New(Config{APIKey: s["api_key"], JWTToken: s["jwt_token"], OrganizationID: s["organization_id"], APIURL: s["api_url"], Target: s["target"]}))
	},
	Capabilities: Capabilities,
	Options: map[backend.ResourceKind]backend.OptionBlock{
		backend.KindSandbox: {Doc: sandboxBlockDoc, Options: sandboxOptions},
	},
	CheckOptions:  checkOptions,
	ResourceDocs:  resourceDocs,
	AttributeDocs: attributeDocs,
}
