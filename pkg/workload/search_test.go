package workload

import (
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/internal/golden"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

func mustParams(t *testing.T, specs ...string) []Param {
	t.Helper()
	var out []Param
	for _, s := range specs {
		p, err := ParseParam(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		out = append(out, p)
	}
	return out
}

func TestParseParam(t *testing.T) {
	for in, want := range map[string]Param{
		"lr=double:0.001:0.1":            {Name: "lr", Type: "double", Min: "0.001", Max: "0.1"},
		"lr=double:0.01:0.05:0.01":       {Name: "lr", Type: "double", Min: "0.01", Max: "0.05", Step: "0.01"},
		"layers=int:1:5":                 {Name: "layers", Type: "int", Min: "1", Max: "5"},
		"m=discrete:0.5,0.9,0.99":        {Name: "m", Type: "discrete", List: []string{"0.5", "0.9", "0.99"}},
		"optimizer=categorical:sgd,adam": {Name: "optimizer", Type: "categorical", List: []string{"sgd", "adam"}},
	} {
		got, err := ParseParam(in)
		if err != nil || got.Name != want.Name || got.Type != want.Type || got.Min != want.Min || got.Max != want.Max || got.Step != want.Step || strings.Join(got.List, ",") != strings.Join(want.List, ",") {
			t.Errorf("ParseParam(%q) = %+v, %v", in, got, err)
		}
	}
}

// TestInvalidSearches is the table of refused search spaces and algorithm settings: each
// gives its documented class and message, before anything is built.
func TestInvalidSearches(t *testing.T) {
	base := func(algorithm string, settings map[string]string, params ...string) func(*testing.T) error {
		return func(*testing.T) error {
			var ps []Param
			for _, s := range params {
				p, err := ParseParam(s)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
			return Search{Params: ps, Algorithm: algorithm, AlgorithmSettings: settings, Trials: 16, ParallelTrials: 2, FailedTrials: 4}.Validate()
		}
	}
	for _, tc := range []struct {
		name  string
		run   func(*testing.T) error
		class sdkerr.Class
		want  string
	}{
		{"no equals", base("random", nil, "lr"), sdkerr.Usage, "expected name=type"},
		{"unknown type", base("random", nil, "lr=float:0:1"), sdkerr.Usage, `type "float" is not supported`},
		{"min above max", base("random", nil, "lr=double:0.1:0.01"), sdkerr.Usage, "min 0.1 must be less than max 0.01"},
		{"min equals max", base("random", nil, "n=int:3:3"), sdkerr.Usage, "must be less than max"},
		{"int with a fraction", base("random", nil, "n=int:1:2.5"), sdkerr.Usage, `"2.5" is not an integer`},
		{"not a number", base("random", nil, "lr=double:low:high"), sdkerr.Usage, `"low" is not a number`},
		{"step too large", base("random", nil, "lr=double:0:1:2"), sdkerr.Usage, "step 2 must be positive and at most max - min"},
		{"negative step", base("random", nil, "lr=double:0:1:-0.1"), sdkerr.Usage, "must be positive"},
		{"empty list", base("random", nil, "opt=categorical:"), sdkerr.Usage, "needs a list of values"},
		{"empty value", base("random", nil, "opt=categorical:sgd,,adam"), sdkerr.Usage, "an empty value"},
		{"non-numeric discrete", base("random", nil, "m=discrete:0.5,high"), sdkerr.Usage, "discrete values must be numbers"},
		{"repeated value", base("random", nil, "m=discrete:0.5,0.5"), sdkerr.Usage, `"0.5" is listed twice`},
		{"infinite bound", base("random", nil, "lr=double:0:Inf"), sdkerr.Usage, `"Inf" is not a number`},
		{"duplicate names", base("random", nil, "lr=double:0:1", "lr=int:1:2"), sdkerr.Usage, "parameter lr is given twice"},
		{"no parameters", base("random", nil), sdkerr.Usage, "needs a search space"},
		{"unknown algorithm", base("anneal", nil, "lr=double:0:1"), sdkerr.UnsupportedAlgorithm, `algorithm "anneal" is not supported; use one of: bayesianoptimization, cmaes, grid, hyperband, multivariate-tpe, pbt, random, sobol, tpe`},
		{"grid without a step", base("grid", nil, "lr=double:0:1"), sdkerr.Usage, "grid needs a step on double parameter lr"},
		{"grid too small", base("grid", nil, "lr=double:0:1:0.5", "opt=categorical:a,b"), sdkerr.Usage, "grid has 6 combinations, fewer than --trials 16"},
		{"cmaes with one number", base("cmaes", nil, "lr=double:0:1", "opt=categorical:a,b"), sdkerr.Usage, "cmaes needs two or more double or int parameters, got 1"},
		{"hyperband without settings", base("hyperband", nil, "lr=double:0:1"), sdkerr.Usage, "hyperband needs --algorithm-setting resource_name=..."},
		{"hyperband resource not a parameter", base("hyperband", map[string]string{"resource_name": "epochs", "r_l": "9"}, "lr=double:0:1"), sdkerr.Usage, `resource_name "epochs" must name a parameter`},
		{"hyperband bad eta", base("hyperband", map[string]string{"resource_name": "lr", "r_l": "9", "eta": "1"}, "lr=double:0:1"), sdkerr.Usage, "eta must be a number above 1"},
		{"pbt small population", base("pbt", map[string]string{"n_population": "2", "truncation_threshold": "0.2"}, "lr=double:0:1"), sdkerr.Usage, "n_population must be an integer of 5 or more"},
		{"pbt threshold out of range", base("pbt", map[string]string{"n_population": "8", "truncation_threshold": "1.5"}, "lr=double:0:1"), sdkerr.Usage, "truncation_threshold must be between 0 and 1"},
		{"unknown setting", base("tpe", map[string]string{"gamma": "1"}, "lr=double:0:1"), sdkerr.Usage, "--algorithm-setting gamma is not a setting of tpe; its settings: n_startup_trials, n_ei_candidates, random_state"},
		{"setting of a settingless algorithm", base("grid", map[string]string{"x": "1"}, "n=int:1:20"), sdkerr.Usage, "its settings: none"},
		{"unknown early stopping", earlyStopping("patience", nil), sdkerr.UnsupportedAlgorithm, `early stopping algorithm "patience" is not supported; Katib ships medianstop`},
		{"early stopping setting without the algorithm", earlyStopping("", map[string]string{"start_step": "2"}), sdkerr.Usage, "--early-stopping-setting needs --early-stopping medianstop"},
		{"unknown early stopping setting", earlyStopping("medianstop", map[string]string{"min_steps": "2"}), sdkerr.Usage, "--early-stopping-setting min_steps is not a setting of medianstop; its settings: min_trials_required, start_step"},
		{"fractional start step", earlyStopping("medianstop", map[string]string{"start_step": "1.5"}), sdkerr.Usage, "start_step=1.5: medianstop's start_step must be an integer of 1 or more"},
		{"zero trials required", earlyStopping("medianstop", map[string]string{"min_trials_required": "0"}), sdkerr.Usage, "min_trials_required must be an integer of 1 or more"},
		{"spaces around a setting", earlyStopping("medianstop", map[string]string{"start_step": " 2"}), sdkerr.Usage, "must be an integer"},
		{"more trials required than run", earlyStopping("medianstop", map[string]string{"min_trials_required": "16"}), sdkerr.Usage, "min_trials_required=16: medianstop waits for that many succeeded trials before it stops any, and --trials is 16"},
		{"parallel above trials", func(*testing.T) error {
			return Search{Params: mustParams(t, "lr=double:0:1"), Algorithm: "random", Trials: 2, ParallelTrials: 3}.Validate()
		}, sdkerr.Usage, "--parallel-trials must be between 1 and --trials (2), got 3"},
	} {
		err := tc.run(t)
		if err == nil || sdkerr.ClassOf(err) != tc.class || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v (%s), want %s containing %q", tc.name, err, sdkerr.ClassOf(err), tc.class, tc.want)
		}
	}
}

// earlyStopping validates a random search of 16 trials with the early stopping given.
func earlyStopping(algorithm string, settings map[string]string) func(*testing.T) error {
	return func(t *testing.T) error {
		return Search{Params: mustParams(t, "lr=double:0:1"), Algorithm: "random", Trials: 16, ParallelTrials: 2,
			EarlyStopping: algorithm, EarlyStoppingSettings: settings}.Validate()
	}
}

func TestEarlyStoppingWithinKatibsRulesIsAccepted(t *testing.T) {
	for _, settings := range []map[string]string{nil, {"min_trials_required": "1"}, {"start_step": "1", "min_trials_required": "15"}} {
		if err := earlyStopping("medianstop", settings)(t); err != nil {
			t.Errorf("medianstop %v: %v", settings, err)
		}
	}
}

func TestExperimentGolden(t *testing.T) {
	goal := 0.99
	for _, tc := range []struct {
		name      string
		framework string
		search    Search
		kind      TrainingKind
	}{
		{"experiment-random-all-domains", "tensorflow", Search{Algorithm: "random", Trials: 12, ParallelTrials: 3, FailedTrials: 2,
			Params: mustParams(t, "lr=double:0.001:0.1", "layers=int:1:5:1", "momentum=discrete:0.5,0.9,0.99", "optimizer=categorical:sgd,adam")}, nil},
		{"experiment-grid", "pytorch", Search{Algorithm: "grid", Trials: 6, ParallelTrials: 2, FailedTrials: 1,
			Params: mustParams(t, "lr=double:0.01:0.03:0.01", "optimizer=categorical:sgd,adam")}, nil},
		{"experiment-hyperband", "tensorflow", Search{Algorithm: "hyperband", AlgorithmSettings: map[string]string{"resource_name": "epochs", "r_l": "9", "eta": "3"}, Trials: 16, ParallelTrials: 2, FailedTrials: 4,
			Params: mustParams(t, "lr=double:0.001:0.1", "epochs=int:1:9")}, nil},
		{"experiment-bayesianoptimization", "tensorflow", Search{Algorithm: "bayesianoptimization", AlgorithmSettings: map[string]string{"base_estimator": "GP", "n_initial_points": "5"}, Trials: 16, ParallelTrials: 2, FailedTrials: 4,
			Params: mustParams(t, "lr=double:0.001:0.1", "momentum=discrete:0.5,0.9")}, nil},
		{"experiment-tpe", "pytorch", Search{Algorithm: "tpe", AlgorithmSettings: map[string]string{"n_startup_trials": "5"}, Trials: 16, ParallelTrials: 2, FailedTrials: 4,
			Params: mustParams(t, "lr=double:0.001:0.1", "optimizer=categorical:sgd,adam")}, nil},
		{"experiment-multivariate-tpe", "pytorch", Search{Algorithm: "multivariate-tpe", Trials: 16, ParallelTrials: 2, FailedTrials: 4,
			Params: mustParams(t, "lr=double:0.001:0.1", "layers=int:1:4")}, nil},
		{"experiment-cmaes", "tensorflow", Search{Algorithm: "cmaes", AlgorithmSettings: map[string]string{"sigma": "0.5"}, Trials: 16, ParallelTrials: 2, FailedTrials: 4,
			Params: mustParams(t, "lr=double:0.001:0.1", "layers=int:1:4")}, nil},
		{"experiment-sobol", "tensorflow", Search{Algorithm: "sobol", Trials: 16, ParallelTrials: 2, FailedTrials: 4,
			Params: mustParams(t, "lr=double:0.001:0.1", "momentum=double:0.5:0.99")}, nil},
		{"experiment-pbt", "pytorch", Search{Algorithm: "pbt", AlgorithmSettings: map[string]string{"n_population": "5", "truncation_threshold": "0.2"}, Trials: 16, ParallelTrials: 5, FailedTrials: 4,
			Params: mustParams(t, "lr=double:0.001:0.1")}, nil},
		{"experiment-trainjob", "pytorch", Search{Algorithm: "random", Trials: 8, ParallelTrials: 2, FailedTrials: 2,
			Params: mustParams(t, "lr=double:0.001:0.1")}, TrainJobOn(torch)},
		{"experiment-trainjob-mpi", "pytorch", Search{Algorithm: "random", Trials: 4, ParallelTrials: 2, FailedTrials: 2,
			Params: mustParams(t, "lr=double:0.001:0.1")}, TrainJobOn(deepspeed(t))},
		{"experiment-early-stopping", "tensorflow", Search{Algorithm: "random", Trials: 12, ParallelTrials: 3, FailedTrials: 2,
			Params:        mustParams(t, "lr=double:0.001:0.1", "optimizer=categorical:sgd,a b,x;touch /tmp/pwned"),
			EarlyStopping: "medianstop", EarlyStoppingSettings: map[string]string{"min_trials_required": "4", "start_step": "2"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			train := Train{Workers: 2, Hyperparameters: map[string]any{"batch-size": int64(64)}, StorageSecret: "mnist-tune-abc123-storage"}
			kind := tc.kind
			if kind == nil {
				kind = V1Kind(tc.framework)
			} else {
				train.StorageKeys, train.Queue = []string{"AWS_ACCESS_KEY_ID"}, "team-a"
			}
			exp, companions, err := Experiment(testModel(tc.framework), Tune{Name: "mnist-tune-abc123", Revision: "rev-1", Search: tc.search,
				Objectives: []string{"accuracy", "loss"}, ObjectiveType: "maximize", Goal: &goal, Kind: kind, Train: train})
			if err != nil {
				t.Fatal(err)
			}
			out, _ := yaml.Marshal(exp.Object)
			for _, c := range companions {
				data, _ := yaml.Marshal(c.Object)
				out = append(append(out, "---\n"...), data...)
			}
			golden.Assert(t, filepath.Join("testdata", tc.name+".yaml"), out)
		})
	}
}

func FuzzParseParam(f *testing.F) {
	for _, s := range []string{"lr=double:0.001:0.1", "n=int:1:5:2", "m=discrete:0.5,0.9", "o=categorical:a,b", "lr=double:1e-3:1e-1:1e-2", "x=int:-5:5", "=", "a=double:", "a=discrete:,", "a=int:1:2:3:4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseParam(s)
		if err != nil {
			if sdkerr.ClassOf(err) != sdkerr.Usage {
				t.Fatalf("error of class %s: %v", sdkerr.ClassOf(err), err)
			}
			return
		}
		// What is accepted is a space Katib can search: a valid name, bounds in order, a
		// non-empty list.
		if !validParamName(p.Name) {
			t.Fatalf("accepted name %q", p.Name)
		}
		switch p.Type {
		case ParamDouble, ParamInt:
			lo, _ := parseNumber(p.Type, p.Min)
			hi, _ := parseNumber(p.Type, p.Max)
			if lo >= hi {
				t.Fatalf("accepted %q with min %s >= max %s", s, p.Min, p.Max)
			}
		case ParamDiscrete, ParamCategorical:
			if len(p.List) == 0 {
				t.Fatalf("accepted an empty list: %q", s)
			}
		default:
			t.Fatalf("accepted type %q", p.Type)
		}
		if err := (Search{Params: []Param{p}, Algorithm: "random", Trials: 1, ParallelTrials: 1}).Validate(); err != nil {
			t.Fatalf("%q parsed but does not validate: %v", s, err)
		}
	})
}
