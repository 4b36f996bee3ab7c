package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres"
)

// What each resource keeps about its record store, and how a read tells a record deleted from its store
// (drift: Terraform plans a create) from a store that is another one (an error naming both stores).
//
// Every resource keeps in private state (key privateStoreKey) the identity of the store that holds its record
// (a UUID written once into the store, backend.StoreIdentity) and where that store was (kind and path or
// schema, never a secret). Create writes the identity into the store if it has none yet; Read never writes it.
// A Read opens the store without creating it: a SQLite file that does not exist (or a PostgreSQL schema without
// the store's tables), while the state holds the resource, is the store error, and nothing is created.

// EnvScope is the environment fallback of the provider's scope.
const EnvScope = "SANDBOX_SCOPE"

const privateStoreKey = "store"

type storePrivate struct {
	ID    string `json:"id"`
	Where string `json:"where"`
}

// privateGetter and privateSetter are the framework's private state (req.Private, resp.Private).
type privateGetter interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
}

type privateSetter interface {
	SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
}

// defaultScope is the configuration a provider process works for when the provider block says nothing: its
// working directory (Terraform starts providers in the configuration's directory, -chdir included) and the
// workspace (TF_WORKSPACE, else the one `terraform workspace select` wrote to .terraform/environment, else
// "default").
func defaultScope() string {
	dir, err := os.Getwd()
	if err != nil {
		dir = "?"
	}
	ws := os.Getenv("TF_WORKSPACE")
	if ws == "" {
		dataDir := os.Getenv("TF_DATA_DIR")
		if dataDir == "" {
			dataDir = ".terraform"
		}
		if b, err := os.ReadFile(filepath.Join(dataDir, "environment")); err == nil {
			ws = strings.TrimSpace(string(b))
		}
	}
	if ws == "" {
		ws = "default"
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return backend.ScopeOf(dir, ws)
}

// storeWhere describes the configured store for messages: kind and location, never a credential.
func (d *providerData) storeWhere() string {
	switch d.records {
	case RecordsSQLite:
		return "sqlite at " + d.sqlitePath
	case RecordsInstantDB:
		return "instantdb app " + d.instant.AppID
	case RecordsPostgres:
		schema := d.pg.Schema
		if schema == "" {
			schema = "public"
		}
		return "postgres schema " + schema
	}
	return d.records
}

// howToChooseStore says which settings pick the record store.
func (d *providerData) howToChooseStore() string {
	return "Set the provider's records, sqlite_path, postgres or instantdb settings (or " + EnvRecords + ", " + EnvSQLitePath + ", " +
		EnvPostgresURL + ", " + EnvInstantAppID + ") to the store that holds this configuration's records. A record deleted from " +
		"the right store is not an error: the plan then shows the resource to be created again."
}

// storeMissing reports, before the store is first opened by this process, whether it does not exist (a SQLite
// file that is not there, a PostgreSQL schema without the store's tables), and what was therefore not created:
// opening it would create it, which no plan may do.
func (data *providerData) storeMissing(ctx context.Context) (missing bool, nothing string, err error) {
	data.mu.Lock()
	opened := data.lifecycle != nil
	data.mu.Unlock()
	if opened {
		return false, "", nil
	}
	switch data.records {
	case RecordsSQLite:
		_, err := os.Stat(data.sqlitePath)
		return errors.Is(err, os.ErrNotExist), "the file was not created", nil
	case RecordsPostgres:
		if data.pg.URL == "" {
			return false, "", nil // opening says what is missing
		}
		exists, err := postgres.Exists(ctx, data.pg)
		return !exists && err == nil, "no schema or table was created", err
	}
	return false, "", nil
}

// readLifecycle returns the lifecycle for a Read: the store is opened but never created. A SQLite file that
// does not exist is the store error (the state holds this resource, so its record is in another store).
func readLifecycle(ctx context.Context, data *providerData, priv privateGetter, what, id string, diags *diag.Diagnostics) *backend.Lifecycle {
	if data == nil {
		diags.AddError("Provider not configured", "The provider was not configured before the resource was used; this is a bug in the provider.")
		return nil
	}
	missing, nothing, err := data.storeMissing(ctx)
	if err != nil {
		diags.AddError("Record store not reachable", fmt.Sprintf("Reading %s %s: %s", what, id, err))
		return nil
	}
	if missing {
		was := keptStore(ctx, priv)
		diags.AddError("Record store not found",
			fmt.Sprintf("%s %s is in the state, but the configured record store (%s) does not exist; %s. Nothing was written "+
				"(%s).\n\n%s", what, id, data.storeWhere(), madeIn(was), nothing, data.howToChooseStore()))
		return nil
	}
	return lifecycleOf(data, diags)
}

func madeIn(was storePrivate) string {
	if was.ID == "" {
		return "the resource's record was written to another store"
	}
	return fmt.Sprintf("the resource's record was written to store %s (%s)", was.ID, was.Where)
}

func keptStore(ctx context.Context, priv privateGetter) storePrivate {
	var sp storePrivate
	if priv == nil {
		return sp
	}
	b, d := priv.GetKey(ctx, privateStoreKey)
	if d.HasError() || len(b) == 0 {
		return sp
	}
	_ = json.Unmarshal(b, &sp)
	return sp
}

// identity returns the store's identity, cached for the provider process; with create, one is written when
// the store has none.
func (d *providerData) identity(ctx context.Context, st backend.Store, create bool) (string, error) {
	d.mu.Lock()
	id := d.storeID
	d.mu.Unlock()
	if id != "" {
		return id, nil
	}
	id, err := backend.StoreIdentity(ctx, st, create)
	if err != nil || id == "" {
		return "", err
	}
	d.mu.Lock()
	d.storeID = id
	d.mu.Unlock()
	return id, nil
}

// keepStore puts the store's identity in the resource's private state. create (Create, never Read) writes an
// identity into a store that has none yet.
func keepStore(ctx context.Context, data *providerData, lc *backend.Lifecycle, priv privateSetter, create bool, diags *diag.Diagnostics) {
	if data == nil || lc == nil || priv == nil {
		return
	}
	id, err := data.identity(ctx, lc.Store, create)
	if err != nil {
		if create {
			// Not fatal: the resource works without it; only the check that a later plan reads the right store is
			// lost. (An InstantDB app whose schema predates sandbox_meta refuses the write.)
			diags.AddWarning("Record store identity not written",
				"The store's identity (the sandbox_meta record that tells this store from another one at plan time) could not be written: "+
					err.Error()+"\n\nOn InstantDB, push the provider's schema again (it adds sandbox_meta).")
		}
		return
	}
	if id == "" {
		return
	}
	b, _ := json.Marshal(storePrivate{ID: id, Where: data.storeWhere()})
	diags.Append(priv.SetKey(ctx, privateStoreKey, b)...)
}

// recordGoneIsDrift is called by a Read whose record is not in the store, or no longer live: it returns true
// when the resource is to be removed from state (the record is there but shutdown, or was deleted from this
// very store), and false with an error when the store is not the one that holds the record (its identity
// differs from the one the resource kept).
func recordGoneIsDrift(ctx context.Context, data *providerData, lc *backend.Lifecycle, priv privateGetter, entity, what, id string, diags *diag.Diagnostics) bool {
	if _, err := lc.Store.Get(ctx, entity, id); !errors.Is(err, backend.ErrNotFound) {
		return true // the record is there (shutdown, or its engine object is gone): drift as before
	}
	was := keptStore(ctx, priv)
	if was.ID == "" {
		return true // made before stores had identities: nothing to compare
	}
	now, err := data.identity(ctx, lc.Store, false)
	if err != nil {
		diags.AddError("Cannot read the record store's identity", err.Error())
		return false
	}
	if now == was.ID {
		return true
	}
	this := "a store with no identity (no resource was ever created in it)"
	if now != "" {
		this = "store " + now
	}
	diags.AddError("Record in another store",
		fmt.Sprintf("%s %s has no record in the configured record store, %s (%s), but %s. Nothing was written.\n\n%s",
			what, id, this, data.storeWhere(), madeIn(was), data.howToChooseStore()))
	return false
}

// existingStore returns the record store for a data source: opened, never created. nil (and no error) when the
// SQLite file does not exist: there is no record to read, and a plan must not create the store.
func (d *providerData) existingStore() (backend.Store, error) {
	if d.records == RecordsSQLite {
		d.mu.Lock()
		opened := d.lifecycle != nil
		d.mu.Unlock()
		if !opened {
			if _, err := os.Stat(d.sqlitePath); errors.Is(err, os.ErrNotExist) {
				return nil, nil
			}
		}
	}
	return d.Store()
}
