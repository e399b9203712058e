package workload

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func trial(name, state string, metrics ...map[string]any) unstructured.Unstructured {
	ms := make([]any, len(metrics))
	for i, m := range metrics {
		ms[i] = m
	}
	return unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"parameterAssignments": []any{map[string]any{"name": "lr", "value": "0." + name[len(name)-1:]}}},
		"status": map[string]any{
			"conditions":  []any{map[string]any{"type": "Running", "status": "False"}, map[string]any{"type": state, "status": "True"}},
			"observation": map[string]any{"metrics": ms},
		},
	}}
}

func TestTrialResultsRankByTheObjective(t *testing.T) {
	trials := []unstructured.Unstructured{
		trial("t-1", "Succeeded", map[string]any{"name": "accuracy", "latest": "0.90", "max": "0.93", "min": "0.5"}, map[string]any{"name": "loss", "latest": "0.1"}),
		trial("t-2", "Failed"),
		trial("t-3", "Succeeded", map[string]any{"name": "accuracy", "latest": "0.97", "max": "0.97", "min": "0.6"}),
		trial("t-4", "EarlyStopped", map[string]any{"name": "accuracy", "latest": "0.4"}),
		trial("t-5", "MetricsUnavailable", map[string]any{"name": "accuracy", "latest": "unavailable"}),
	}
	for _, tc := range []struct {
		objectiveType string
		want          []string
		values        []float64
	}{
		{"maximize", []string{"t-3", "t-1", "t-4", "t-2", "t-5"}, []float64{0.97, 0.93, 0.4}},
		{"minimize", []string{"t-4", "t-1", "t-3", "t-2", "t-5"}, []float64{0.4, 0.5, 0.6}},
	} {
		results := TrialResults(trials, "accuracy", tc.objectiveType)
		RankTrials(results, tc.objectiveType)
		for i, r := range results {
			if r.Name != tc.want[i] {
				t.Fatalf("%s: ranked %v, want %v", tc.objectiveType, results, tc.want)
			}
			if i < len(tc.values) && (!r.HasObjective || r.Objective != tc.values[i]) {
				t.Errorf("%s: %s objective %v (%v), want %v", tc.objectiveType, r.Name, r.Objective, r.HasObjective, tc.values[i])
			}
			if i >= len(tc.values) && r.HasObjective {
				t.Errorf("%s: %s has objective %v, want none", tc.objectiveType, r.Name, r.Objective)
			}
		}
		if results[0].Params["lr"] != map[string]string{"maximize": "0.3", "minimize": "0.4"}[tc.objectiveType] {
			t.Errorf("%s: best params %v", tc.objectiveType, results[0].Params)
		}
		if results[len(results)-1].State != "MetricsUnavailable" || results[3].State != "Failed" {
			t.Errorf("%s: states %v", tc.objectiveType, results)
		}
	}
}
