package workload

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// Katib facts.
const (
	KatibGroupVersion = "kubeflow.org/v1beta1"
	KindExperiment    = "Experiment"
	// trialNameParameter carries each trial's name into its spec, for the upload path.
	trialNameParameter = "trialName"
)

// MaxExperimentName is the longest name of an Experiment whose trials' jobs may have names of
// maxJobName characters: Katib names a trial <experiment>-<8 characters>, and its webhook
// refuses Experiment names over 40 characters.
func MaxExperimentName(maxJobName int) int {
	return min(40, maxJobName-len("-12345678"))
}

// Tune holds what an Experiment needs beyond the model.
type Tune struct {
	Name     string
	Revision string
	Search   Search
	// Objectives are metric names; the first is the objective, the others are recorded.
	Objectives    []string
	ObjectiveType string // maximize or minimize
	Goal          *float64
	// Train describes each trial's job; its hyperparameters are the fixed ones (those not
	// searched), its Name and Revision are ignored.
	Train Train
	// Kind is each trial's training kind.
	Kind TrainingKind
}

// Experiment returns the Katib Experiment that tunes m, and the companions its trials' jobs
// need (which it owns): each trial is the job of t.Kind that train renders, with the
// searched hyperparameters as ${trialParameters.x} arguments, the tuning phase and the
// trial's own upload path, and the StdOut metrics collector reading the name=value lines it
// prints on the kind's primary pod.
func Experiment(m *model.Model, t Tune) (*unstructured.Unstructured, []*unstructured.Unstructured, error) {
	if err := t.Search.Validate(); err != nil {
		return nil, nil, err
	}
	if len(t.Objectives) == 0 {
		return nil, nil, fmt.Errorf("building experiment: no objective")
	}
	if t.ObjectiveType != "maximize" && t.ObjectiveType != "minimize" {
		return nil, nil, fmt.Errorf("building experiment: objective type %q is not maximize or minimize", t.ObjectiveType)
	}
	if t.Kind == nil {
		return nil, nil, fmt.Errorf("building experiment: no training kind for the trials")
	}
	params := map[string]any{}
	maps.Copy(params, t.Train.Hyperparameters)
	var parameters, trialParameters []any
	for _, p := range t.Search.Params {
		params[p.Name] = "${trialParameters." + p.Name + "}"
		space := map[string]any{}
		if p.Min != "" {
			space["min"], space["max"] = p.Min, p.Max
		}
		if p.Step != "" {
			space["step"] = p.Step
		}
		if len(p.List) > 0 {
			list := make([]any, len(p.List))
			for i, v := range p.List {
				list[i] = v
			}
			space["list"] = list
		}
		parameters = append(parameters, map[string]any{"name": p.Name, "parameterType": p.Type, "feasibleSpace": space})
		trialParameters = append(trialParameters, map[string]any{"name": p.Name, "reference": p.Name, "description": "searched " + p.Type + " hyperparameter"})
	}
	trialParameters = append(trialParameters, map[string]any{"name": trialNameParameter, "reference": "${trialSpec.Name}", "description": "the trial's name, for its upload path"})

	train := t.Train
	train.Name, train.Owner = "trial", t.Name
	train.Hyperparameters = params
	train.Phase, train.UploadPath = PhaseTuning, m.TunedURI(t.Revision, katibPlaceholder+trialNameParameter+"}")
	// The StdOut collector below runs the trainer's command line through a shell.
	train.Shell = true
	job, companions, err := t.Kind.Build(m, train)
	if err != nil {
		return nil, nil, err
	}
	trialSpec := job.Object
	// A trial's job is named by Katib; kaptain's labels and annotations go on it by render.
	metadata, _ := trialSpec["metadata"].(map[string]any)
	delete(metadata, "name")
	if len(metadata) == 0 {
		delete(trialSpec, "metadata")
	}
	trial := t.Kind.Trial()

	algorithm := map[string]any{"algorithmName": t.Search.Algorithm}
	if settings := nameValues(t.Search.AlgorithmSettings); len(settings) > 0 {
		algorithm["algorithmSettings"] = settings
	}
	objective := map[string]any{"type": t.ObjectiveType, "objectiveMetricName": t.Objectives[0]}
	if len(t.Objectives) > 1 {
		extra := make([]any, 0, len(t.Objectives)-1)
		for _, o := range t.Objectives[1:] {
			extra = append(extra, o)
		}
		objective["additionalMetricNames"] = extra
	}
	if t.Goal != nil {
		objective["goal"] = *t.Goal
	}
	exp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": KatibGroupVersion,
		"kind":       KindExperiment,
		"metadata":   map[string]any{"name": t.Name},
		"spec": map[string]any{
			"objective":            objective,
			"algorithm":            algorithm,
			"parameters":           parameters,
			"maxTrialCount":        int64(t.Search.Trials),
			"parallelTrialCount":   int64(t.Search.ParallelTrials),
			"maxFailedTrialCount":  int64(t.Search.FailedTrials),
			"metricsCollectorSpec": map[string]any{"collector": map[string]any{"kind": "StdOut"}},
			"trialTemplate": map[string]any{
				"primaryContainerName": trial.PrimaryContainer,
				"successCondition":     trial.Success,
				"failureCondition":     trial.Failure,
				"trialParameters":      trialParameters,
				"trialSpec":            trialSpec,
			},
		},
	}}
	if es := t.Search.EarlyStopping; es != "" {
		early := map[string]any{"algorithmName": es}
		if settings := nameValues(t.Search.EarlyStoppingSettings); len(settings) > 0 {
			early["algorithmSettings"] = settings
		}
		_ = unstructured.SetNestedMap(exp.Object, early, "spec", "earlyStopping")
	}
	if len(trial.PrimaryPodLabels) > 0 {
		_ = unstructured.SetNestedStringMap(exp.Object, trial.PrimaryPodLabels, "spec", "trialTemplate", "primaryPodLabels")
	}
	return exp, companions, nil
}

