package backend

import (
	"context"
	"fmt"
	"sort"
)

// ParamsLabels is the params key of a record's labels (metadata.labels of a process record): the effective
// labels (the provider's default labels merged with the resource's own) as a string map. List resources and
// the records data source filter on it.
const ParamsLabels = "labels"

// withLabels sets params.labels to labels, or removes the key when there are none.
func withLabels(params map[string]any, labels map[string]string) map[string]any {
	if len(labels) == 0 {
		delete(params, ParamsLabels)
		return params
	}
	m := make(map[string]any, len(labels))
	for k, v := range labels {
		m[k] = v
	}
	params[ParamsLabels] = m
	return params
}

// labelsField is the record field that holds an entity's labels map.
func labelsField(entity string) string {
	if entity == EntityProcesses {
		return "metadata"
	}
	return "params"
}

// LabelsOf returns a record's labels (params.labels; metadata.labels of a run); an empty map when it has none.
func LabelsOf(rec *Record) map[string]string {
	out := map[string]string{}
	raw, _ := rec.JSONMap(labelsField(rec.Entity))[ParamsLabels].(map[string]any)
	for k, v := range raw {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// HasLabels reports whether have contains every pair of want.
func HasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// SameLabels reports whether two label maps are equal (nil and empty are equal).
func SameLabels(a, b map[string]string) bool {
	return len(a) == len(b) && HasLabels(a, b)
}

// SetLabels writes a record's labels (params.labels; metadata.labels of a run) and merges the provider's
// bookkeeping beside them, for in-place label changes of objects whose engine keeps no labels.
func (l *Lifecycle) SetLabels(ctx context.Context, entity, id string, labels map[string]string, bookkeeping map[string]any) (*Record, error) {
	rec, err := l.Store.Get(ctx, entity, id)
	if err != nil {
		return nil, fmt.Errorf("reading %s record %s: %w", entity, id, err)
	}
	field := labelsField(entity)
	m := withLabels(copyMap(rec.JSONMap(field)), labels)
	if len(bookkeeping) > 0 {
		m[ParamsTerraform] = mergeMaps(toMap(m[ParamsTerraform]), bookkeeping)
	}
	out, err := l.Store.Update(ctx, entity, id, Attrs{field: m, "updatedAt": NowMillis(l.now())})
	if err != nil {
		return nil, fmt.Errorf("updating %s record %s: %w", entity, id, err)
	}
	return out, nil
}

// labelsShape is the labels as they enter a configuration hash: nil when there are none, so that hashes of
// configurations without labels stay what they were.
func labelsShape(labels map[string]string) any {
	if len(labels) == 0 {
		return nil
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, k, labels[k])
	}
	return out
}
