package instantdb

import (
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb/instantdbfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/storetest"
)

const (
	testAppID = "0b9d2a5e-4c1f-4a8e-9f3b-2d6c7e8f9a01"
	testToken = "7f3c9e2a-1b4d-4e6f-8a0c-5d2e9b7f1c33"
)

// startFake starts a fake InstantDB that the test closes at its end.
func startFake(t testing.TB) *instantdbfake.Server {
	t.Helper()
	f := instantdbfake.New(testAppID, testToken)
	t.Cleanup(f.Close)
	return f
}

// openStore returns a store on f with fast retries; mod adjusts the config.
func openStore(t *testing.T, f *instantdbfake.Server, mod func(*Config)) *Store {
	t.Helper()
	cfg := Config{AppID: testAppID, AdminToken: testToken, APIURL: f.URL()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.backoffBase, s.backoffCap = 5*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Store {
		f := startFake(t)
		s, err := New(Config{AppID: testAppID, AdminToken: testToken, APIURL: f.URL(), PageSize: 128})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) backend.Store {
		f := startFake(b)
		s, err := New(Config{AppID: testAppID, AdminToken: testToken, APIURL: f.URL()})
		if err != nil {
			b.Fatalf("New: %v", err)
		}
		return s
	})
}

func TestNewConfig(t *testing.T) {
	s, err := New(Config{AppID: strings.ToUpper(testAppID), AdminToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if s.appID != testAppID || s.apiURL != DefaultAPIURL || s.maxRetries != DefaultMaxRetries || s.pageSize != DefaultPageSize || s.Kind() != "instantdb" {
		t.Errorf("defaults: %+v", s)
	}
	s, err = New(Config{AppID: testAppID, AdminToken: testToken, APIURL: "http://127.0.0.1:1/x/", MaxRetries: -1, PageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	if s.apiURL != "http://127.0.0.1:1/x" || s.maxRetries != 0 || s.pageSize != 7 {
		t.Errorf("explicit: %+v", s)
	}
	for _, cfg := range []Config{
		{AppID: "", AdminToken: testToken},
		{AppID: "my-app", AdminToken: testToken},
		{AppID: "{" + testAppID + "}", AdminToken: testToken},
		{AppID: testAppID, AdminToken: " "},
		{AppID: testAppID, AdminToken: testToken, APIURL: "api.instantdb.com"},
		{AppID: testAppID, AdminToken: testToken, APIURL: "https://x?y=1"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): err = nil", cfg)
		}
	}
}
