//go:build integration

package integration

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

func TestTuneEveryAlgorithmPassesServerDryRun(t *testing.T) {
	ns := katibNamespace(t)
	space := []string{"--param", "lr=double:0.01:0.05:0.01", "--param", "epochs=int:1:9", "--param", "momentum=discrete:0.5,0.9", "--param", "optimizer=categorical:sgd,adam"}
	for algorithm, extra := range map[string][]string{
		"random": nil, "grid": {"--trials", "20"}, "bayesianoptimization": {"--algorithm-setting", "base_estimator=GP"},
		"tpe": {"--algorithm-setting", "n_startup_trials=5"}, "multivariate-tpe": nil, "cmaes": nil, "sobol": nil,
		"hyperband": {"--algorithm-setting", "resource_name=epochs", "--algorithm-setting", "r_l=9", "--algorithm-setting", "eta=3"},
		"pbt":       {"--algorithm-setting", "n_population=5", "--algorithm-setting", "truncation_threshold=0.2"},
	} {
		args := append([]string{"tune", "-n", ns, "--dry-run=server", "--objective", "accuracy", "--algorithm", algorithm}, space...)
		r := kaptain(t, repoPath("examples", "mnist-pytorch"), creds, append(args, extra...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "created (server dry run)") {
			t.Errorf("%s: exit %d: %s%s", algorithm, r.code, r.stdout, r.stderr)
		}
	}
	if n := count(t, experiments, ns); n != 0 {
		t.Errorf("%d experiments after server dry runs", n)
	}
}

func TestTuneRefusesBadSearchesAndCreatesNothing(t *testing.T) {
	ns := namespace(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--param", "lr=double:0.1:0.01"}, 2, "min 0.1 must be less than max 0.01"},
		{[]string{"--param", "opt=categorical:"}, 2, "needs a list of values"},
		{[]string{"--param", "m=discrete:0.5,x"}, 2, "discrete values must be numbers"},
		{[]string{"--param", "lr=double:0:1", "--param", "lr=int:1:3"}, 2, "--param lr is given twice"},
		{[]string{"--param", "lr=double:0:1", "--algorithm", "anneal"}, 5, `algorithm "anneal" is not supported`},
		{[]string{"--param", "lr=double:0:1", "--algorithm", "grid"}, 2, "grid needs a step on double parameter lr"},
		{[]string{"--param", "lr=double:0:1", "--algorithm", "cmaes"}, 2, "cmaes needs two or more"},
		{[]string{"--param", "lr=double:0:1", "--algorithm", "hyperband"}, 2, "hyperband needs --algorithm-setting resource_name"},
		{[]string{"--param", "lr=double:0:1", "--algorithm", "pbt", "--algorithm-setting", "n_population=3", "--algorithm-setting", "truncation_threshold=0.2"}, 2, "n_population must be an integer of 5 or more"},
		{[]string{"--param", "lr=double:0:1", "--algorithm-setting", "flavour=x"}, 2, "--algorithm-setting flavour is not a setting of random"},
		{[]string{"--param", "lr=double:0:1", "--parallel-trials", "20"}, 2, "--parallel-trials must be between 1 and --trials (16), got 20"},
		{[]string{"--param", "lr=double:0:1", "--objective-type", "best"}, 2, `--objective-type "best" is not supported`},
		{[]string{"--param", "lr=double:0:1", "--objective", ""}, 2, `--objective "" is not a metric name`},
	} {
		args := append([]string{"tune", "-n", ns, "--objective", "accuracy"}, tc.args...)
		r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", tc.args, r.code, tc.code, r.stderr, tc.want)
		}
	}
	if n := count(t, experiments, ns); n != 0 {
		t.Errorf("%d experiments after refused searches", n)
	}
}

