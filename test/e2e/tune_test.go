//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/test/harness"
)

var (
	experiments = harness.Experiments
	trials      = harness.Trials
	suggestions = harness.Suggestions
)

// katibNamespace creates a namespace labelled as Katib requires (Kubeflow profiles do).
func katibNamespace(t *testing.T) string {
	t.Helper()
	return labelledNamespace(t, map[string]string{harness.KatibNamespaceLabel: "enabled"})
}

// tuneResult is what tune -o json prints.
type tuneResult struct {
	Trial           string            `json:"trial"`
	Hyperparameters map[string]string `json:"hyperparameters"`
	Metrics         map[string]string `json:"metrics"`
	Trials          struct {
		Total, Succeeded, Failed int
	} `json:"trials"`
	Ranking []struct {
		Trial     string  `json:"trial"`
		State     string  `json:"state"`
		Objective float64 `json:"objective"`
	} `json:"ranking"`
}

// decodeTuneResult reads what tune -o json printed.
func decodeTuneResult(t *testing.T, stdout string) tuneResult {
	t.Helper()
	var res tuneResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("tune -o json: %v\n%s", err, stdout)
	}
	return res
}

// playedScore is what the local Katib's collector (katib-play) reports for a trial: the mean
// of each assignment's position in its feasible space (0 at min or the list's first value, 1
// at max or its last), the objective when maximised. The tests' oracle of the best trial.
func playedScore(t *testing.T, exp *unstructured.Unstructured, assignments map[string]string) float64 {
	t.Helper()
	params, _, _ := unstructured.NestedSlice(exp.Object, "spec", "parameters")
	var sum float64
	for _, p := range params {
		p := p.(map[string]any)
		name, _ := p["name"].(string)
		space, _ := p["feasibleSpace"].(map[string]any)
		v, ok := assignments[name]
		if !ok {
			t.Fatalf("no assignment of %s in %v", name, assignments)
		}
		if list, ok := space["list"].([]any); ok {
			sum += float64(slices.Index(list, any(v))) / float64(len(list)-1)
			continue
		}
		x, _ := strconv.ParseFloat(v, 64)
		lo, _ := strconv.ParseFloat(fmt.Sprint(space["min"]), 64)
		hi, _ := strconv.ParseFloat(fmt.Sprint(space["max"]), 64)
		sum += (x - lo) / (hi - lo)
	}
	return sum / float64(len(params))
}

// assignmentsOf returns a Trial's parameter assignments.
func assignmentsOf(trial unstructured.Unstructured) map[string]string {
	list, _, _ := unstructured.NestedSlice(trial.Object, "spec", "parameterAssignments")
	out := map[string]string{}
	for _, a := range list {
		a := a.(map[string]any)
		out[fmt.Sprint(a["name"])] = fmt.Sprint(a["value"])
	}
	return out
}

// observed returns the latest value Katib recorded for a Trial's metric.
func observed(trial unstructured.Unstructured, metric string) string {
	list, _, _ := unstructured.NestedSlice(trial.Object, "status", "observation", "metrics")
	for _, m := range list {
		m := m.(map[string]any)
		if m["name"] == metric {
			return fmt.Sprint(m["latest"])
		}
	}
	return ""
}

// onlyExperiment returns the namespace's one Experiment.
func onlyExperiment(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	list, err := suite.dynamic.Resource(experiments).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("experiments in %s: %v (%d)", ns, err, len(list.Items))
	}
	return &list.Items[0]
}

// conditionReason returns the reason of the condition of type typ when it is True.
func conditionReason(obj *unstructured.Unstructured, typ string) (string, bool) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		c := c.(map[string]any)
		if c["type"] == typ && c["status"] == "True" {
			return fmt.Sprint(c["reason"]), true
		}
	}
	return "", false
}