// nameValues is Katib's list of settings, [{name, value}], sorted by name.
func nameValues(m map[string]string) []any {
	var out []any
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, map[string]any{"name": k, "value": m[k]})
	}
	return out
}

// ExperimentState summarises an Experiment's status.
type ExperimentState struct {
	Phase                                   string // Created, Running, Succeeded, Failed
	Message                                 string
	Trials, Succeeded, Failed, Running, Max int64
	// EarlyStopped counts the trials Katib's early stopping ended; NoMetrics those that
	// ended without reporting their metrics (Katib's MetricsUnavailable).
	EarlyStopped, NoMetrics int64
	// Parallel is the experiment's parallelTrialCount (Katib's default, 3, when unset).
	Parallel    int64
	BestTrial   string
	BestParams  map[string]string
	BestMetrics map[string]string
}

// BestObjective is the objective metric's value in the experiment's best trial so far,
// "accuracy=0.98"; "" when there is none yet.
func BestObjective(exp *unstructured.Unstructured) string {
	metric, _, _ := unstructured.NestedString(exp.Object, "spec", "objective", "objectiveMetricName")
	v, ok := ExperimentStateOf(exp).BestMetrics[metric]
	if !ok || metric == "" {
		return ""
	}
	return metric + "=" + v
}

// Finished reports whether the experiment ended.
func (s ExperimentState) Finished() bool { return s.Phase == "Succeeded" || s.Phase == "Failed" }

// katibDefaultParallelTrials is Katib's default parallelTrialCount.
const katibDefaultParallelTrials = 3

// MetricsMissing reports whether the experiment cannot find a best trial: the first round of
// trials (as many as run in parallel, or all of them) ended without reporting metrics and none
// reported any. The trainer prints no "name=value" lines, or the metrics collector was not
// injected; later trials would end the same way.
func (s ExperimentState) MetricsMissing() bool {
	round := s.Parallel
	if round <= 0 {
		round = katibDefaultParallelTrials
	}
	if s.Max > 0 {
		round = min(round, s.Max)
	}
	return !s.Finished() && s.NoMetrics >= round && s.Succeeded == 0 && s.EarlyStopped == 0
}

// String is the progress line of the state.
func (s ExperimentState) String() string {
	stopped := ""
	if s.EarlyStopped > 0 {
		stopped = fmt.Sprintf(", %d stopped early", s.EarlyStopped)
	}
	if s.NoMetrics > 0 {
		stopped += fmt.Sprintf(", %d without metrics", s.NoMetrics)
	}
	line := fmt.Sprintf("%s: %d succeeded%s, %d failed, %d running of %d trials", s.Phase, s.Succeeded, stopped, s.Failed, s.Running, s.Max)
	if s.BestTrial != "" {
		var metrics, params []string
		for _, k := range slices.Sorted(maps.Keys(s.BestMetrics)) {
			metrics = append(metrics, k+"="+s.BestMetrics[k])
		}
		for _, k := range slices.Sorted(maps.Keys(s.BestParams)) {
			params = append(params, k+"="+s.BestParams[k])
		}
		line += fmt.Sprintf("; best %s (%s) with %s", strings.Join(metrics, " "), s.BestTrial, strings.Join(params, " "))
	}
	return line
}

// ExperimentStateOf reads an Experiment's state.
func ExperimentStateOf(exp *unstructured.Unstructured) ExperimentState {
	st := ExperimentState{Phase: "Pending", BestParams: map[string]string{}, BestMetrics: map[string]string{}}
	st.Max, _, _ = unstructured.NestedInt64(exp.Object, "spec", "maxTrialCount")
	st.Parallel, _, _ = unstructured.NestedInt64(exp.Object, "spec", "parallelTrialCount")
	for field, dst := range map[string]*int64{"trials": &st.Trials, "trialsSucceeded": &st.Succeeded, "trialsFailed": &st.Failed, "trialsRunning": &st.Running,
		"trialsEarlyStopped": &st.EarlyStopped, "trialMetricsUnavailable": &st.NoMetrics} {
		*dst, _, _ = unstructured.NestedInt64(exp.Object, "status", field)
	}
	conditions, _, _ := unstructured.NestedSlice(exp.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok || cond["status"] != "True" {
			continue
		}
		typ := fmt.Sprint(cond["type"])
		if st.Finished() && typ != "Succeeded" && typ != "Failed" {
			continue
		}
		st.Phase = typ
		st.Message, _ = cond["message"].(string)
	}
	best, _, _ := unstructured.NestedMap(exp.Object, "status", "currentOptimalTrial")
	st.BestTrial, _, _ = unstructured.NestedString(best, "bestTrialName")
	params, _, _ := unstructured.NestedSlice(best, "parameterAssignments")
	for _, p := range params {
		if m, ok := p.(map[string]any); ok {
			st.BestParams[fmt.Sprint(m["name"])] = fmt.Sprint(m["value"])
		}
	}
	metrics, _, _ := unstructured.NestedSlice(best, "observation", "metrics")
	for _, m := range metrics {
		if mm, ok := m.(map[string]any); ok {
			v := mm["latest"]
			if v == nil {
				v = mm["value"]
			}
			st.BestMetrics[fmt.Sprint(mm["name"])] = fmt.Sprint(v)
		}
	}
	return st
}
