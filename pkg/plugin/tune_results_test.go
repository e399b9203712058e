package plugin

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/internal/golden"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// TestPrintRankingGolden: the trials best first, bars from the worst objective to the best,
// the winner marked; trials without an objective last, with no bar.
func TestPrintRankingGolden(t *testing.T) {
	ranking := []workload.TrialResult{
		{Name: "trial-3", State: "Succeeded", Params: map[string]string{"lr": "0.13", "optimizer": "adam"}, Objective: 0.987543, HasObjective: true},
		{Name: "trial-1", State: "Succeeded", Params: map[string]string{"lr": "0.05", "optimizer": "sgd"}, Objective: 0.9612, HasObjective: true},
		{Name: "trial-2", State: "EarlyStopped", Params: map[string]string{"lr": "0.41", "optimizer": "sgd"}, Objective: 0.5, HasObjective: true},
		{Name: "trial-4", State: "Failed", Params: map[string]string{"lr": "0.3", "optimizer": "adam"}},
	}
	for _, tc := range []struct {
		name          string
		objectiveType string
		blocks        bool
	}{
		{"ranking-maximize-pipe", "maximize", false},
		{"ranking-maximize-terminal", "maximize", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printRanking(&b, ranking, "accuracy", tc.objectiveType, "trial-3", tc.blocks); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, filepath.Join("testdata", tc.name+".txt"), b.Bytes())
		})
	}
	// Minimizing, the smallest value has the longest bar.
	var b bytes.Buffer
	minimized := []workload.TrialResult{ranking[2], ranking[1], ranking[0]}
	if err := printRanking(&b, minimized, "loss", "minimize", "trial-2", false); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, filepath.Join("testdata", "ranking-minimize-pipe.txt"), b.Bytes())
}