func TestTuneThroughKatib(t *testing.T) {
	for _, tc := range []struct{ algorithm, example, kind string }{
		{"random", "mnist-tensorflow", "TFJob"},
		{"tpe", "mnist-tensorflow", "TFJob"},
		// The cluster serves Trainer v2: the PyTorch example's trials are TrainJobs.
		{"sobol", "mnist-pytorch", "TrainJob"},
	} {
		algorithm := tc.algorithm
		t.Run(algorithm+"-"+tc.kind, func(t *testing.T) {
			ns := katibNamespace(t)
			dir := copyModel(t, tc.example, nil)
			start := time.Now()
			stdout, stderr, code := kaptain(t, dir, s3Env, "tune", "-n", ns, "--algorithm", algorithm,
				"--param", "lr=double:0.001:0.1", "--param", "layers=int:1:5", "--objective", "accuracy",
				"--trials", "4", "--parallel-trials", "2", "--workers", "1", small, "--timeout", "4m", "-o", "json")
			if code != 0 {
				t.Fatalf("tune: exit %d\n%s", code, stderr)
			}
			t.Logf("tune --algorithm %s: 4 trials in %s\n%s%s", algorithm, time.Since(start).Round(100*time.Millisecond), stderr, stdout)
			res := decodeTuneResult(t, stdout)
			exp := onlyExperiment(t, ns)
			if reason, ok := conditionReason(exp, "Succeeded"); !ok || reason != "ExperimentMaxTrialsReached" {
				t.Errorf("the experiment's Succeeded condition: %q %v", reason, ok)
			}
			list, err := suite.dynamic.Resource(trials).Namespace(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil || len(list.Items) != 4 {
				t.Fatalf("trials: %v (%d)", err, len(list.Items))
			}
			// Every trial's metric is what its assignments score (reported to the db-manager,
			// read back by Katib's trial controller), and the best is the highest (sobol's
			// symmetric points may tie: any of the tied trials).
			scores := map[string]float64{}
			bestScore := -1.0
			for _, trial := range list.Items {
				if kind, _, _ := unstructured.NestedString(trial.Object, "spec", "runSpec", "kind"); kind != tc.kind {
					t.Errorf("trial %s runs a %s, want a %s", trial.GetName(), kind, tc.kind)
				}
				score := playedScore(t, exp, assignmentsOf(trial))
				if got, want := observed(trial, "accuracy"), strconv.FormatFloat(score, 'f', 6, 64); got != want {
					t.Errorf("trial %s %v: Katib observed accuracy %s, played %s", trial.GetName(), assignmentsOf(trial), got, want)
				}
				scores[trial.GetName()] = score
				bestScore = max(bestScore, score)
			}
			// The ranking is every trial, best first, each with the score it played.
			if len(res.Ranking) != 4 || math.Abs(res.Ranking[0].Objective-bestScore) > 1e-6 { // Katib keeps 6 digits
				t.Errorf("tune ranked %+v, want the 4 trials with %v first", res.Ranking, bestScore)
			}
			for i, r := range res.Ranking {
				if score, ok := scores[r.Trial]; !ok || math.Abs(score-r.Objective) > 1e-6 || r.State != "Succeeded" || (i > 0 && r.Objective > res.Ranking[i-1].Objective) {
					t.Errorf("ranking %d: %+v, played %v", i, r, score)
				}
			}
			if score, ok := scores[res.Trial]; !ok || score < bestScore || res.Trials.Total != 4 || res.Trials.Succeeded != 4 {
				t.Errorf("tune printed best trial %s (played %v) of %d (%d succeeded), want one that played %v of 4", res.Trial, score, res.Trials.Total, res.Trials.Succeeded, bestScore)
			}
			for _, trial := range list.Items {
				if trial.GetName() == res.Trial {
					if want := assignmentsOf(trial); fmt.Sprint(want) != fmt.Sprint(res.Hyperparameters) {
						t.Errorf("tune printed %v, the best trial's assignments are %v", res.Hyperparameters, want)
					}
				}
			}
			if !strings.Contains(stderr, "Succeeded") || !strings.Contains(stderr, "best accuracy=") {
				t.Errorf("tune's progress:\n%s", stderr)
			}
			rec := modelRecord(t, dir, ns)
			if rec.State != track.Tuned || fmt.Sprint(rec.Hyperparameters["lr"]) != res.Hyperparameters["lr"] {
				t.Errorf("the model's record after tune: %s %v", rec.State, rec.Hyperparameters)
			}
			// The tune's entry keeps the best trial's metrics, which history -o wide shows.
			if last := rec.History[len(rec.History)-1]; last.Results["accuracy"] != res.Metrics["accuracy"] {
				t.Errorf("the tune's entry has results %v, want the best trial's %v", last.Results, res.Metrics)
			}
			if out, _, code := kaptain(t, dir, nil, "model", "history", "-n", ns, "-o", "wide"); code != 0 || !strings.Contains(out, "accuracy="+res.Metrics["accuracy"]) {
				t.Errorf("model history -o wide: exit %d\n%s", code, out)
			}
		})
	}
}

// modelRecord reads the model's record with model history.
func modelRecord(t *testing.T, dir, ns string) *track.Record {
	t.Helper()
	out, errOut, code := kaptain(t, dir, nil, "model", "history", "-n", ns, "-o", "json")
	if code != 0 {
		t.Fatalf("model history: exit %d\n%s", code, errOut)
	}
	rec := &track.Record{}
	if err := json.Unmarshal([]byte(out), rec); err != nil {
		t.Fatalf("model history -o json: %v\n%s", err, out)
	}
	return rec
}

func TestTuneGoalEndsTheExperimentEarly(t *testing.T) {
	ns := katibNamespace(t)
	dir := copyModel(t, "mnist-tensorflow", nil)
	stdout, stderr, code := kaptain(t, dir, s3Env, "tune", "-n", ns, "--param", "lr=double:0.001:0.1", "--param", "layers=int:1:5",
		"--objective", "accuracy", "--goal", "0.5", "--trials", "16", "--parallel-trials", "1", "--workers", "1", small, "--timeout", "4m", "-o", "json")
	if code != 0 {
		t.Fatalf("tune: exit %d\n%s", code, stderr)
	}
	res := decodeTuneResult(t, stdout)
	exp := onlyExperiment(t, ns)
	if reason, ok := conditionReason(exp, "Succeeded"); !ok || reason != "ExperimentGoalReached" {
		t.Errorf("the experiment's Succeeded condition: %q %v", reason, ok)
	}
	if v, _ := strconv.ParseFloat(res.Metrics["accuracy"], 64); v < 0.5 || res.Trials.Total >= 16 {
		t.Errorf("best accuracy %s after %d trials: want ≥ 0.5 before the 16th", res.Metrics["accuracy"], res.Trials.Total)
	}
	t.Logf("goal reached after %d trials", res.Trials.Total)
}

func TestTuneRefusesWhatKatibWouldRefuse(t *testing.T) {
	ns := katibNamespace(t)
	dir := copyModel(t, "mnist-tensorflow", nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--param", "lr=double:0.1:0.01"}, "min 0.1 must be less than max 0.01"},
		{[]string{"--param", "lr=double:0.001:0.1", "--trials", "4", "--parallel-trials", "8"}, "--parallel-trials must be between 1 and --trials (4), got 8"},
		{[]string{"--param", "lr=double:0.001:0.1", "--algorithm", "cmaes"}, "cmaes needs two or more"},
	} {
		args := append([]string{"tune", "-n", ns, "--objective", "accuracy"}, tc.args...)
		if _, stderr, code := kaptain(t, dir, s3Env, args...); code != sdkerr.Usage.ExitCode() || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q (want 2, %q)", tc.args, code, stderr, tc.want)
		}
	}
	if n := count(t, experiments, ns); n != 0 || len(secrets(t, ns)) != 0 {
		t.Fatalf("refused searches left %d experiments and Secrets %v", n, secrets(t, ns))
	}
	// Katib's own webhook refuses the second one: what the plugin renders, with more trials at
	// once than trials, sent as is.
	out, stderr, code := kaptain(t, dir, nil, "tune", "-n", ns, "--objective", "accuracy", "--param", "lr=double:0.001:0.1", "--trials", "4", "--dry-run=client", "-o", "yaml")
	if code != 0 {
		t.Fatalf("tune --dry-run=client: exit %d\n%s", code, stderr)
	}
	var exp *unstructured.Unstructured
	for _, doc := range strings.Split(out, "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err == nil && obj.GetKind() == "Experiment" {
			exp = obj
		}
	}
	if exp == nil {
		t.Fatalf("no Experiment in the dry run:\n%s", out)
	}
	// An algorithm this cluster's katib-config does not map to a suggestion service: Katib's
	// webhook refuses it, and tune says so.
	_, stderr, code = kaptain(t, dir, s3Env, "tune", "-n", ns, "--objective", "accuracy", "--param", "lr=double:0.001:0.1", "--param", "layers=int:1:5", "--algorithm", "bayesianoptimization", "--trials", "4")
	if code != sdkerr.WorkloadDeployment.ExitCode() || !strings.Contains(stderr, `denied the request: spec.algorithm.algorithmName: Invalid value: "bayesianoptimization"`) {
		t.Errorf("bayesianoptimization on a Katib without it: exit %d (want 11)\n%s", code, stderr)
	}
	if n := count(t, experiments, ns); n != 0 || len(secrets(t, ns)) != 0 {
		t.Errorf("the refused experiment left %d experiments and Secrets %v", n, secrets(t, ns))
	}
	_ = unstructured.SetNestedField(exp.Object, int64(8), "spec", "parallelTrialCount")
	_, err := suite.dynamic.Resource(experiments).Namespace(ns).Create(context.Background(), exp, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "denied the request") {
		t.Errorf("Katib's webhook on parallelTrialCount 8 of 4 trials: %v", err)
	}
}

