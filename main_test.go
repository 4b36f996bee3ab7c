package main

import "testing"

func TestQuietUnlessAsked(t *testing.T) {
	cases := []struct {
		name    string
		environ []string
		quiet   bool
	}{
		{"nothing asked", []string{"HOME=/root", "PATH=/bin"}, true},
		{"TF_LOG", []string{"TF_LOG=trace"}, false},
		{"TF_LOG empty asks for nothing", []string{"TF_LOG="}, true},
		{"provider only", []string{"TF_LOG_PROVIDER=debug"}, false},
		{"SDK only", []string{"TF_LOG_SDK_FRAMEWORK=trace"}, false},
		{"acceptance log path", []string{"TF_ACC_LOG_PATH=/tmp/x"}, false},
		{"a look-alike name", []string{"TF_LOGGING=1"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := map[string]string{}
			quietUnlessAsked(c.environ, func(k, v string) error { got[k] = v; return nil })
			if !c.quiet {
				if len(got) != 0 {
					t.Fatalf("set %v although a log was asked for", got)
				}
				return
			}
			for _, k := range []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER"} {
				if got[k] != "off" {
					t.Errorf("%s = %q, want off", k, got[k])
				}
			}
		})
	}
}
