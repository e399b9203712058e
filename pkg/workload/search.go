package workload

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// Parameter types of a Katib search space (the SDK's Double, Integer, Discrete, Categorical).
const (
	ParamDouble      = "double"
	ParamInt         = "int"
	ParamDiscrete    = "discrete"
	ParamCategorical = "categorical"
)

// Param is one hyperparameter's search space.
type Param struct {
	Name string
	Type string
	// Min, Max and Step bound double and int parameters; Step is optional.
	Min, Max, Step string
	// List holds the values of discrete and categorical parameters.
	List []string
}

// ParseParam parses "name=double:0.001:0.1[:step]", "name=int:1:5[:step]",
// "name=discrete:0.5,0.9,0.99" or "name=categorical:sgd,adam".
func ParseParam(s string) (Param, error) {
	name, spec, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return Param{}, sdkerr.New(sdkerr.Usage, "--param %q: expected name=type:..., e.g. lr=double:0.001:0.1", s)
	}
	return ParseDomain(name, spec)
}

// ParseDomain parses a parameter's domain, "double:0.001:0.1[:step]" and the like, and checks
// it: min below max, a positive step no larger than the range, integers for int, numbers for
// discrete, non-empty lists without repeats.
func ParseDomain(name, spec string) (Param, error) {
	bad := func(format string, args ...any) (Param, error) {
		return Param{}, sdkerr.New(sdkerr.Usage, "parameter %s: %s", name, fmt.Sprintf(format, args...))
	}
	if !validParamName(name) {
		return bad("not a valid name; use letters, digits, '_', '-' and '.', starting with a letter or '_'")
	}
	typ, rest, _ := strings.Cut(spec, ":")
	p := Param{Name: name, Type: typ}
	switch typ {
	case ParamDouble, ParamInt:
		parts := strings.Split(rest, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return bad("%s needs min:max or min:max:step, got %q", typ, rest)
		}
		nums := make([]float64, len(parts))
		for i, part := range parts {
			v, err := parseNumber(typ, part)
			if err != nil {
				return bad("%q is not %s", part, map[string]string{ParamDouble: "a number", ParamInt: "an integer"}[typ])
			}
			nums[i] = v
		}
		if nums[0] >= nums[1] {
			return bad("min %s must be less than max %s", parts[0], parts[1])
		}
		p.Min, p.Max = parts[0], parts[1]
		if len(parts) == 3 {
			if nums[2] <= 0 || nums[2] > nums[1]-nums[0] {
				return bad("step %s must be positive and at most max - min", parts[2])
			}
			p.Step = parts[2]
		}
	case ParamDiscrete, ParamCategorical:
		if rest == "" {
			return bad("%s needs a list of values, e.g. %s:a,b", typ, typ)
		}
		p.List = strings.Split(rest, ",")
		seen := map[string]bool{}
		for _, v := range p.List {
			if strings.TrimSpace(v) == "" {
				return bad("an empty value in %q", rest)
			}
			if typ == ParamDiscrete {
				if _, err := parseNumber(ParamDouble, v); err != nil {
					return bad("discrete values must be numbers, got %q (use categorical for strings)", v)
				}
			}
			if seen[v] {
				return bad("%q is listed twice", v)
			}
			seen[v] = true
			if err := trialValue(v); err != nil {
				return bad("%v", err)
			}
		}
	default:
		return bad("type %q is not supported; use double, int, discrete or categorical", typ)
	}
	return p, nil
}

func parseNumber(typ, s string) (float64, error) {
	if typ == ParamInt {
		i, err := strconv.ParseInt(s, 10, 64)
		return float64(i), err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return 0, fmt.Errorf("not finite")
	}
	return f, err
}

func validParamName(s string) bool {
	if s == "" || !(s[0] == '_' || ('a' <= s[0] && s[0] <= 'z') || ('A' <= s[0] && s[0] <= 'Z')) {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			return false
		}
	}
	return true
}

// combinations counts a grid's points: each parameter's values (from its step, or its list).
func (p Param) combinations() (int, bool) {
	switch p.Type {
	case ParamDiscrete, ParamCategorical:
		return len(p.List), true
	case ParamInt:
		step := 1.0
		if p.Step != "" {
			step, _ = strconv.ParseFloat(p.Step, 64)
		}
		lo, _ := strconv.ParseFloat(p.Min, 64)
		hi, _ := strconv.ParseFloat(p.Max, 64)
		return int(math.Floor((hi-lo)/step)) + 1, true
	case ParamDouble:
		if p.Step == "" {
			return 0, false
		}
		lo, _ := strconv.ParseFloat(p.Min, 64)
		hi, _ := strconv.ParseFloat(p.Max, 64)
		step, _ := strconv.ParseFloat(p.Step, 64)
		return int(math.Floor((hi-lo)/step+1e-9)) + 1, true
	}
	return 0, false
}

