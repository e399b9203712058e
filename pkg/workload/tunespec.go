package workload

import (
	"maps"
	"slices"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// TuneOverrides are the command line's values over kaptain.yaml's tune section: a nil
// pointer or map was not given.
type TuneOverrides struct {
	Algorithm                            *string
	Trials, ParallelTrials, FailedTrials *int
	// Params are name=type:... domains; they add to, or replace, the file's parameters.
	Params            []string
	AlgorithmSettings map[string]string
	Objectives        []string
	ObjectiveType     *string
	Goal              *float64
	// EarlyStopping "none" turns off the file's early stopping.
	EarlyStopping         *string
	EarlyStoppingSettings map[string]string
}

// TuneOf merges the overrides over m's tune section, over the defaults: the search, its
// objectives and the model's hyperparameters that are not searched (passed fixed to every
// trial). It parses the domains; Search.Validate checks the result.
func TuneOf(m *model.Model, o TuneOverrides, defaults Tune) (Tune, map[string]any, error) {
	spec, t := m.Spec.Tune, defaults
	t.Search.Algorithm = pick(o.Algorithm, spec.Algorithm, t.Search.Algorithm)
	t.Search.Trials = pickInt(o.Trials, spec.Trials, t.Search.Trials)
	t.Search.ParallelTrials = pickInt(o.ParallelTrials, spec.ParallelTrials, t.Search.ParallelTrials)
	t.Search.FailedTrials = pickInt(o.FailedTrials, spec.FailedTrials, t.Search.FailedTrials)
	byName := map[string]Param{}
	for _, name := range slices.Sorted(maps.Keys(spec.Parameters)) {
		p, err := ParseDomain(name, spec.Parameters[name])
		if err != nil {
			return Tune{}, nil, sdkerr.Wrap(sdkerr.InvalidModelProperty, err, "%s: spec.tune.parameters.%s", m.Path, name)
		}
		byName[name] = p
	}
	seen := map[string]bool{}
	for _, s := range o.Params {
		p, err := ParseParam(s)
		if err != nil {
			return Tune{}, nil, err
		}
		if seen[p.Name] {
			return Tune{}, nil, sdkerr.New(sdkerr.Usage, "--param %s is given twice", p.Name)
		}
		seen[p.Name] = true
		byName[p.Name] = p
	}
	t.Search.Params = nil
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		t.Search.Params = append(t.Search.Params, byName[name])
	}
	t.Search.AlgorithmSettings = o.AlgorithmSettings
	if o.AlgorithmSettings == nil {
		t.Search.AlgorithmSettings = maps.Clone(spec.AlgorithmSettings)
	}
	t.Search.EarlyStopping = pick(o.EarlyStopping, spec.EarlyStopping, t.Search.EarlyStopping)
	t.Search.EarlyStoppingSettings = o.EarlyStoppingSettings
	if o.EarlyStoppingSettings == nil && (o.EarlyStopping == nil || *o.EarlyStopping == spec.EarlyStopping) {
		t.Search.EarlyStoppingSettings = maps.Clone(spec.EarlyStoppingSettings)
	}
	if t.Search.EarlyStopping == EarlyStoppingNone {
		t.Search.EarlyStopping, t.Search.EarlyStoppingSettings = "", nil
	}
	t.Objectives = o.Objectives
	if len(t.Objectives) == 0 {
		t.Objectives = spec.Objectives
	}
	t.ObjectiveType = pick(o.ObjectiveType, spec.ObjectiveType, t.ObjectiveType)
	t.Goal = o.Goal
	if t.Goal == nil {
		t.Goal = spec.Goal
	}
	fixed := map[string]any{}
	for k, v := range m.Spec.Hyperparameters {
		if _, searched := byName[k]; !searched {
			fixed[k] = v
		}
	}
	return t, fixed, nil
}

// pick is the flag's value when given, else the file's when set, else the default.
func pick(flag *string, file, def string) string {
	switch {
	case flag != nil:
		return *flag
	case file != "":
		return file
	}
	return def
}

func pickInt(flag, file *int, def int) int {
	switch {
	case flag != nil:
		return *flag
	case file != nil:
		return *file
	}
	return def
}