func TestInterruptedTuneRemovesTheExperimentAndItsTrials(t *testing.T) {
	ns := katibNamespace(t)
	dir := copyModel(t, "mnist-tensorflow", nil)
	r := plugin().Start(t, dir, s3Env, "tune", "-n", ns, "--param", "lr=double:0.001:0.1", "--param", "layers=int:1:5",
		"--objective", "accuracy", "--trials", "16", "--parallel-trials", "2", "--workers", "1", small, "--timeout", "4m")
	r.WaitFor(t, " running of 16 trials", 2*time.Minute)
	eventually(t, "a trial's job", func() bool { return count(t, tfJobs, ns) > 0 })
	r.Interrupt(t)
	if code := r.Exit(t, time.Minute); code != sdkerr.Interrupted.ExitCode() {
		t.Fatalf("interrupted tune: exit %d\n%s", code, r.Stderr())
	}
	eventually(t, "the experiment, its trials, their jobs and the Secret removed", func() bool {
		return count(t, experiments, ns) == 0 && count(t, trials, ns) == 0 && count(t, tfJobs, ns) == 0 &&
			count(t, suggestions, ns) == 0 && len(secrets(t, ns)) == 0
	})
}

// TestTrialArgumentsSurviveKatibsShell runs trials whose categorical values hold a space and a
// shell command, then runs each trial pod's command (as Katib's pod webhook rewrote it for its
// StdOut collector) through sh, with a python on PATH that writes out its arguments.
func TestTrialArgumentsSurviveKatibsShell(t *testing.T) {
	ns := katibNamespace(t)
	dir := copyModel(t, "mnist-tensorflow", nil)
	_ = os.Remove("/tmp/pwned")
	// Katib deletes a finished trial's job and with it the pods: record them as they come.
	w, err := suite.client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	pods := map[string]corev1.Pod{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok {
				if _, seen := pods[pod.Name]; !seen {
					pods[pod.Name] = *pod
				}
			}
		}
	}()
	_, stderr, code := kaptain(t, dir, s3Env, "tune", "-n", ns, "--param", "optimizer=categorical:a b,x;touch /tmp/pwned",
		"--objective", "accuracy", "--trials", "6", "--parallel-trials", "2", "--workers", "1", small, "--timeout", "4m")
	if code != 0 {
		t.Fatalf("tune: exit %d\n%s", code, stderr)
	}
	list, err := suite.dynamic.Resource(trials).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 6 {
		t.Fatalf("trials: %v", err)
	}
	w.Stop()
	<-done
	seen := map[string]bool{}
	for _, trial := range list.Items {
		want := "--optimizer=" + assignmentsOf(trial)["optimizer"]
		first := !seen[want]
		seen[want] = true
		var trialPods []corev1.Pod
		for _, pod := range pods {
			if pod.Labels["training.kubeflow.org/job-name"] == trial.GetName() {
				trialPods = append(trialPods, pod)
			}
		}
		if len(trialPods) != 1 {
			t.Fatalf("trial %s had %d pods, want 1", trial.GetName(), len(trialPods))
		}
		pod := trialPods[0]
		var main *corev1.Container
		for i, c := range pod.Spec.Containers {
			if c.Name == "tensorflow" {
				main = &pod.Spec.Containers[i]
			}
		}
		if main == nil || len(pod.Spec.Containers) < 2 {
			t.Fatalf("trial pod %s: no tensorflow container beside Katib's collector: %+v", pod.Name, pod.Spec.Containers)
		}
		command := append(slices.Clone(main.Command), main.Args...)
		if first {
			t.Logf("trial %s's command, as Katib's pod webhook rewrote it: %q", trial.GetName(), command)
		}
		args := runAsKatibWould(t, command)
		if !slices.Contains(args, want) {
			t.Errorf("trial %s: the trainer got %q, want an argument %q", trial.GetName(), args, want)
		}
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Errorf("/tmp/pwned exists: a trial's value ran as a command")
	}
	t.Logf("values seen in %d trials: %v", len(list.Items), seen)
}

// runAsKatibWould runs a trial container's command with sh, with a python that writes its
// arguments, one per line, to a file, and /var/log/katib (where the collector's wrapper
// writes) a private tmpfs; it returns the arguments python got.
func runAsKatibWould(t *testing.T, command []string) []string {
	t.Helper()
	if len(command) < 3 || command[0] != "sh" || command[1] != "-c" {
		t.Fatalf("the trial's command is not sh -c: %q", command)
	}
	bin := t.TempDir()
	got := filepath.Join(bin, "args")
	if err := os.WriteFile(filepath.Join(bin, "python"), []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > "+got+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "mount -t tmpfs tmpfs /var/log && mkdir /var/log/katib && PATH=" + bin + ":$PATH && cd " + bin + " && exec sh -c \"$0\""
	cmd := exec.Command("unshare", "--mount", "--propagation=private", "sh", "-c", script, strings.Join(command[2:], " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("running the trial's command %q: %v\n%s", command, err, out)
	}
	data, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("the stand-in trainer did not run: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}