// algorithmSettings lists the settings each Katib algorithm takes, and the required ones.
var algorithmSettings = map[string]struct{ known, required []string }{
	"random":               {known: []string{"random_state"}},
	"grid":                 {},
	"bayesianoptimization": {known: []string{"base_estimator", "n_initial_points", "acq_func", "acq_optimizer", "random_state"}},
	"tpe":                  {known: []string{"n_startup_trials", "n_ei_candidates", "random_state"}},
	"multivariate-tpe":     {known: []string{"n_startup_trials", "n_ei_candidates", "random_state"}},
	"cmaes":                {known: []string{"random_state", "sigma", "restart_strategy"}},
	"sobol":                {},
	"hyperband":            {known: []string{"resource_name", "eta", "r_l"}, required: []string{"resource_name", "r_l"}},
	"pbt":                  {known: []string{"suggestion_trial_dir", "n_population", "truncation_threshold", "resample_probability"}, required: []string{"n_population", "truncation_threshold"}},
}

// Algorithms lists the search algorithms Katib ships.
func Algorithms() []string {
	out := make([]string, 0, len(algorithmSettings))
	for a := range algorithmSettings {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Search is a tuning run's search: its space, algorithm and trial counts.
type Search struct {
	Params            []Param
	Algorithm         string
	AlgorithmSettings map[string]string
	Trials            int
	ParallelTrials    int
	FailedTrials      int
	// EarlyStopping is Katib's early stopping algorithm (EarlyStoppingMedian), or empty.
	EarlyStopping         string
	EarlyStoppingSettings map[string]string
}

// EarlyStoppingMedian is Katib's one early stopping algorithm: a trial whose running average
// of the objective, after start_step reports, trails the median of min_trials_required
// succeeded trials is stopped.
const EarlyStoppingMedian = "medianstop"

// EarlyStoppingNone, given as --early-stopping, turns off kaptain.yaml's early stopping.
const EarlyStoppingNone = "none"

// earlyStoppingSettings are medianstop's settings and the least value of each (Katib's
// medianstop service refuses the rest).
var earlyStoppingSettings = map[string]int{"min_trials_required": 1, "start_step": 1}

// Validate checks the search as Katib would, before anything is created: an algorithm Katib
// ships (else UnsupportedAlgorithm, listing them), its settings, its constraints on the space,
// and the trial counts.
func (s Search) Validate() error {
	usage := func(format string, args ...any) error { return sdkerr.New(sdkerr.Usage, format, args...) }
	if len(s.Params) == 0 {
		return usage("tune needs a search space: --param name=double:min:max (or int, discrete, categorical), or tune.parameters in kaptain.yaml")
	}
	names := map[string]bool{}
	for _, p := range s.Params {
		if names[p.Name] {
			return usage("parameter %s is given twice", p.Name)
		}
		names[p.Name] = true
		for _, v := range p.List {
			if err := trialValue(v); err != nil {
				return usage("parameter %s: %v", p.Name, err)
			}
		}
	}
	rules, ok := algorithmSettings[s.Algorithm]
	if !ok {
		return sdkerr.New(sdkerr.UnsupportedAlgorithm, "algorithm %q is not supported; use one of: %s", s.Algorithm, strings.Join(Algorithms(), ", "))
	}
	for k := range s.AlgorithmSettings {
		if !slices.Contains(rules.known, k) {
			known := "none"
			if len(rules.known) > 0 {
				known = strings.Join(rules.known, ", ")
			}
			return usage("--algorithm-setting %s is not a setting of %s; its settings: %s", k, s.Algorithm, known)
		}
	}
	for _, k := range rules.required {
		if s.AlgorithmSettings[k] == "" {
			return usage("%s needs --algorithm-setting %s=...", s.Algorithm, k)
		}
	}
	switch {
	case s.Trials < 1:
		return usage("--trials must be 1 or more, got %d", s.Trials)
	case s.ParallelTrials < 1 || s.ParallelTrials > s.Trials:
		return usage("--parallel-trials must be between 1 and --trials (%d), got %d", s.Trials, s.ParallelTrials)
	case s.FailedTrials < 0 || s.FailedTrials > s.Trials:
		return usage("--failed-trials must be between 0 and --trials (%d), got %d", s.Trials, s.FailedTrials)
	}
	if err := s.validateEarlyStopping(); err != nil {
		return err
	}
	switch s.Algorithm {
	case "grid":
		total := 1
		for _, p := range s.Params {
			n, finite := p.combinations()
			if !finite {
				return usage("grid needs a step on double parameter %s, e.g. %s=double:%s:%s:0.01", p.Name, p.Name, p.Min, p.Max)
			}
			total *= n
			if total > 1_000_000 {
				break
			}
		}
		if s.Trials > total {
			return usage("grid has %d combinations, fewer than --trials %d; lower --trials or widen the space", total, s.Trials)
		}
	case "cmaes":
		numeric := 0
		for _, p := range s.Params {
			if p.Type == ParamDouble || p.Type == ParamInt {
				numeric++
			}
		}
		if numeric < 2 {
			return usage("cmaes needs two or more double or int parameters, got %d", numeric)
		}
	case "hyperband":
		r := s.AlgorithmSettings["resource_name"]
		if !names[r] {
			return usage("hyperband's resource_name %q must name a parameter", r)
		}
		if v, err := strconv.ParseFloat(s.AlgorithmSettings["r_l"], 64); err != nil || v <= 0 {
			return usage("hyperband's r_l must be a positive number")
		}
		if eta, ok := s.AlgorithmSettings["eta"]; ok {
			if v, err := strconv.ParseFloat(eta, 64); err != nil || v <= 1 {
				return usage("hyperband's eta must be a number above 1")
			}
		}
	case "pbt":
		if n, err := strconv.Atoi(s.AlgorithmSettings["n_population"]); err != nil || n < 5 {
			return usage("pbt's n_population must be an integer of 5 or more")
		}
		if v, err := strconv.ParseFloat(s.AlgorithmSettings["truncation_threshold"], 64); err != nil || v <= 0 || v >= 1 {
			return usage("pbt's truncation_threshold must be between 0 and 1")
		}
		if rp, ok := s.AlgorithmSettings["resample_probability"]; ok {
			if v, err := strconv.ParseFloat(rp, 64); err != nil || v < 0 || v > 1 {
				return usage("pbt's resample_probability must be between 0 and 1")
			}
		}
	}
	return nil
}

// validateEarlyStopping checks the early stopping algorithm and its settings as Katib's
// medianstop service does (known names, integers at or above their least value), and that
// min_trials_required can be reached within the trials.
func (s Search) validateEarlyStopping() error {
	usage := func(format string, args ...any) error { return sdkerr.New(sdkerr.Usage, format, args...) }
	if s.EarlyStopping == "" {
		if len(s.EarlyStoppingSettings) > 0 {
			return usage("--early-stopping-setting needs --early-stopping %s (or tune.earlyStopping in kaptain.yaml)", EarlyStoppingMedian)
		}
		return nil
	}
	if s.EarlyStopping != EarlyStoppingMedian {
		return sdkerr.New(sdkerr.UnsupportedAlgorithm, "early stopping algorithm %q is not supported; Katib ships %s", s.EarlyStopping, EarlyStoppingMedian)
	}
	for _, k := range slices.Sorted(maps.Keys(s.EarlyStoppingSettings)) {
		least, known := earlyStoppingSettings[k]
		if !known {
			return usage("--early-stopping-setting %s is not a setting of %s; its settings: %s", k, s.EarlyStopping,
				strings.Join(slices.Sorted(maps.Keys(earlyStoppingSettings)), ", "))
		}
		v, err := strconv.Atoi(s.EarlyStoppingSettings[k])
		if err != nil || v < least {
			return usage("--early-stopping-setting %s=%s: %s's %s must be an integer of %d or more", k, s.EarlyStoppingSettings[k], s.EarlyStopping, k, least)
		}
	}
	if v, ok := s.EarlyStoppingSettings["min_trials_required"]; ok {
		if n, _ := strconv.Atoi(v); n >= s.Trials {
			return usage("--early-stopping-setting min_trials_required=%d: %s waits for that many succeeded trials before it stops any, and --trials is %d; lower it or raise --trials", n, s.EarlyStopping, s.Trials)
		}
	}
	return nil
}

// trialValue checks that a searched value reaches the trainer as given (see unsafeTrialRune).
func trialValue(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("value %q is not UTF-8 text", v)
	}
	if i := strings.IndexFunc(v, unsafeTrialRune); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		return fmt.Errorf("value %q holds %q, which Katib would break on: it substitutes a trial's values as raw text into the trial's JSON and after kaptain escaped the pod's $(VAR) references, and its StdOut collector runs the trainer's command line through a shell, where kaptain single-quotes each argument; use values without quotes, backslashes, $ or control characters", v, r)
	}
	return nil
}

// unsafeTrialRune reports the characters a searched value may not hold: quotes and
// backslashes (they would end the single-quoted shell word the value is substituted into, or
// break the JSON Katib substitutes it in), $ (the kubelet would expand $(VAR) from the
// container's environment: Katib substitutes after kaptain escaped it) and control characters.
func unsafeTrialRune(r rune) bool {
	return r == '\'' || r == '"' || r == '\\' || r == '$' || unicode.IsControl(r)
}
