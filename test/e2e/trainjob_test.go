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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/test/harness"
	"github.com/kaptain-dev/kubectl-kaptain/test/localcluster"
)

var (
	trainJobs = harness.TrainJobs
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

// TestTrainShowsTrainerProgress: with Trainer's TrainJobStatus feature gate on, a trainer pod
// reports its progress to Trainer's real status server (the test plays the trainer's HTTPS
// call with the token and CA Trainer gives the pod), Trainer writes it to the TrainJob's status, and train's wait prints it.
func TestTrainShowsTrainerProgress(t *testing.T) {
	ns := namespace(t)
	dir := copyModel(t, "mnist-pytorch", nil)
	// The nodes run for a while, so the trainer reports before the job ends.
	patch := filepath.Join(dir, "slow.json")
	if err := os.WriteFile(patch, []byte(`[{"op": "add", "path": "/spec/runtimePatches/0/trainingRuntimeSpec/template/spec/replicatedJobs/0/template/spec/template/metadata/annotations",
	  "value": {"pod-complete.stage.kwok.x-k8s.io/delay": "15s"}}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := plugin().Start(t, dir, s3Env, "train", "-n", ns, "--workers", "2", small, "--patch", patch, "--timeout", "3m")
	r.WaitFor(t, "node: 1 active", 2*time.Minute)
	pods := nodePods(t, ns, trainJobName(t, ns))
	if len(pods) == 0 {
		t.Fatal("no trainer pods")
	}
	trainer := pods[0]
	ctx := context.Background()
	// The server checks the token: one for another TrainJob's status is refused.
	other := trainer.DeepCopy()
	for _, v := range other.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				src.ServiceAccountToken.Audience += "-other"
			}
		}
	}
	if err := suite.cluster.ReportTrainerStatus(ctx, other, localcluster.TrainerStatus{LastUpdatedTime: time.Now().UTC()}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a token for another audience: %v, want 403", err)
	}
	pct, left := int32(40), int32(130)
	status := localcluster.TrainerStatus{ProgressPercentage: &pct, EstimatedRemainingSeconds: &left,
		Metrics: []localcluster.Metric{{Name: "loss", Value: "0.31"}}, LastUpdatedTime: time.Now().UTC().Truncate(time.Second)}
	if err := suite.cluster.ReportTrainerStatus(ctx, &trainer, status); err != nil {
		t.Fatal(err)
	}
	r.WaitFor(t, "40%, about 2m10s left, loss=0.31", time.Minute)
	for _, l := range strings.Split(r.Stderr(), "\n") {
		if strings.Contains(l, "loss=0.31") {
			t.Logf("train printed: %s", l)
			break
		}
	}
	if code := r.Exit(t, 2*time.Minute); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, r.Stderr())
	}
	if !strings.Contains(r.Stderr(), "Succeeded (2 nodes") {
		t.Errorf("train did not end Succeeded:\n%s", r.Stderr())
	}
}

// trainJobName is the one TrainJob in ns.
func trainJobName(t *testing.T, ns string) string {
	t.Helper()
	list, err := suite.dynamic.Resource(trainJobs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("want one TrainJob in %s: %v %v", ns, list, err)
	}
	return list.Items[0].GetName()
}
