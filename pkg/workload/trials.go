package workload

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// LabelExperiment is the label Katib puts on an experiment's Trials.
const LabelExperiment = "katib.kubeflow.org/experiment"

// TrialResult is one trial of a tune as its ranking shows it: its hyperparameters, how it
// ended and the value its objective metric took.
type TrialResult struct {
	Name   string            `json:"trial"`
	State  string            `json:"state"`
	Params map[string]string `json:"hyperparameters"`
	// Objective is the objective metric's value for the objective type (Katib's default
	// strategy: the largest reported for maximize, the smallest for minimize); HasObjective is
	// false when the trial reported none.
	Objective    float64 `json:"objective,omitempty"`
	HasObjective bool    `json:"-"`
}

// TrialResults reads Katib Trials: their assignments, the condition they ended with and the
// objective metric's value for objectiveType.
func TrialResults(trials []unstructured.Unstructured, metric, objectiveType string) []TrialResult {
	out := make([]TrialResult, 0, len(trials))
	for _, t := range trials {
		r := TrialResult{Name: t.GetName(), State: "Pending", Params: map[string]string{}}
		params, _, _ := unstructured.NestedSlice(t.Object, "spec", "parameterAssignments")
		for _, p := range params {
			if m, ok := p.(map[string]any); ok {
				r.Params[fmt.Sprint(m["name"])] = fmt.Sprint(m["value"])
			}
		}
		conditions, _, _ := unstructured.NestedSlice(t.Object, "status", "conditions")
		for _, c := range conditions {
			if cond, ok := c.(map[string]any); ok && cond["status"] == "True" {
				r.State = fmt.Sprint(cond["type"])
			}
		}
		metrics, _, _ := unstructured.NestedSlice(t.Object, "status", "observation", "metrics")
		for _, m := range metrics {
			mm, ok := m.(map[string]any)
			if !ok || mm["name"] != metric {
				continue
			}
			field := "max"
			if objectiveType == "minimize" {
				field = "min"
			}
			for _, f := range []string{field, "latest", "value"} {
				if v, err := strconv.ParseFloat(fmt.Sprint(mm[f]), 64); mm[f] != nil && err == nil {
					r.Objective, r.HasObjective = v, true
					break
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// RankTrials sorts results best first for the objective type; trials without an objective
// come last, by name.
func RankTrials(results []TrialResult, objectiveType string) {
	slices.SortStableFunc(results, func(a, b TrialResult) int {
		switch {
		case a.HasObjective != b.HasObjective:
			if a.HasObjective {
				return -1
			}
			return 1
		case a.HasObjective && a.Objective != b.Objective:
			if objectiveType == "minimize" {
				return cmp.Compare(a.Objective, b.Objective)
			}
			return cmp.Compare(b.Objective, a.Objective)
		}
		return cmp.Compare(a.Name, b.Name)
	})
}
