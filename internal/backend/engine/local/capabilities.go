package local

import "github.com/ekairos/terraform-provider-sandbox/internal/backend"

// Capabilities is what the local engine can do with bubblewrap isolation, declared for plan-time checks
// (Engine.Capabilities narrows it when the isolation is "none": no volumes, the host's network). Its egress
// proxy enforces allow lists and injects a policy's credentials.
var Capabilities = backend.Capabilities{
	StopStart:         true,
	Exec:              true,
	Files:             true,
	Volumes:           true,
	Setups:            true,
	Workspaces:        true,
	PublicURLs:        false,
	NetworkPolicies:   []string{backend.PolicyDenyAll, backend.PolicyAllowAll, backend.PolicyAllowList},
	PolicyCredentials: true,
	PolicyHostPorts:   true,
	OnThisMachine:     true,
}
