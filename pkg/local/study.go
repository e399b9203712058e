package local

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/cmaes"
	"github.com/c-bata/goptuna/sobol"
	"github.com/c-bata/goptuna/tpe"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Algorithms lists the search algorithms a local tune runs: those of Katib's goptuna
// suggestion service, from the same library at the version Katib v0.19 uses.
func Algorithms() []string { return []string{"cmaes", "random", "sobol", "tpe"} }

// CheckAlgorithm refuses an algorithm a local tune does not run (UnsupportedAlgorithm),
// listing the local ones.
func CheckAlgorithm(algorithm string) error {
	if !slices.Contains(Algorithms(), algorithm) {
		return sdkerr.New(sdkerr.UnsupportedAlgorithm, "algorithm %q runs only in Katib; a local tune runs %s", algorithm, strings.Join(Algorithms(), ", "))
	}
	return nil
}

// Study suggests hyperparameters and learns from the trials' results. It is safe for
// concurrent use.
type Study struct {
	mu    sync.Mutex
	study *goptuna.Study
	space map[string]any
	// params keeps the search space's types, for formatting the values.
	params map[string]workload.Param
}

// NewStudy creates a study of the search for an objective of the given type (maximize or
// minimize), with the algorithm and settings as Katib's goptuna service reads them. An
// algorithm that runs only in Katib is refused (UnsupportedAlgorithm), listing the local ones.
func NewStudy(s workload.Search, objectiveType string) (*Study, error) {
	if err := CheckAlgorithm(s.Algorithm); err != nil {
		return nil, err
	}
	space, params, err := searchSpace(s.Params)
	if err != nil {
		return nil, err
	}
	opts := []goptuna.StudyOption{goptuna.StudyOptionDefineSearchSpace(space), goptuna.StudyOptionLogger(nil)}
	if objectiveType == "minimize" {
		opts = append(opts, goptuna.StudyOptionDirection(goptuna.StudyDirectionMinimize))
	} else {
		opts = append(opts, goptuna.StudyOptionDirection(goptuna.StudyDirectionMaximize))
	}
	sampler, err := samplerOptions(s.Algorithm, s.AlgorithmSettings)
	if err != nil {
		return nil, err
	}
	study, err := goptuna.CreateStudy("kaptain", append(opts, sampler...)...)
	if err != nil {
		return nil, fmt.Errorf("creating the study: %w", err)
	}
	return &Study{study: study, space: space, params: params}, nil
}

// samplerOptions chooses the sampler and reads its settings, as Katib's goptuna service does.
func samplerOptions(algorithm string, settings map[string]string) ([]goptuna.StudyOption, error) {
	integer := func(name string) (int, bool, error) {
		v, ok := settings[name]
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, false, sdkerr.New(sdkerr.Usage, "--algorithm-setting %s=%q: not an integer", name, v)
		}
		return n, true, nil
	}
	seed, seeded, err := integer("random_state")
	if err != nil {
		return nil, err
	}
	switch algorithm {
	case "cmaes":
		opts := []cmaes.SamplerOption{cmaes.SamplerOptionNStartupTrials(0)}
		if seeded {
			opts = append(opts, cmaes.SamplerOptionSeed(int64(seed)))
		}
		if v, ok := settings["sigma"]; ok {
			sigma, err := strconv.ParseFloat(v, 64)
			if err != nil || sigma <= 0 {
				return nil, sdkerr.New(sdkerr.Usage, "--algorithm-setting sigma=%q: not a positive number", v)
			}
			opts = append(opts, cmaes.SamplerOptionInitialSigma(sigma))
		}
		switch v := settings["restart_strategy"]; v {
		case "", "none":
		case "ipop":
			opts = append(opts, cmaes.SamplerOptionIPop(2))
		case "bipop":
			opts = append(opts, cmaes.SamplerOptionBIPop(2))
		default:
			return nil, sdkerr.New(sdkerr.Usage, "--algorithm-setting restart_strategy=%q: use none, ipop or bipop", v)
		}
		return []goptuna.StudyOption{goptuna.StudyOptionRelativeSampler(cmaes.NewSampler(opts...))}, nil
	case "tpe":
		var opts []tpe.SamplerOption
		if seeded {
			opts = append(opts, tpe.SamplerOptionSeed(int64(seed)))
		}
		if n, ok, err := integer("n_startup_trials"); err != nil {
			return nil, err
		} else if ok {
			opts = append(opts, tpe.SamplerOptionNumberOfStartupTrials(n))
		}
		if n, ok, err := integer("n_ei_candidates"); err != nil {
			return nil, err
		} else if ok {
			opts = append(opts, tpe.SamplerOptionNumberOfEICandidates(n))
		}
		return []goptuna.StudyOption{goptuna.StudyOptionSampler(tpe.NewSampler(opts...))}, nil
	case "sobol":
		return []goptuna.StudyOption{goptuna.StudyOptionRelativeSampler(sobol.NewSampler())}, nil
	}
	var opts []goptuna.RandomSamplerOption
	if seeded {
		opts = append(opts, goptuna.RandomSamplerOptionSeed(int64(seed)))
	}
	return []goptuna.StudyOption{goptuna.StudyOptionSampler(goptuna.NewRandomSampler(opts...))}, nil
}