// setExperimentStatus plays Katib through the status subresource.
func setExperimentStatus(t *testing.T, exp *unstructured.Unstructured, status map[string]any) {
	t.Helper()
	current, err := shared.dynamic.Resource(experiments).Namespace(exp.GetNamespace()).Get(context.Background(), exp.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	current.Object["status"] = status
	if _, err := shared.dynamic.Resource(experiments).Namespace(exp.GetNamespace()).UpdateStatus(context.Background(), current, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func condition(typ string) []any {
	return []any{map[string]any{"type": typ, "status": "True", "reason": "Experiment" + typ, "message": "Experiment is " + strings.ToLower(typ)}}
}

func TestTunePrintsTheBestHyperparametersAndDeletesTheExperiment(t *testing.T) {
	ns := katibNamespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), creds, "tune", "-n", ns, "--objective", "accuracy", "--param", "lr=double:0.001:0.1",
		"--param", "optimizer=categorical:sgd,adam", "--trials", "4", "--delete-experiment", "--timeout", "60s")
	exp := createdJob(t, experiments, ns)
	setExperimentStatus(t, exp, map[string]any{"conditions": condition("Running"), "trials": int64(2), "trialsRunning": int64(2)})
	waitFor(t, r, "Running: 0 succeeded, 0 failed, 2 running of 4 trials")
	best := map[string]any{
		"bestTrialName":        exp.GetName() + "-x7f2",
		"parameterAssignments": []any{map[string]any{"name": "lr", "value": "0.0427"}, map[string]any{"name": "optimizer", "value": "adam"}},
		"observation":          map[string]any{"metrics": []any{map[string]any{"name": "accuracy", "latest": "0.981", "max": "0.981", "min": "0.9"}}},
	}
	setExperimentStatus(t, exp, map[string]any{"conditions": condition("Running"), "trials": int64(3), "trialsSucceeded": int64(2), "trialsRunning": int64(1), "currentOptimalTrial": best})
	waitFor(t, r, "best accuracy=0.981")
	setExperimentStatus(t, exp, map[string]any{"conditions": condition("Succeeded"), "trials": int64(4), "trialsSucceeded": int64(4), "currentOptimalTrial": best})
	if code := r.Exit(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, r.Stderr())
	}
	if out := r.Stdout(); !strings.Contains(out, "HYPERPARAMETER") || !strings.Contains(out, "lr               0.0427") || !strings.Contains(out, "optimizer        adam") {
		t.Errorf("stdout:\n%s", out)
	}
	for _, want := range []string{"Running: 2 succeeded, 0 failed, 1 running of 4 trials; best accuracy=0.981 (" + exp.GetName() + "-x7f2) with lr=0.0427 optimizer=adam",
		"removed experiment.kubeflow.org/" + exp.GetName() + " (--delete-experiment)"} {
		if !strings.Contains(r.Stderr(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr())
		}
	}
	if n := count(t, experiments, ns); n != 0 {
		t.Errorf("--delete-experiment left %d experiments", n)
	}
	rec := record(t, "mnist-tensorflow", ns)
	if rec.State != track.Tuned || rec.Hyperparameters["lr"] != "0.0427" || !strings.HasSuffix(rec.History[len(rec.History)-1].ModelURI, "/tuned/"+rec.Revision+"/"+exp.GetName()+"-x7f2") {
		t.Errorf("record after tune: %+v", rec)
	}
}

func TestTuneInterruptedDeletesTheExperiment(t *testing.T) {
	ns := katibNamespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), creds, "tune", "-n", ns, "--objective", "accuracy", "--param", "lr=double:0.001:0.1", "--timeout", "60s")
	exp := createdJob(t, experiments, ns)
	if !exists(t, secretsGVR, ns, exp.GetName()+"-storage") {
		t.Error("no storage Secret for the trials")
	}
	waitFor(t, r, "Pending: 0 succeeded")
	r.Interrupt(t)
	if code := r.Exit(t, 30*time.Second); code != sdkerr.Interrupted.ExitCode() {
		t.Fatalf("exit %d: %s", code, r.Stderr())
	}
	if count(t, experiments, ns) != 0 || exists(t, secretsGVR, ns, exp.GetName()+"-storage") {
		t.Error("the experiment or its Secret survived Ctrl-C")
	}
}

func TestTuneRefusesANamespaceKatibDoesNotServe(t *testing.T) {
	ns := namespace(t)
	for _, tc := range []struct{ label, want string }{
		{"", "is without it"},
		{"disabled", `is set to "disabled"`},
	} {
		if tc.label != "" {
			current, err := shared.client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			current.Labels["katib.kubeflow.org/metrics-collector-injection"] = tc.label
			if _, err := shared.client.CoreV1().Namespaces().Update(context.Background(), current, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		r := kaptain(t, repoPath("examples", "mnist-tensorflow"), creds, "tune", "-n", ns, "--objective", "accuracy", "--param", "lr=double:0.001:0.1")
		fix := "kubectl label namespace " + ns + " katib.kubeflow.org/metrics-collector-injection=enabled --overwrite"
		if r.code != sdkerr.WorkloadDeployment.ExitCode() || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, fix) {
			t.Errorf("label %q: exit %d (want 11), stderr %q (want %q and %q)", tc.label, r.code, r.stderr, tc.want, fix)
		}
	}
	if n, s := count(t, experiments, ns), count(t, secretsGVR, ns); n != 0 || s != 0 {
		t.Errorf("%d experiments and %d Secrets after a refused namespace", n, s)
	}
}

// trialPod creates a pod carrying the experiment's labels and more (as Katib's suggestion
// Deployment and the trials' jobs make them), and sets its status.
func trialPod(t *testing.T, exp *unstructured.Unstructured, name string, more map[string]string, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	labels := exp.GetLabels()
	maps.Copy(labels, more)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "mnist:1"}}},
	}
	created, err := shared.client.CoreV1().Pods(exp.GetNamespace()).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = status
	if created, err = shared.client.CoreV1().Pods(exp.GetNamespace()).UpdateStatus(context.Background(), created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return created
}

