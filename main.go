// Command terraform-provider-sandbox serves the sandbox Terraform provider (protocol 6).
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/ekairos/terraform-provider-sandbox/internal/provider"
)

// Generate the documentation in docs/ from the schema, examples/ and templates/.
//go:generate go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs generate --provider-name sandbox

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/ekairos/sandbox",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}
