package local

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// Trial states, as Katib names them.
const (
	TrialSucceeded          = "Succeeded"
	TrialFailed             = "Failed"
	TrialMetricsUnavailable = "MetricsUnavailable"
	TrialKilled             = "Killed"
)

// Trial is one trial of a local tune.
type Trial struct {
	// Name is trial-N, N counting from 1 in the order the trials started.
	Name   string
	Params map[string]string
	// State is one of the Trial* states.
	State string
	// Metrics are the observations of the metrics the trial reported.
	Metrics map[string]Observation
	// Err is how a failed trial ended (an *ExitError with its last lines).
	Err error
}

// Objective is the value the trial's objective metric took for the objective type.
func (t Trial) Objective(metric, objectiveType string) (float64, bool) {
	o, ok := t.Metrics[metric]
	if !ok {
		return 0, false
	}
	return o.Value(objectiveType), true
}

// Tuner runs a study's trials as Katib's experiment controller does: up to Parallel at once,
// Trials in all; the experiment succeeds when the best objective reaches Goal or every trial
// ended, and fails once FailedTrials trials failed or reported no objective (any failure when
// FailedTrials is 0).
type Tuner struct {
	Study         *Study
	Trials        int
	Parallel      int
	FailedTrials  int
	Metrics       []string // the objective first
	ObjectiveType string
	Goal          *float64
	// Run runs one trial's processes with the hyperparameters, each line of its primary
	// replica going to line; ctx ends when the experiment did.
	Run func(ctx context.Context, name string, params map[string]string, line func(string)) error
	// Ended, when set, is told of each trial as it ends, one at a time.
	Ended func(Trial)
}

// Experiment is how a local tune ended.
type Experiment struct {
	// Trials in the order they started.
	Trials []Trial
	// Best is the index in Trials of the best succeeded trial, -1 when there is none.
	Best int
	// Reason is why the experiment ended: GoalReached, MaxTrialsReached, MaxFailedTrialsReached.
	Reason string
}

// The reasons an experiment ends.
const (
	ReasonGoalReached     = "GoalReached"
	ReasonMaxTrials       = "MaxTrialsReached"
	ReasonMaxFailedTrials = "MaxFailedTrialsReached"
)

// Failed reports whether the experiment failed.
func (e Experiment) Failed() bool { return e.Reason == ReasonMaxFailedTrials }

// Count returns how many trials ended in the state.
func (e Experiment) Count(state string) int {
	n := 0
	for _, t := range e.Trials {
		if t.State == state {
			n++
		}
	}
	return n
}

// Tune runs the experiment. It returns ctx's error, with the trials so far, when ctx ended
// first; the running trials are stopped either way before it returns.
func (t *Tuner) Tune(ctx context.Context) (Experiment, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu      sync.Mutex
		exp     = Experiment{Best: -1}
		started int
		failed  int
		ended   bool
		wg      sync.WaitGroup
		errs    []error
	)
	objective := t.Metrics[0]
	better := func(a, b float64) bool {
		if t.ObjectiveType == "minimize" {
			return a < b
		}
		return a > b
	}
	reached := func(v float64) bool {
		if t.Goal == nil {
			return false
		}
		if t.ObjectiveType == "minimize" {
			return v <= *t.Goal
		}
		return v >= *t.Goal
	}
	finish := func(reason string) {
		if !ended {
			ended, exp.Reason = true, reason
			stop()
		}
	}
	worker := func() {
		defer wg.Done()
		for {
			mu.Lock()
			if ended || started >= t.Trials || ctx.Err() != nil {
				mu.Unlock()
				return
			}
			index := started
			started++
			id, params, err := t.Study.Ask()
			if err != nil {
				errs = append(errs, err)
				finish("")
				mu.Unlock()
				return
			}
			trial := Trial{Name: "trial-" + strconv.Itoa(index+1), Params: params}
			exp.Trials = append(exp.Trials, trial)
			mu.Unlock()

			metrics := NewMetrics(t.Metrics...)
			runErr := t.Run(ctx, trial.Name, params, metrics.Read)
			trial.Metrics = map[string]Observation{}
			for _, m := range t.Metrics {
				if o, ok := metrics.Observed(m); ok {
					trial.Metrics[m] = o
				}
			}
			value, reported := trial.Objective(objective, t.ObjectiveType)
			outcome := Failed
			switch {
			case errors.Is(runErr, context.Canceled):
				trial.State, outcome = TrialKilled, Killed
			case runErr != nil:
				trial.State, trial.Err = TrialFailed, runErr
			case !reported:
				trial.State = TrialMetricsUnavailable
			default:
				trial.State, outcome = TrialSucceeded, Succeeded
			}
			tellErr := t.Study.Tell(id, outcome, value)

			mu.Lock()
			exp.Trials[index] = trial
			if tellErr != nil {
				errs = append(errs, tellErr)
				finish("")
			}
			if outcome == Succeeded {
				if exp.Best < 0 || better(value, mustObjective(exp.Trials[exp.Best], objective, t.ObjectiveType)) {
					exp.Best = index
				}
				if reached(mustObjective(exp.Trials[exp.Best], objective, t.ObjectiveType)) {
					finish(ReasonGoalReached)
				}
			}
			if trial.State == TrialFailed || trial.State == TrialMetricsUnavailable {
				failed++
				if failed >= t.FailedTrials {
					finish(ReasonMaxFailedTrials)
				}
			}
			if t.Ended != nil {
				t.Ended(trial)
			}
			mu.Unlock()
		}
	}
	for range max(t.Parallel, 1) {
		wg.Add(1)
		go worker()
	}
	wg.Wait()
	if len(errs) > 0 {
		return exp, errors.Join(errs...)
	}
	if !ended {
		if ctx.Err() != nil {
			return exp, context.Canceled
		}
		exp.Reason = ReasonMaxTrials
	}
	return exp, nil
}

func mustObjective(t Trial, metric, objectiveType string) float64 {
	v, _ := t.Objective(metric, objectiveType)
	return v
}
