package workload

import (
	"maps"
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

func TestTuneOfMergesFlagsOverTheFileOverDefaults(t *testing.T) {
	trials, grid, minimize := 4, "grid", "minimize"
	m := testModel("tensorflow")
	m.Spec.Hyperparameters = map[string]any{"lr": 0.1, "epochs": 2}
	m.Spec.Tune = model.Tune{Algorithm: "random", Trials: &trials, Parameters: map[string]string{"lr": "double:0.01:0.1"}, Objectives: []string{"accuracy"}}
	defaults := Tune{Search: Search{Algorithm: "random", Trials: 16, ParallelTrials: 2, FailedTrials: 4}, ObjectiveType: "maximize"}
	for _, tc := range []struct {
		name          string
		over          TuneOverrides
		algorithm     string
		trials        int
		params        int
		objectiveType string
		fixed         int
	}{
		{"file over defaults", TuneOverrides{}, "random", 4, 1, "maximize", 1},
		{"flags over the file", TuneOverrides{Algorithm: &grid, ObjectiveType: &minimize, Params: []string{"epochs=int:1:3:1"}}, "grid", 4, 2, "minimize", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, fixed, err := TuneOf(m, tc.over, defaults)
			if err != nil {
				t.Fatal(err)
			}
			if got.Search.Algorithm != tc.algorithm || got.Search.Trials != tc.trials || len(got.Search.Params) != tc.params ||
				got.ObjectiveType != tc.objectiveType || len(fixed) != tc.fixed || got.Search.ParallelTrials != 2 || got.Objectives[0] != "accuracy" {
				t.Errorf("TuneOf = %+v, fixed %v", got, fixed)
			}
		})
	}
	if _, _, err := TuneOf(m, TuneOverrides{Params: []string{"lr=double:0.1:0.2", "lr=double:0.1:0.3"}}, defaults); sdkerr.ClassOf(err) != sdkerr.Usage {
		t.Errorf("a parameter given twice: %v", err)
	}
	m.Spec.Tune.Parameters = map[string]string{"lr": "float:1:2"}
	if _, _, err := TuneOf(m, TuneOverrides{}, defaults); sdkerr.ClassOf(err) != sdkerr.InvalidModelProperty {
		t.Errorf("a bad domain in the file: %v", err)
	}
}

func TestTuneOfTakesEarlyStoppingFromTheFileUnlessTheFlagsSayOtherwise(t *testing.T) {
	m := testModel("tensorflow")
	m.Spec.Tune = model.Tune{Parameters: map[string]string{"lr": "double:0.01:0.1"}, EarlyStopping: "medianstop",
		EarlyStoppingSettings: map[string]string{"min_trials_required": "5"}}
	none, median := EarlyStoppingNone, EarlyStoppingMedian
	for _, tc := range []struct {
		name      string
		over      TuneOverrides
		algorithm string
		settings  map[string]string
	}{
		{"the file's", TuneOverrides{}, "medianstop", map[string]string{"min_trials_required": "5"}},
		{"the file's algorithm named again keeps its settings", TuneOverrides{EarlyStopping: &median}, "medianstop", map[string]string{"min_trials_required": "5"}},
		{"settings from the flags replace the file's", TuneOverrides{EarlyStoppingSettings: map[string]string{"start_step": "2"}}, "medianstop", map[string]string{"start_step": "2"}},
		{"none turns it off", TuneOverrides{EarlyStopping: &none}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := TuneOf(m, tc.over, Tune{Search: Search{Algorithm: "random", Trials: 16, ParallelTrials: 2}})
			if err != nil {
				t.Fatal(err)
			}
			if got.Search.EarlyStopping != tc.algorithm || !maps.Equal(got.Search.EarlyStoppingSettings, tc.settings) {
				t.Errorf("early stopping %q %v, want %q %v", got.Search.EarlyStopping, got.Search.EarlyStoppingSettings, tc.algorithm, tc.settings)
			}
		})
	}
}
