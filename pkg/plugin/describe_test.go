package plugin

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

func TestDescribeAnExperimentFromItsState(t *testing.T) {
	exp := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "status": map[string]any{
		"conditions": []any{map[string]any{"type": "Running", "status": "True", "message": "Running here"}}}}}
	exp.SetName("e")
	exp.SetNamespace("team-a")
	exp.SetLabels(map[string]string{model.LabelManagedBy: model.ManagedByValue})
	exp.Object["status"].(map[string]any)["currentOptimalTrial"] = map[string]any{
		"bestTrialName":        "e-x7f2",
		"parameterAssignments": []any{map[string]any{"name": "lr", "value": "0.04"}},
		"observation":          map[string]any{"metrics": []any{map[string]any{"name": "accuracy", "latest": "0.97", "max": "0.98"}}},
	}
	var out bytes.Buffer
	if err := describeKaptain(context.Background(), &out, &inventory.Inventory{Namespace: "team-a"}, inventory.Object{Served: inventory.Served{Kind: inventory.Kind{Group: inventory.Experiments}}, Obj: exp}); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"Best trial: e-x7f2", "Parameter lr: 0.04", "Metric accuracy: 0.97"} {
		if !strings.Contains(text, want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
}
