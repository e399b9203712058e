//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/test/localcluster"
)

var (
	trainJobs = schema.GroupVersionResource{Group: "trainer.kubeflow.org", Version: "v1alpha1", Resource: "trainjobs"}
	jobSets   = schema.GroupVersionResource{Group: "jobset.x-k8s.io", Version: "v1alpha2", Resource: "jobsets"}
)

// nodePods lists a TrainJob's pods, by JobSet's label.
func nodePods(t *testing.T, ns, job string) []corev1.Pod {
	t.Helper()
	pods, err := suite.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "jobset.sigs.k8s.io/jobset-name=" + job})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// TestTrainJobSucceedsThroughTrainer trains the pytorch example as a TrainJob through the real
// Trainer v2 and JobSet controllers and the Job controller, on kwok nodes.
func TestTrainJobSucceedsThroughTrainer(t *testing.T) {
	ns := namespace(t)
	dir := copyModel(t, "mnist-pytorch", nil)
	start := time.Now()
	stdout, stderr, code := kaptain(t, dir, s3Env, "train", "-n", ns, "--workers", "2", small, "--memory=128Mi", "-p", "lr=0.05", "--timeout", "3m", "-v", "-o", "name")
	if code != 0 {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	var job string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if name, ok := strings.CutPrefix(l, "trainjob.trainer.kubeflow.org/"); ok {
			job = name
		}
	}
	if job == "" {
		t.Fatalf("no TrainJob on stdout:\n%s", stdout)
	}
	for _, want := range []string{
		"trainjob.trainer.kubeflow.org/" + job + " Succeeded (2 nodes",
		"[node-0] test-accuracy=0.9507\n", "[node-1] test-accuracy=0.9507\n",
		"trained model dev/mnist-pytorch",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("train lacks %q:\n%s", want, stderr)
		}
	}
	t.Logf("TrainJob to Complete in %s", time.Since(start).Round(100*time.Millisecond))
	obj, err := suite.dynamic.Resource(trainJobs).Namespace(ns).Get(context.Background(), job, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	complete := false
	for _, c := range conds {
		cm := c.(map[string]any)
		complete = complete || (cm["type"] == "Complete" && cm["status"] == "True")
	}
	if !complete {
		t.Errorf("the TrainJob's conditions are %v, want Complete", conds)
	}
	// Trainer made the pods: two nodes running the model's image with the hyperparameters
	// under torchrun, told by Trainer how many nodes there are, labelled with the model.
	pods := nodePods(t, ns, job)
	if len(pods) != 2 {
		t.Fatalf("%d node pods, want 2", len(pods))
	}
	for _, p := range pods {
		c := p.Spec.Containers[0]
		if c.Name != "node" || !slices.Contains(c.Args, "--lr=0.05") || strings.Join(c.Command, " ") != "torchrun trainer.py" {
			t.Errorf("pod %s: container %s command %v args %v", p.Name, c.Name, c.Command, c.Args)
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if env["PET_NNODES"] != "2" || env["MODEL_LIFECYCLE_PHASE"] != "training" {
			t.Errorf("pod %s env: PET_NNODES=%q MODEL_LIFECYCLE_PHASE=%q", p.Name, env["PET_NNODES"], env["MODEL_LIFECYCLE_PHASE"])
		}
		if p.Labels["kaptain.dev/action"] != "train" || p.Labels["team"] != "vision" {
			t.Errorf("pod %s labels %v lack the model's", p.Name, p.Labels)
		}
	}
	// One table for every training kind; JobSet's Jobs are not taken for cluster builds.
	out, errOut, code := kaptain(t, dir, nil, "get", "jobs", "-n", ns)
	if code != 0 || !strings.Contains(out, "TrainJob") || !strings.Contains(out, job) {
		t.Errorf("get jobs: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := kaptain(t, dir, nil, "get", "builds", "-n", ns); code != 0 || strings.Contains(out, job) {
		t.Errorf("get builds: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = kaptain(t, dir, nil, "describe", "job", job, "-n", ns)
	if code != 0 || !strings.Contains(out, "Pod node-0:") || !strings.Contains(out, "Pod node-1:") {
		t.Errorf("describe job: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = kaptain(t, dir, nil, "logs", job, "-n", ns, "--replica", "node-1", "--tail", "1")
	if code != 0 || out != "[node-1] test-accuracy=0.9507\n" {
		t.Errorf("logs --replica node-1: exit %d\n%s%s", code, out, errOut)
	}
}

func TestTrainJobFailingNodeEndsFailed(t *testing.T) {
	ns := failingNamespace
	if _, err := suite.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The model's labels reach the nodes' pods through kaptain's runtime patch: kwok makes
	// them crash-loop, and the Job controller fails the node Job past its backoff limit.
	dir := copyModel(t, "mnist-pytorch", map[string]string{"    team: vision": "    team: vision\n    " + localcluster.CrashLoopLabel + ": \"true\""})
	_, stderr, code := kaptain(t, dir, nil, "train", "-n", ns, "--workers", "1", small, "--timeout", "3m")
	if code != 13 {
		t.Fatalf("train with a failing node: exit %d, want 13 (JobFailed)\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "last lines of replica node-0 (exit code 1):\n"+strings.Join(traceback, "\n")) {
		t.Errorf("the error lacks the failed node's log:\n%s", stderr)
	}
	t.Logf("train with a failing node:\n%s", stderr)
}

func TestInterruptedTrainJobLeavesNothing(t *testing.T) {
	ns := namespace(t)
	dir := copyModel(t, "mnist-pytorch", nil)
	// The nodes complete only after ten minutes (kwok's pod-complete stage, delayed by an
	// annotation on the pod template kaptain's runtime patch carries).
	slow := filepath.Join(dir, "slow.json")
	if err := os.WriteFile(slow, []byte(`[{"op": "add", "path": "/spec/runtimePatches/0/trainingRuntimeSpec/template/spec/replicatedJobs/0/template/spec/template/metadata/annotations",
	  "value": {"pod-complete.stage.kwok.x-k8s.io/delay": "10m"}}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := plugin().Start(t, dir, s3Env, "train", "-n", ns, "--workers", "2", small, "--patch", slow, "--timeout", "3m")
	r.WaitFor(t, "node: 1 active", 2*time.Minute)
	r.Interrupt(t)
	if code := r.Exit(t, time.Minute); code != 130 {
		t.Fatalf("interrupted train: exit %d\n%s", code, r.Stderr())
	}
	t.Logf("interrupted train:\n%s", r.Stderr())
	eventually(t, "the TrainJob, its JobSet, Secret and pods removed", func() bool {
		pods, _ := suite.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		return count(t, trainJobs, ns) == 0 && count(t, jobSets, ns) == 0 && len(secrets(t, ns)) == 0 && pods != nil && len(pods.Items) == 0
	})
}

func TestGetJobsListsEveryTrainingKind(t *testing.T) {
	ns := namespace(t)
	tf, pt := copyModel(t, "mnist-tensorflow", nil), copyModel(t, "mnist-pytorch", nil)
	var names []string
	for _, run := range []struct {
		dir  string
		args []string
	}{{tf, nil}, {pt, []string{"--training-api", "v1"}}, {pt, nil}} {
		stdout, stderr, code := kaptain(t, run.dir, nil, append([]string{"train", "-n", ns, "--wait=false", small, "-o", "name"}, run.args...)...)
		if code != 0 {
			t.Fatalf("train %v: exit %d\n%s", run.args, code, stderr)
		}
		names = append(names, strings.SplitN(strings.TrimSpace(stdout), "/", 2)[1])
	}
	out, errOut, code := kaptain(t, tf, nil, "get", "jobs", "-n", ns)
	if code != 0 {
		t.Fatalf("get jobs: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "KIND") {
		t.Fatalf("get jobs:\n%s", out)
	}
	for i, kind := range []string{"TFJob", "PyTorchJob", "TrainJob"} {
		if !slices.ContainsFunc(lines[1:], func(l string) bool { return strings.HasPrefix(l, kind+" ") && strings.Contains(l, names[i]) }) {
			t.Errorf("no %s row for %s:\n%s", kind, names[i], out)
		}
	}
}

func TestTrainJobTooManyGPUsEndsEarly(t *testing.T) {
	ns := namespace(t)
	dir := copyModel(t, "mnist-pytorch", nil)
	start := time.Now()
	_, stderr, code := kaptain(t, dir, nil, "train", "-n", ns, "--workers", "1", "--gpus", "8", "--timeout", "3m")
	if code != 11 || !strings.Contains(stderr, "replica node-0") || !strings.Contains(stderr, "Unschedulable") {
		t.Fatalf("a TrainJob asking for 8 GPUs: exit %d, want 11 (WorkloadDeployment) naming node-0\n%s", code, stderr)
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("the unschedulable node took %s to be reported", d)
	}
}
