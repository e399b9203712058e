package plugin

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kaptain-dev/kubectl-kaptain/internal/golden"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

// TestPrintHistoryGolden: the table counts metrics and data sets; wide shows them, with the
// hyperparameters and a tune's results.
func TestPrintHistoryGolden(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	rec := track.NewRecord("dev/mnist", "r0", now)
	rec.Apply(track.Action{Name: "train", Revision: "r1", Hyperparameters: map[string]any{"lr": 0.01, "epochs": "5"}, Workload: "tfjob.kubeflow.org/dev-mnist-train-r1"}, now.Add(time.Minute))
	rec.History[len(rec.History)-1].Metrics = []track.Metrics{{Type: "testing", Values: map[string]float64{"loss": 0.1, "accuracy": 0.95}}, {Type: "validation", Values: map[string]float64{"accuracy": 0.93}}}
	rec.History[len(rec.History)-1].DataSets = []track.DataSet{{Name: "mnist", URI: "s3://d/mnist", Version: "2"}, {Name: "extra", URI: "s3://d/x"}}
	rec.Apply(track.Action{Name: "tune", Revision: "r2", Hyperparameters: map[string]any{"lr": "0.0427"}, Results: map[string]string{"accuracy": "0.987543", "loss": "0.04"}, Workload: "experiment.kubeflow.org/dev-mnist-tune-r2"}, now.Add(2*time.Minute))
	rec.Apply(track.Action{Name: "deploy", Revision: "r3", Err: errors.New("not ready")}, now.Add(3*time.Minute))
	for _, wide := range []bool{false, true} {
		var b bytes.Buffer
		if err := printHistory(&b, rec, wide); err != nil {
			t.Fatal(err)
		}
		name := "history.txt"
		if wide {
			name = "history-wide.txt"
		}
		golden.Assert(t, filepath.Join("testdata", name), b.Bytes())
	}
}
