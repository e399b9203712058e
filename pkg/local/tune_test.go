package local

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

func search(t *testing.T, algorithm string, trials, parallel, failed int, params ...string) workload.Search {
	t.Helper()
	s := workload.Search{Algorithm: algorithm, AlgorithmSettings: map[string]string{}, Trials: trials, ParallelTrials: parallel, FailedTrials: failed}
	if algorithm == "random" || algorithm == "tpe" || algorithm == "cmaes" {
		s.AlgorithmSettings["random_state"] = "7"
	}
	for _, spec := range params {
		p, err := workload.ParseParam(spec)
		if err != nil {
			t.Fatal(err)
		}
		s.Params = append(s.Params, p)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// score is a trainer whose accuracy peaks at lr=0.3, momentum=0.9.
func score(params map[string]string) float64 {
	lr, _ := strconv.ParseFloat(params["lr"], 64)
	m, _ := strconv.ParseFloat(params["momentum"], 64)
	return 1 - (lr-0.3)*(lr-0.3) - (m-0.9)*(m-0.9)
}

func printScore(_ context.Context, _ string, params map[string]string, line func(string)) error {
	line(fmt.Sprintf("epoch=1 accuracy=%g", score(params)-0.5))
	line(fmt.Sprintf("epoch=2 accuracy=%g", score(params)))
	return nil
}

func TestTuneFindsTheBest(t *testing.T) {
	for _, algorithm := range Algorithms() {
		t.Run(algorithm, func(t *testing.T) {
			study, err := NewStudy(search(t, algorithm, 30, 3, 3, "lr=double:0.01:0.5", "momentum=double:0.5:0.99"), "maximize")
			if err != nil {
				t.Fatal(err)
			}
			var running, most atomic.Int32
			tuner := &Tuner{Study: study, Trials: 30, Parallel: 3, FailedTrials: 3, Metrics: []string{"accuracy"}, ObjectiveType: "maximize",
				Run: func(ctx context.Context, name string, params map[string]string, line func(string)) error {
					n := running.Add(1)
					defer running.Add(-1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() { //nolint:revive // the loop is the compare-and-swap retry
					}
					time.Sleep(time.Millisecond)
					return printScore(ctx, name, params, line)
				}}
			exp, err := tuner.Tune(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if exp.Reason != ReasonMaxTrials || len(exp.Trials) != 30 || exp.Count(TrialSucceeded) != 30 {
				t.Fatalf("ended %s after %d trials, %d succeeded; want 30 succeeded", exp.Reason, len(exp.Trials), exp.Count(TrialSucceeded))
			}
			if most.Load() > 3 {
				t.Errorf("%d trials ran at once, want at most 3", most.Load())
			}
			best := exp.Trials[exp.Best]
			got, _ := best.Objective("accuracy", "maximize")
			for _, tr := range exp.Trials {
				if v, _ := tr.Objective("accuracy", "maximize"); v > got {
					t.Errorf("best is %s (%v), but %s scored %v", best.Name, got, tr.Name, v)
				}
				lr, _ := strconv.ParseFloat(tr.Params["lr"], 64)
				if lr < 0.01 || lr > 0.5 {
					t.Errorf("%s: lr %v outside the space", tr.Name, lr)
				}
			}
			// The objective is the greatest report (Katib's max strategy), not the first.
			if want := score(best.Params); math.Abs(got-want) > 1e-9 {
				t.Errorf("objective %v, want the trial's best report %v", got, want)
			}
			if got < 0.97 {
				t.Errorf("best accuracy %v after 30 trials, want at least 0.97 (peak 1 at lr=0.3, momentum=0.9)", got)
			}
		})
	}
}

func TestTuneGoalEndsEarly(t *testing.T) {
	study, err := NewStudy(search(t, "random", 50, 1, 3, "lr=double:0.01:0.5", "momentum=double:0.5:0.99"), "maximize")
	if err != nil {
		t.Fatal(err)
	}
	goal := 0.9
	exp, err := (&Tuner{Study: study, Trials: 50, Parallel: 1, FailedTrials: 3, Metrics: []string{"accuracy"}, ObjectiveType: "maximize", Goal: &goal, Run: printScore}).Tune(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	best, _ := exp.Trials[exp.Best].Objective("accuracy", "maximize")
	if exp.Reason != ReasonGoalReached || len(exp.Trials) >= 50 || best < goal {
		t.Errorf("ended %s after %d trials with best %v; want the goal %v reached early", exp.Reason, len(exp.Trials), best, goal)
	}
	if last, _ := exp.Trials[len(exp.Trials)-1].Objective("accuracy", "maximize"); last < goal {
		t.Errorf("the last trial scored %v: the tune went on past the goal", last)
	}
}

func TestTuneMinimize(t *testing.T) {
	study, err := NewStudy(search(t, "tpe", 20, 2, 0, "lr=double:0.01:0.5"), "minimize")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := (&Tuner{Study: study, Trials: 20, Parallel: 2, FailedTrials: 0, Metrics: []string{"loss"}, ObjectiveType: "minimize",
		Run: func(_ context.Context, _ string, params map[string]string, line func(string)) error {
			lr, _ := strconv.ParseFloat(params["lr"], 64)
			line(fmt.Sprintf("loss=%g", (lr-0.2)*(lr-0.2)))
			return nil
		}}).Tune(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lr, _ := strconv.ParseFloat(exp.Trials[exp.Best].Params["lr"], 64)
	if math.Abs(lr-0.2) > 0.05 {
		t.Errorf("best lr %v, want near 0.2 where the loss is least", lr)
	}
}

func TestTuneFailures(t *testing.T) {
	study, err := NewStudy(search(t, "random", 10, 1, 2, "lr=double:0.01:0.5"), "maximize")
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	exp, err := (&Tuner{Study: study, Trials: 10, Parallel: 1, FailedTrials: 2, Metrics: []string{"accuracy"}, ObjectiveType: "maximize",
		Run: func(_ context.Context, _ string, _ map[string]string, line func(string)) error {
			calls++
			switch calls {
			case 1:
				line("accuracy=0.5")
				return nil
			case 2:
				line("no metric here")
				return nil
			}
			return &ExitError{Name: "worker-0", Err: errors.New("exit status 1")}
		}}).Tune(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Failed() || len(exp.Trials) != 3 || exp.Count(TrialMetricsUnavailable) != 1 || exp.Count(TrialFailed) != 1 || exp.Best != 0 {
		t.Errorf("ended %s after %d trials (%d without metrics, %d failed, best %d); want failed after the second failure, a metrics-less trial counted as one",
			exp.Reason, len(exp.Trials), exp.Count(TrialMetricsUnavailable), exp.Count(TrialFailed), exp.Best)
	}
}

func TestTuneInterrupted(t *testing.T) {
	study, err := NewStudy(search(t, "random", 10, 2, 2, "lr=double:0.01:0.5"), "maximize")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 10)
	go func() {
		<-started
		<-started
		cancel()
	}()
	exp, err := (&Tuner{Study: study, Trials: 10, Parallel: 2, FailedTrials: 2, Metrics: []string{"accuracy"}, ObjectiveType: "maximize",
		Run: func(ctx context.Context, _ string, _ map[string]string, _ func(string)) error {
			started <- struct{}{}
			<-ctx.Done()
			return context.Canceled
		}}).Tune(ctx)
	if !errors.Is(err, context.Canceled) || len(exp.Trials) != 2 || exp.Count(TrialKilled) != 2 {
		t.Errorf("Tune = %d trials (%d killed), %v; want the 2 running trials killed and context.Canceled", len(exp.Trials), exp.Count(TrialKilled), err)
	}
}

func TestNewStudyRefusesKatibOnly(t *testing.T) {
	s := search(t, "grid", 3, 1, 1, "lr=double:0.1:0.3:0.1")
	_, err := NewStudy(s, "maximize")
	if sdkerr.ClassOf(err) != sdkerr.UnsupportedAlgorithm || !strings.Contains(err.Error(), "cmaes, random, sobol, tpe") {
		t.Errorf("NewStudy(grid) = %v; want UnsupportedAlgorithm listing the local ones", err)
	}
}

func TestStudyValues(t *testing.T) {
	study, err := NewStudy(search(t, "random", 40, 1, 1, "lr=double:0.1:0.3:0.1", "layers=int:2:8:2", "m=discrete:0.5,0.9", "opt=categorical:sgd,adam"), "maximize")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]bool{}
	for range 40 {
		id, params, err := study.Ask()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range params {
			if seen[k] == nil {
				seen[k] = map[string]bool{}
			}
			seen[k][v] = true
		}
		if err := study.Tell(id, Succeeded, 1); err != nil {
			t.Fatal(err)
		}
	}
	// goptuna v0.8.0's random sampler, as Katib runs it, draws an int parameter below its max.
	for name, want := range map[string][]string{"lr": {"0.1", "0.2", "0.3"}, "layers": {"2", "4", "6"}, "m": {"0.5", "0.9"}, "opt": {"sgd", "adam"}} {
		if len(seen[name]) > len(want) {
			t.Errorf("%s took %v, want only %v", name, seen[name], want)
		}
		for _, v := range want {
			if !seen[name][v] {
				t.Errorf("%s never took %s in 40 trials (took %v)", name, v, seen[name])
			}
		}
	}
}
