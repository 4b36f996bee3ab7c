// Command terraform-provider-sandbox serves the sandbox Terraform provider (protocol 6).
package main

import (
	"context"
	"flag"
	"log"
	"os"
	rtdebug "runtime/debug"

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
	quietUnlessAsked(os.Environ(), os.Setenv)
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		// A provider process lives for one Terraform command and allocates mostly short-lived framework
		// values: collecting at 4x the live heap instead of 2x halves the collector's share of the CPU
		// (bench/FINDINGS.md), and the soft limit keeps a refresh of thousands of resources bounded.
		rtdebug.SetGCPercent(400)
		rtdebug.SetMemoryLimit(512 << 20)
	}

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/ekairos/sandbox",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

// logEnv are the variables by which Terraform users ask for provider logs (TF_LOG is passed on to providers by
// Terraform; the others are terraform-plugin-log's own).
var logEnv = []string{"TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_PROVIDER_SANDBOX", "TF_LOG_SDK", "TF_LOG_SDK_PROTO",
	"TF_LOG_SDK_FRAMEWORK", "TF_ACC_LOG_PATH", "TF_LOG_PATH_MASK"}

// quietUnlessAsked turns the plugin SDK's and the provider's loggers off when no log was asked for. Left unset,
// terraform-plugin-log's SDK loggers run at TRACE and the provider formats a JSON line for every RPC step, which
// Terraform then drops: 11-17 % of the provider's CPU in a 200-resource apply or a 1000-resource refresh
// (bench/FINDINGS.md). Any of the variables above set to a non-empty value keeps the SDK defaults.
func quietUnlessAsked(environ []string, setenv func(string, string) error) {
	set := map[string]bool{}
	for _, kv := range environ {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				set[kv[:i]] = kv[i+1:] != ""
				break
			}
		}
	}
	for _, k := range logEnv {
		if set[k] {
			return
		}
	}
	for _, k := range []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER"} {
		_ = setenv(k, "off")
	}
}