// searchSpace maps the parameters to goptuna's distributions as Katib's goptuna service does:
// double and int ranges (stepped when a step is given), discrete and categorical lists as
// categorical choices.
func searchSpace(params []workload.Param) (map[string]any, map[string]workload.Param, error) {
	space, byName := map[string]any{}, map[string]workload.Param{}
	for _, p := range params {
		byName[p.Name] = p
		bad := func(err error) error { return sdkerr.Wrap(sdkerr.Usage, err, "parameter %s", p.Name) }
		switch p.Type {
		case workload.ParamDouble:
			lo, err := strconv.ParseFloat(p.Min, 64)
			if err != nil {
				return nil, nil, bad(err)
			}
			hi, err := strconv.ParseFloat(p.Max, 64)
			if err != nil {
				return nil, nil, bad(err)
			}
			if p.Step == "" {
				space[p.Name] = goptuna.UniformDistribution{Low: lo, High: hi}
				continue
			}
			q, err := strconv.ParseFloat(p.Step, 64)
			if err != nil {
				return nil, nil, bad(err)
			}
			space[p.Name] = goptuna.DiscreteUniformDistribution{Low: lo, High: hi, Q: q}
		case workload.ParamInt:
			lo, err := strconv.Atoi(p.Min)
			if err != nil {
				return nil, nil, bad(err)
			}
			hi, err := strconv.Atoi(p.Max)
			if err != nil {
				return nil, nil, bad(err)
			}
			if p.Step == "" {
				space[p.Name] = goptuna.IntUniformDistribution{Low: lo, High: hi}
				continue
			}
			step, err := strconv.Atoi(p.Step)
			if err != nil {
				return nil, nil, bad(err)
			}
			space[p.Name] = goptuna.StepIntUniformDistribution{Low: lo, High: hi, Step: step}
		case workload.ParamDiscrete, workload.ParamCategorical:
			space[p.Name] = goptuna.CategoricalDistribution{Choices: slices.Clone(p.List)}
		default:
			return nil, nil, sdkerr.New(sdkerr.Usage, "parameter %s: type %q is not supported", p.Name, p.Type)
		}
	}
	return space, byName, nil
}

// Ask suggests the next trial's hyperparameters: its id and the values, as the strings a
// trial's --name=value arguments carry.
func (s *Study) Ask() (int, map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.study.Storage.CreateNewTrial(s.study.ID)
	if err != nil {
		return 0, nil, fmt.Errorf("suggesting a trial: %w", err)
	}
	trial := goptuna.Trial{Study: s.study, ID: id}
	if err := trial.CallRelativeSampler(); err != nil {
		return 0, nil, fmt.Errorf("suggesting a trial: %w", err)
	}
	values := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(s.space)) {
		var v string
		switch d := s.space[name].(type) {
		case goptuna.UniformDistribution:
			f, err := trial.SuggestFloat(name, d.Low, d.High)
			if err != nil {
				return 0, nil, fmt.Errorf("suggesting %s: %w", name, err)
			}
			v = strconv.FormatFloat(f, 'f', -1, 64)
		case goptuna.DiscreteUniformDistribution:
			f, err := trial.SuggestDiscreteFloat(name, d.Low, d.High, d.Q)
			if err != nil {
				return 0, nil, fmt.Errorf("suggesting %s: %w", name, err)
			}
			// A value on the grid, as written: 0.3, not the sum's 0.30000000000000004.
			p := s.params[name]
			v = strconv.FormatFloat(f, 'f', max(decimals(p.Min), decimals(p.Step)), 64)
		case goptuna.IntUniformDistribution:
			n, err := trial.SuggestInt(name, d.Low, d.High)
			if err != nil {
				return 0, nil, fmt.Errorf("suggesting %s: %w", name, err)
			}
			v = strconv.Itoa(n)
		case goptuna.StepIntUniformDistribution:
			n, err := trial.SuggestStepInt(name, d.Low, d.High, d.Step)
			if err != nil {
				return 0, nil, fmt.Errorf("suggesting %s: %w", name, err)
			}
			v = strconv.Itoa(n)
		case goptuna.CategoricalDistribution:
			c, err := trial.SuggestCategorical(name, d.Choices)
			if err != nil {
				return 0, nil, fmt.Errorf("suggesting %s: %w", name, err)
			}
			v = c
		}
		values[name] = v
	}
	return id, values, nil
}

// decimals is the number of digits after the point in a decimal number as written, 0 for
// one in exponent form.
func decimals(s string) int {
	if strings.ContainsAny(s, "eE") {
		return -1
	}
	if _, frac, ok := strings.Cut(s, "."); ok {
		return len(frac)
	}
	return 0
}

// Outcome is how a trial ended.
type Outcome int

// The outcomes a study learns from.
const (
	Succeeded Outcome = iota
	Failed
	// Killed is a trial stopped because the experiment ended (its goal reached, too many
	// failures, Ctrl-C): it teaches the study nothing.
	Killed
)

// Tell records the trial's outcome and, for a succeeded one, its objective value.
func (s *Study) Tell(id int, outcome Outcome, value float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	state := goptuna.TrialStateFail
	if outcome == Succeeded {
		if err := s.study.Storage.SetTrialValue(id, value); err != nil {
			return fmt.Errorf("recording trial %d: %w", id, err)
		}
		state = goptuna.TrialStateComplete
	}
	if err := s.study.Storage.SetTrialState(id, state); err != nil {
		return fmt.Errorf("recording trial %d: %w", id, err)
	}
	return nil
}
