package plugin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/local"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// validateLocal checks what a local tune runs: an algorithm of the local library, no early
// stopping (Katib's medianstop service has no local twin), the replicas of each trial.
func (o *TuneOptions) validateLocal() error {
	if err := validateLocalWorkers(o.Workers, o.model.Spec.Framework); err != nil {
		return err
	}
	if a := o.tune.Search.Algorithm; slices.Contains(workload.Algorithms(), a) {
		// An algorithm Katib does not ship is refused by Search.Validate, naming Katib's.
		if err := local.CheckAlgorithm(a); err != nil {
			return err
		}
	}
	if o.tune.Search.EarlyStopping != "" {
		return sdkerr.New(sdkerr.Usage, "early stopping (%s) runs only in Katib; a local tune runs every trial to its end (--early-stopping %s turns kaptain.yaml's off)", o.tune.Search.EarlyStopping, workload.EarlyStoppingNone)
	}
	return nil
}

// runLocal runs the search here: each trial the main file's processes in its own copy of the
// image's files, with the trial's values over the fixed hyperparameters, as a Katib trial's
// job would run it.
func (o *TuneOptions) runLocal(ctx context.Context) error {
	m, progress := o.model, o.deps.progress()
	study, err := local.NewStudy(o.tune.Search, o.tune.ObjectiveType)
	if err != nil {
		return err
	}
	r, err := o.Local.prepare(ctx, o.deps, m)
	if err != nil {
		return err
	}
	s := o.tune.Search
	progress.Printf("tuning %s here: %d trials, %d at a time, %s; each trial runs %s as %s, in a copy of the image's %s",
		m.Spec.ID, s.Trials, s.ParallelTrials, s.Algorithm, m.Spec.MainFile, replicas(o.Workers), files(len(r.inputs.Files)))
	tuner := &local.Tuner{
		Study: study, Trials: s.Trials, Parallel: s.ParallelTrials, FailedTrials: s.FailedTrials,
		Metrics: o.tune.Objectives, ObjectiveType: o.tune.ObjectiveType, Goal: o.tune.Goal,
		Run: func(ctx context.Context, name string, params map[string]string, line func(string)) error {
			upload, err := r.uploadPath("tuned", o.revision, name)
			if err != nil {
				return err
			}
			hyper := maps.Clone(o.tune.Train.Hyperparameters)
			if hyper == nil {
				hyper = map[string]any{}
			}
			for k, v := range params {
				hyper[k] = v
			}
			procs, err := r.processes(o.Workers, hyper, o.tune.Train.Args, workload.PhaseTuning, upload)
			if err != nil {
				return err
			}
			dir, remove, err := r.workdir()
			if err != nil {
				return err
			}
			defer remove()
			return local.Runner{Dir: dir, Line: line}.Run(ctx, procs)
		},
		Ended: func(t local.Trial) {
			progress.Printf("%s", trialLine(t, o.tune.Objectives))
		},
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	exp, err := tuner.Tune(ctx)
	if err != nil {
		return localError(ctx, err, "the local tune")
	}
	st := localExperimentState(exp, s.Trials, o.tune.Objectives)
	if exp.Failed() {
		return sdkerr.New(sdkerr.JobFailed, "the local tune failed: %d trials failed or reported no %s (--failed-trials %d)", st.Failed+st.NoMetrics, o.tune.Objectives[0], s.FailedTrials)
	}
	if exp.Best < 0 {
		return sdkerr.New(sdkerr.JobFailed, "no trial reported %s; print it as a %s=VALUE line", o.tune.Objectives[0], o.tune.Objectives[0])
	}
	upload, err := r.uploadPath("tuned", o.revision, st.BestTrial)
	if err != nil {
		return err
	}
	then := "tuned here, not recorded in the model's history; train with them: kubectl kaptain train"
	for _, k := range slices.Sorted(maps.Keys(st.BestParams)) {
		then += " -p " + k + "=" + st.BestParams[k]
	}
	return o.printBest(st, localRanking(exp, o.tune.Objectives[0], o.tune.ObjectiveType), upload, then)
}

// trialLine is a trial's progress line: its state, metrics and hyperparameters, and for a
// failed one how it ended.
func trialLine(t local.Trial, metrics []string) string {
	var parts []string
	for _, name := range metrics {
		if obs, ok := t.Metrics[name]; ok {
			parts = append(parts, name+"="+strconv.FormatFloat(obs.Latest, 'g', -1, 64))
		}
	}
	var params []string
	for _, k := range slices.Sorted(maps.Keys(t.Params)) {
		params = append(params, k+"="+t.Params[k])
	}
	line := fmt.Sprintf("%s %s", t.Name, t.State)
	if len(parts) > 0 {
		line += ": " + strings.Join(parts, " ")
	}
	line += " (" + strings.Join(params, " ") + ")"
	switch t.State {
	case local.TrialFailed:
		line += ": " + t.Err.Error()
	case local.TrialMetricsUnavailable:
		line += ": it printed no " + metrics[0] + "=VALUE line"
	}
	return line
}

// localExperimentState summarises a local tune as an Experiment's status would.
func localExperimentState(exp local.Experiment, trials int, metrics []string) workload.ExperimentState {
	st := workload.ExperimentState{Phase: "Succeeded", Max: int64(trials), BestParams: map[string]string{}, BestMetrics: map[string]string{}}
	if exp.Failed() {
		st.Phase = "Failed"
	}
	st.Trials = int64(len(exp.Trials))
	st.Succeeded, st.Failed = int64(exp.Count(local.TrialSucceeded)), int64(exp.Count(local.TrialFailed))
	st.NoMetrics = int64(exp.Count(local.TrialMetricsUnavailable))
	if exp.Best >= 0 {
		best := exp.Trials[exp.Best]
		st.BestTrial, st.BestParams = best.Name, maps.Clone(best.Params)
		for _, name := range metrics {
			if obs, ok := best.Metrics[name]; ok {
				st.BestMetrics[name] = strconv.FormatFloat(obs.Latest, 'g', -1, 64)
			}
		}
	}
	return st
}
