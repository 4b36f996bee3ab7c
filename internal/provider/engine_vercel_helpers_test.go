package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
)

// startVercelFakeWith starts a fake with a configuration of the test's choosing.
func startVercelFakeWith(t *testing.T, cfg vercelfake.Config) *vercelfake.Fake {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	fake, err := vercelfake.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	return fake
}

// vercelDestroyed is a CheckDestroy that asks both sides: the fake holds no sandbox and no snapshot any more,
// and every record of the store is closed (sandboxes and setups shutdown, workspaces archived).
func vercelDestroyed(env *testEnv, fake *vercelfake.Fake) func(*terraform.State) error {
	return func(*terraform.State) error {
		// Deletes are synchronous on the API's side, but a stopping session may take a moment on the fake.
		deadline := time.Now().Add(5 * time.Second)
		for len(fake.SandboxNames()) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if left := fake.SandboxNames(); len(left) > 0 {
			return fmt.Errorf("sandboxes left on the fake after destroy: %v", left)
		}
		if left := fake.Snapshots(""); len(left) > 0 {
			return fmt.Errorf("snapshots left on the fake after destroy: %v", left)
		}
		closed := map[string]string{
			backend.EntitySandboxes:  backend.StatusShutdown,
			backend.EntitySetups:     backend.StatusShutdown,
			backend.EntityWorkspaces: backend.WorkspaceArchived,
		}
		for ent, want := range closed {
			recs, err := env.store().Query(context.Background(), backend.Query{Entity: ent})
			if err != nil {
				return err
			}
			for _, r := range recs {
				if got := r.String("status"); got != want {
					return fmt.Errorf("%s record %s is %q after destroy, want %q", ent, r.ID, got, want)
				}
			}
		}
		return nil
	}
}

// vercelRecordCount is how many records of an entity the store holds.
func vercelRecordCount(t *testing.T, env *testEnv, entity string) int {
	t.Helper()
	recs, err := env.store().Query(context.Background(), backend.Query{Entity: entity})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}