func worker(job string) map[string]string {
	return map[string]string{"training.kubeflow.org/job-name": job, "training.kubeflow.org/replica-type": "worker", "training.kubeflow.org/replica-index": "0"}
}

var unschedulable = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
	Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}}

func TestTuneWaitsForRoomWhileAnotherTrialRunsThenStops(t *testing.T) {
	ns := katibNamespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), creds, "tune", "-n", ns, "--objective", "accuracy", "--param", "lr=double:0.001:0.1", "--timeout", "90s")
	exp := createdJob(t, experiments, ns)
	first := trialPod(t, exp, exp.GetName()+"-aaaa1111-worker-0", worker(exp.GetName()+"-aaaa1111"), corev1.PodStatus{Phase: corev1.PodRunning})
	second := trialPod(t, exp, exp.GetName()+"-bbbb2222-worker-0", worker(exp.GetName()+"-bbbb2222"), unschedulable)
	waitFor(t, r, "trial "+exp.GetName()+"-bbbb2222 replica worker-0 (pod "+second.Name+") waits for room")
	// The running trial ends; nothing else makes room.
	first.Status.Phase = corev1.PodSucceeded
	if _, err := shared.client.CoreV1().Pods(ns).UpdateStatus(context.Background(), first, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code := r.Exit(t, 40*time.Second); code != sdkerr.WorkloadDeployment.ExitCode() {
		t.Fatalf("exit %d, want 11 (WorkloadDeployment): %s", code, r.Stderr())
	}
	if want := "trial " + exp.GetName() + "-bbbb2222 replica worker-0 (pod " + second.Name + ") cannot run: Unschedulable: 0/3 nodes are available"; !strings.Contains(r.Stderr(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.Stderr())
	}
	if count(t, experiments, ns) != 1 {
		t.Error("the experiment that cannot progress was removed; it is kept for inspection")
	}
}

func TestTuneStopsWhenTheSuggestionCannotRun(t *testing.T) {
	ns := katibNamespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), creds, "tune", "-n", ns, "--objective", "accuracy", "--param", "lr=double:0.001:0.1", "--timeout", "60s")
	exp := createdJob(t, experiments, ns)
	pod := trialPod(t, exp, exp.GetName()+"-random-5d8f9", map[string]string{"katib.kubeflow.org/suggestion": exp.GetName(), "katib.kubeflow.org/experiment": exp.GetName()},
		corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "suggestion", Image: "ghcr.io/kubeflow/katib/suggestion-hyperopt:v0.19.0",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: `Container image "ghcr.io/kubeflow/katib/suggestion-hyperopt:v0.19.0" is not present with pull policy of Never`}}}}})
	if code := r.Exit(t, 30*time.Second); code != sdkerr.WorkloadDeployment.ExitCode() {
		t.Fatalf("exit %d, want 11 (WorkloadDeployment): %s", code, r.Stderr())
	}
	if want := "the suggestion service (pod " + pod.Name + ") cannot run: ErrImageNeverPull"; !strings.Contains(r.Stderr(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.Stderr())
	}
}

func TestTuneStopsWhenTheFirstTrialsReportNoMetrics(t *testing.T) {
	ns := katibNamespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), creds, "tune", "-n", ns, "--objective", "accuracy", "--param", "lr=double:0.001:0.1",
		"--parallel-trials", "2", "--timeout", "60s")
	exp := createdJob(t, experiments, ns)
	setExperimentStatus(t, exp, map[string]any{"conditions": condition("Running"), "trials": int64(3), "trialsRunning": int64(2), "trialMetricsUnavailable": int64(1)})
	waitFor(t, r, "Running: 0 succeeded, 1 without metrics, 0 failed, 2 running of 16 trials")
	setExperimentStatus(t, exp, map[string]any{"conditions": condition("Running"), "trials": int64(4), "trialsRunning": int64(2), "trialMetricsUnavailable": int64(2)})
	if code := r.Exit(t, 30*time.Second); code != sdkerr.WorkloadDeployment.ExitCode() {
		t.Fatalf("exit %d, want 11 (WorkloadDeployment): %s", code, r.Stderr())
	}
	if want := "its first 2 trials ended without reporting metrics"; !strings.Contains(r.Stderr(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.Stderr())
	}
	if count(t, experiments, ns) != 1 || !exists(t, secretsGVR, ns, exp.GetName()+"-storage") {
		t.Error("the experiment, still running, or its trials' Secret was removed")
	}
}
