package main

import (
	"testing"

	commonv1beta1 "github.com/kubeflow/katib/pkg/apis/controller/common/v1beta1"
	experimentsv1beta1 "github.com/kubeflow/katib/pkg/apis/controller/experiments/v1beta1"
)

func TestScoreRanksAssignmentsByTheirPlaceInTheSpace(t *testing.T) {
	params := []experimentsv1beta1.ParameterSpec{
		{Name: "lr", ParameterType: experimentsv1beta1.ParameterTypeDouble, FeasibleSpace: experimentsv1beta1.FeasibleSpace{Min: "0.001", Max: "0.1"}},
		{Name: "layers", ParameterType: experimentsv1beta1.ParameterTypeInt, FeasibleSpace: experimentsv1beta1.FeasibleSpace{Min: "1", Max: "5"}},
		{Name: "optimizer", ParameterType: experimentsv1beta1.ParameterTypeCategorical, FeasibleSpace: experimentsv1beta1.FeasibleSpace{List: []string{"sgd", "adam", "x;touch /tmp/pwned"}}},
	}
	assign := func(lr, layers, optimizer string) []commonv1beta1.ParameterAssignment {
		return []commonv1beta1.ParameterAssignment{{Name: "lr", Value: lr}, {Name: "layers", Value: layers}, {Name: "optimizer", Value: optimizer}}
	}
	for _, tc := range []struct {
		assignments []commonv1beta1.ParameterAssignment
		want        float64
	}{
		{assign("0.001", "1", "sgd"), 0},
		{assign("0.1", "5", "x;touch /tmp/pwned"), 1},
		{assign("0.0505", "3", "adam"), 0.5},
		{assign("0.1", "1", "sgd"), 1.0 / 3},
	} {
		if got := Score(params, tc.assignments); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("Score(%v) = %v, want %v", tc.assignments, got, tc.want)
		}
	}
	maximize := &commonv1beta1.ObjectiveSpec{Type: commonv1beta1.ObjectiveTypeMaximize, ObjectiveMetricName: "accuracy", AdditionalMetricNames: []string{"loss"}}
	if got := Metrics(params, maximize, assign("0.1", "5", "adam")); len(got) != 2 || got[0] != (Metric{"accuracy", "0.833333"}) || got[1] != (Metric{"loss", "0.166667"}) {
		t.Errorf("maximised metrics: %v", got)
	}
	minimize := &commonv1beta1.ObjectiveSpec{Type: commonv1beta1.ObjectiveTypeMinimize, ObjectiveMetricName: "loss"}
	if got := Metrics(params, minimize, assign("0.1", "5", "adam")); len(got) != 1 || got[0] != (Metric{"loss", "0.166667"}) {
		t.Errorf("minimised metrics: %v", got)
	}
}
