//go:build integration

package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/test/harness"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

var (
	trainJobs        = harness.TrainJobs
	trainingRuntimes = harness.TrainingRuntimes
)

// trainJobStatus plays Kubeflow Trainer: conditions (type=status pairs) and the node
// replicated job's counts, through the status subresource.
func trainJobStatus(job *unstructured.Unstructured, conditions map[string]string, message string, active, succeeded int64) error {
	current, err := shared.dynamic.Resource(trainJobs).Namespace(job.GetNamespace()).Get(context.Background(), job.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339)
	var conds []any
	for _, typ := range slices.Sorted(func(yield func(string) bool) {
		for k := range conditions {
			if !yield(k) {
				return
			}
		}
	}) {
		conds = append(conds, map[string]any{"type": typ, "status": conditions[typ], "reason": typ, "message": message, "lastTransitionTime": now})
	}
	current.Object["status"] = map[string]any{
		"conditions": conds,
		"jobsStatus": []any{map[string]any{"name": "node", "active": active, "ready": active, "succeeded": succeeded, "failed": int64(0), "suspended": int64(0)}},
	}
	_, err = shared.dynamic.Resource(trainJobs).Namespace(job.GetNamespace()).UpdateStatus(context.Background(), current, metav1.UpdateOptions{})
	return err
}

func TestTrainJobFromTrain(t *testing.T) {
	ns := namespace(t)
	r := start(t, repoPath("examples", "mnist-pytorch"), creds, "train", "-n", ns, "--timeout", "60s", "--workers", "2", "-p", "lr=0.05", "--cpu", "1", "-o", "name")
	job := createdJob(t, trainJobs, ns)
	// The pytorch model took TrainJob, the cluster serving both it and PyTorchJob.
	if n := count(t, pyTorchJobs, ns); n != 0 {
		t.Errorf("%d PyTorchJobs created beside the TrainJob", n)
	}
	spec := job.Object["spec"].(map[string]any)
	if name, _, _ := unstructured.NestedString(spec, "runtimeRef", "name"); name != "torch-distributed" {
		t.Errorf("runtimeRef.name = %q", name)
	}
	trainer, _, _ := unstructured.NestedMap(spec, "trainer")
	if n, _, _ := unstructured.NestedInt64(trainer, "numNodes"); n != 2 {
		t.Errorf("numNodes = %d, want 2", n)
	}
	args, _, _ := unstructured.NestedStringSlice(trainer, "args")
	if !slices.Contains(args, "--lr=0.05") || !slices.Contains(args, "--epochs=3") {
		t.Errorf("args = %v, want the hyperparameters", args)
	}
	if cmd, _, _ := unstructured.NestedStringSlice(trainer, "command"); strings.Join(cmd, " ") != "torchrun trainer.py" {
		t.Errorf("command = %v: torch-distributed's trainer runs under torchrun", cmd)
	}
	if cpu, _, _ := unstructured.NestedString(trainer, "resourcesPerNode", "limits", "cpu"); cpu != "1" {
		t.Errorf("resourcesPerNode cpu limit = %q", cpu)
	}
	env, _, _ := unstructured.NestedSlice(trainer, "env")
	refs := 0
	for _, e := range env {
		ev := e.(map[string]any)
		name := ev["name"].(string)
		if strings.HasPrefix(name, "AWS_") {
			if _, inline := ev["value"]; inline {
				t.Errorf("%s is inline in the TrainJob", name)
			}
			key, _, _ := unstructured.NestedString(ev, "valueFrom", "secretKeyRef", "key")
			secretName, _, _ := unstructured.NestedString(ev, "valueFrom", "secretKeyRef", "name")
			if key != name || secretName != job.GetName()+"-storage" {
				t.Errorf("%s comes from %s/%s", name, secretName, key)
			}
			refs++
		}
	}
	if refs < 2 {
		t.Errorf("%d S3 variables referenced from the Secret, want the key and the secret", refs)
	}
	if err := trainJobStatus(job, map[string]string{"Suspended": "False"}, "", 1, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "Running (2 nodes; node: 1 active, 1 ready)")
	// The Secret is the TrainJob's: garbage collection removes it with the job.
	secret, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), job.GetName()+"-storage", metav1.GetOptions{})
	if err != nil || len(secret.OwnerReferences) != 1 || secret.OwnerReferences[0].Kind != "TrainJob" {
		t.Errorf("storage Secret: %v, owners %v", err, secret.GetOwnerReferences())
	}
	if err := trainJobStatus(job, map[string]string{"Complete": "True"}, "jobset completed", 0, 1); err != nil {
		t.Fatal(err)
	}
	if code := r.Exit(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, r.Stderr())
	}
	for _, want := range []string{
		"trainjob.trainer.kubeflow.org/" + job.GetName() + " Succeeded (2 nodes; node: 1 succeeded)",
		"trained model dev/mnist-pytorch",
	} {
		if !strings.Contains(r.Stderr(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr())
		}
	}
	if got := strings.TrimSpace(r.Stdout()); got != "secret/"+job.GetName()+"-storage\ntrainjob.trainer.kubeflow.org/"+job.GetName() {
		t.Errorf("stdout = %q, want the Secret and the TrainJob", got)
	}
	// The finished job is kept, its credentials are not.
	if _, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), job.GetName()+"-storage", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the storage Secret of the finished job: %v, want it removed", err)
	}
	if !strings.Contains(r.Stderr(), "removed secret "+job.GetName()+"-storage; the rest is kept for inspection") || count(t, trainJobs, ns) != 1 {
		t.Errorf("the job is not kept, or the Secret's removal not said:\n%s", r.Stderr())
	}
}

func TestTrainJobMissingRuntimeCreatesNothing(t *testing.T) {
	ns := namespace(t)
	r := kaptain(t, repoPath("examples", "mnist-pytorch"), creds, "train", "-n", ns, "--runtime", "torch")
	if r.code != sdkerr.WorkloadDeployment.ExitCode() || !strings.Contains(r.stderr, `ClusterTrainingRuntime "torch" not found; choose one with --runtime: deepspeed-distributed (deepspeed), jax-distributed (jax), mlx-distributed (mlx), torch-distributed (torch), xgboost-distributed (xgboost)`) {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if count(t, trainJobs, ns) != 0 {
		t.Error("a TrainJob was created")
	}
	if list, _ := shared.client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("%d Secrets created", len(list.Items))
	}
}

func TestGetJobsListsEveryTrainingKind(t *testing.T) {
	ns := namespace(t)
	tf, pt := repoPath("examples", "mnist-tensorflow"), repoPath("examples", "mnist-pytorch")
	var names []string
	for _, run := range []struct {
		dir  string
		args []string
	}{
		{tf, nil},
		{pt, []string{"--training-api", "v1"}},
		{pt, nil},
	} {
		r := kaptain(t, run.dir, nil, append([]string{"train", "-n", ns, "--wait=false", "-o", "name"}, run.args...)...)
		if r.code != 0 {
			t.Fatalf("train %v: %s", run.args, r.stderr)
		}
		names = append(names, strings.TrimSpace(r.stdout))
	}
	for i, prefix := range []string{"tfjob.kubeflow.org/", "pytorchjob.kubeflow.org/", "trainjob.trainer.kubeflow.org/"} {
		if !strings.HasPrefix(names[i], prefix) {
			t.Errorf("job %d is %q, want a %s", i, names[i], prefix)
		}
	}
	r := kaptain(t, ".", nil, "get", "jobs", "-n", ns)
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "KIND") {
		t.Fatalf("get jobs printed:\n%s", r.stdout)
	}
	for i, kind := range []string{"TFJob", "PyTorchJob", "TrainJob"} {
		name := strings.SplitN(names[i], "/", 2)[1]
		found := false
		for _, l := range lines[1:] {
			found = found || (strings.Contains(l, name) && strings.Contains(l, kind))
		}
		if !found {
			t.Errorf("no %s row for %s:\n%s", kind, name, r.stdout)
		}
	}
	// describe and delete know the TrainJob by its name.
	trainJob := strings.SplitN(names[2], "/", 2)[1]
	if r := kaptain(t, ".", nil, "describe", "job", trainJob, "-n", ns); r.code != 0 || !strings.Contains(r.stdout, "TrainJob") {
		t.Errorf("describe: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := kaptain(t, ".", nil, "delete", "job", trainJob, "-n", ns); r.code != 0 {
		t.Errorf("delete: exit %d\n%s", r.code, r.stderr)
	}
	if count(t, trainJobs, ns) != 0 {
		t.Error("the TrainJob is still there")
	}
}

// TestQueueNotHeldIsRefused: with --queue, a job that no Kueue suspends as it is created (this
// cluster runs none: as where Kueue does not manage the kind) is refused and removed, with the
// fix, for every kind: it would run outside the queue's quota.
func TestQueueNotHeldIsRefused(t *testing.T) {
	for _, tc := range []struct {
		kind, example string
		args          []string
		fix           string
	}{
		{"TFJob", "mnist-tensorflow", nil, "enable Kueue's kubeflow.org/tfjob integration (its Configuration's integrations.frameworks), or train as a TrainJob"},
		{"TrainJob", "mnist-pytorch", nil, "enable Kueue's trainer.kubeflow.org/trainjob integration"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			ns := namespace(t)
			r := kaptain(t, repoPath("examples", tc.example), creds, append([]string{"train", "-n", ns, "--queue", "team-a"}, tc.args...)...)
			if r.code != sdkerr.WorkloadDeployment.ExitCode() || !strings.Contains(r.stderr, "--queue team-a: Kueue did not hold "+strings.ToLower(tc.kind)) ||
				!strings.Contains(r.stderr, "Kueue does not manage "+tc.kind+"s in namespace "+ns) || !strings.Contains(r.stderr, tc.fix) {
				t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			if n := count(t, tfJobs, ns) + count(t, trainJobs, ns) + len(managedSecrets(t, ns)); n != 0 {
				t.Errorf("%d objects left", n)
			}
		})
	}
}

// TestAmbiguousNamesAreRefusedAlike: a TFJob and a TrainJob of one name; logs, describe and
// delete each refuse the name with the kinds listed, and take --kind trainjob.
func TestAmbiguousNamesAreRefusedAlike(t *testing.T) {
	ns := namespace(t)
	twin := managed(object("trainer.kubeflow.org/v1alpha1", "TrainJob", ns, "twin", map[string]any{"spec": map[string]any{
		"runtimeRef": map[string]any{"name": "torch-distributed"}, "trainer": map[string]any{"image": "m:1", "numNodes": int64(1)}}}))
	if _, err := applier().Apply(context.Background(), []*unstructured.Unstructured{managed(tfJob(ns, "twin", int64(1))), twin}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"logs", "twin"}, {"describe", "job", "twin"}, {"delete", "job", "twin"}} {
		r := kaptain(t, ".", nil, append(args, "-n", ns)...)
		if r.code != sdkerr.Usage.ExitCode() || !strings.Contains(r.stderr, "error: twin exists as tfjob, trainjob; say which with --kind tfjob") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if r := kaptain(t, ".", nil, "logs", "twin", "--kind", "trainjob", "-n", ns); r.code != 0 || !strings.Contains(r.stderr, "no replica pods of twin yet") {
		t.Errorf("logs --kind trainjob: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := kaptain(t, ".", nil, "describe", "job", "twin", "--kind", "trainjob", "-n", ns); r.code != 0 || !strings.Contains(r.stdout, "TrainJob") {
		t.Errorf("describe --kind trainjob: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := kaptain(t, ".", nil, "delete", "job", "twin", "--kind", "trainjob", "-n", ns); r.code != 0 || r.stdout != "trainjob.trainer.kubeflow.org/twin deleted\n" {
		t.Errorf("delete --kind trainjob: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !exists(t, tfJobs, ns, "twin") || exists(t, trainJobs, ns, "twin") {
		t.Error("delete --kind trainjob removed the wrong job")
	}
	if r := kaptain(t, ".", nil, "delete", "job", "twin", "--kind", "experiment", "-n", ns); r.code != sdkerr.Usage.ExitCode() ||
		!strings.Contains(r.stderr, `--kind "experiment" is not one of tfjob, pytorchjob, trainjob`) {
		t.Errorf("delete --kind experiment: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestMPITrainJobRunsTheModelOnEveryNode: on deepspeed-distributed (an MPI runtime) the TrainJob
// runs on a TrainingRuntime derived from it, owned by the job, whose launcher and nodes run the
// model's image; the launcher's mpirun starts the main file over Trainer's hostfile.
func TestMPITrainJobRunsTheModelOnEveryNode(t *testing.T) {
	ns := namespace(t)
	r := kaptain(t, repoPath("examples", "mnist-pytorch"), creds, "train", "-n", ns, "--runtime", "deepspeed-distributed", "--workers", "3", "--wait=false", "-o", "name")
	if r.code != 0 {
		t.Fatalf("train: exit %d\n%s", r.code, r.stderr)
	}
	job := createdJob(t, trainJobs, ns)
	ref, _, _ := unstructured.NestedStringMap(job.Object, "spec", "runtimeRef")
	if ref["kind"] != "TrainingRuntime" || ref["name"] != job.GetName() {
		t.Fatalf("runtimeRef %v, want the derived TrainingRuntime %s", ref, job.GetName())
	}
	cmd, _, _ := unstructured.NestedStringSlice(job.Object, "spec", "trainer", "command")
	if strings.Join(cmd, " ") != "mpirun --hostfile /etc/mpi/hostfile python -u trainer.py" {
		t.Errorf("the launcher runs %q", cmd)
	}
	derived, err := shared.dynamic.Resource(trainingRuntimes).Namespace(ns).Get(context.Background(), job.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if owners := derived.GetOwnerReferences(); len(owners) != 1 || owners[0].UID != job.GetUID() {
		t.Errorf("the derived runtime's owners: %v", owners)
	}
	if policy, _, _ := unstructured.NestedMap(derived.Object, "spec", "mlPolicy", "mpi"); policy == nil {
		t.Errorf("the derived runtime lost its MPI policy: %v", derived.Object["spec"])
	}
	image := "registry.example.com/kaptain/mnist-pytorch:0.0.1"
	jobs, _, _ := unstructured.NestedSlice(derived.Object, "spec", "template", "spec", "replicatedJobs")
	for _, j := range jobs {
		containers, _, _ := unstructured.NestedSlice(j.(map[string]any), "template", "spec", "template", "spec", "containers")
		if got := containers[0].(map[string]any)["image"]; got != image {
			t.Errorf("replicated job %v runs %v, want the model's image", j.(map[string]any)["name"], got)
		}
	}
	// The job and its runtime go together.
	if r := kaptain(t, ".", nil, "delete", "job", job.GetName(), "-n", ns); r.code != 0 {
		t.Fatalf("delete: %s", r.stderr)
	}
}

// TestTensorflowOnATrainerOnlyCluster starts a second API server that serves Kubeflow Trainer v2
// and not the Training Operator: a tensorflow model is refused, naming both ways out, and
// nothing is created.
func TestTensorflowOnATrainerOnlyCluster(t *testing.T) {
	crds := os.Getenv("KAPTAIN_CRDS")
	paths, err := filepath.Glob(filepath.Join(crds, "trainer.kubeflow.org_*.yaml"))
	if err != nil || len(paths) != 3 {
		t.Fatalf("Trainer CRDs under %s: %v %v", crds, paths, err)
	}
	ctrllog.SetLogger(logr.Discard()) // envtest logs through controller-runtime's logger
	env := &envtest.Environment{BinaryAssetsDirectory: os.Getenv("KAPTAIN_CONTROL_PLANE"), CRDDirectoryPaths: paths, ErrorIfCRDPathMissing: true}
	if _, err := env.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	r := kaptain(t, repoPath("examples", "mnist-tensorflow"), creds, "--kubeconfig", path, "train", "-n", "default")
	for _, want := range []string{
		"error: the cluster serves Kubeflow Trainer v2 (TrainJob) but not the Training Operator's TFJob, and Trainer v2 has no TensorFlow runtime",
		"install the Kubeflow Training Operator v1",
		"--training-api v2 --runtime NAME",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code != sdkerr.WorkloadDeployment.ExitCode() {
		t.Errorf("exit %d, want 11", r.code)
	}
	client, err := kubernetes.NewForConfig(user.Config())
	if err != nil {
		t.Fatal(err)
	}
	if list, err := client.CoreV1().Secrets("default").List(context.Background(), metav1.ListOptions{}); err != nil || len(list.Items) != 0 {
		t.Errorf("Secrets in default: %v %v", err, list)
	}
	r = kaptain(t, ".", nil, "--kubeconfig", path, "get", "jobs", "-n", "default")
	if r.code != 0 || strings.Contains(r.stdout, "dev-mnist") {
		t.Errorf("get jobs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCleanHonoursATrainJobsTTL(t *testing.T) {
	ns := namespace(t)
	dir := repoPath("examples", "mnist-pytorch")
	var jobs []*unstructured.Unstructured
	for _, ttl := range []string{"5", "3600"} {
		r := kaptain(t, dir, nil, "train", "-n", ns, "--wait=false", "--ttl-seconds-after-finished", ttl, "-o", "name")
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		job, err := shared.dynamic.Resource(trainJobs).Namespace(ns).Get(context.Background(), strings.SplitN(strings.TrimSpace(r.stdout), "/", 2)[1], metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if job.GetAnnotations()["kaptain.dev/ttl-seconds-after-finished"] != ttl {
			t.Fatalf("annotations %v", job.GetAnnotations())
		}
		jobs = append(jobs, job)
	}
	// Both finished a minute ago: the first is past its TTL, the second is not.
	for _, job := range jobs {
		current, err := shared.dynamic.Resource(trainJobs).Namespace(ns).Get(context.Background(), job.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		current.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Complete", "status": "True", "reason": "JobSetCompleted",
			"message": "done", "lastTransitionTime": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}}}
		if _, err := shared.dynamic.Resource(trainJobs).Namespace(ns).UpdateStatus(context.Background(), current, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r := kaptain(t, ".", nil, "clean", "-n", ns)
	want := "trainjobs/" + jobs[0].GetName() + " would be deleted (finished, and its TTL of 5s has passed)"
	if r.code != 0 || !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, jobs[1].GetName()) || count(t, trainJobs, ns) != 2 {
		t.Fatalf("clean: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = kaptain(t, ".", nil, "clean", "-n", ns, "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "trainjob.trainer.kubeflow.org/"+jobs[0].GetName()+" deleted") {
		t.Fatalf("clean --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	left, err := shared.dynamic.Resource(trainJobs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(left.Items) != 1 || left.Items[0].GetName() != jobs[1].GetName() {
		t.Fatalf("left: %v %v", err, left)
	}
}

func TestDiagnoseSaysWhatHoldsATrainJob(t *testing.T) {
	ns := namespace(t)
	dir := repoPath("examples", "mnist-pytorch")
	rt, err := shared.dynamic.Resource(clusterTrainingRuntimes).Get(context.Background(), "torch-distributed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gone := &unstructured.Unstructured{Object: map[string]any{"apiVersion": rt.GetAPIVersion(), "kind": rt.GetKind(), "spec": rt.Object["spec"]}}
	gone.SetName("short-lived-" + ns)
	gone.SetLabels(rt.GetLabels())
	if _, err := shared.dynamic.Resource(clusterTrainingRuntimes).Create(context.Background(), gone, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, args := range [][]string{{"--runtime", gone.GetName()}, nil} {
		r := kaptain(t, dir, nil, append([]string{"train", "-n", ns, "--wait=false", "-o", "name"}, args...)...)
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		names = append(names, strings.SplitN(strings.TrimSpace(r.stdout), "/", 2)[1])
	}
	if err := shared.dynamic.Resource(clusterTrainingRuntimes).Delete(context.Background(), gone.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.dynamic.Resource(trainJobs).Namespace(ns).Patch(context.Background(), names[1], types.MergePatchType, []byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	r := kaptain(t, ".", nil, "diagnose", "-n", ns)
	if r.code != sdkerr.Unknown.ExitCode() {
		t.Errorf("diagnose: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range [][]string{
		{names[0], "Created", `ClusterTrainingRuntime "` + gone.GetName() + `" not found`},
		{names[1], "Suspended", "suspended (spec.suspend) outside any Kueue queue"},
	} {
		found := false
		for _, l := range strings.Split(r.stdout, "\n") {
			found = found || (strings.Contains(l, want[0]) && strings.Contains(l, " "+want[1]+" ") && strings.Contains(l, want[2]))
		}
		if !found {
			t.Errorf("diagnose has no line with %q:\n%s", want, r.stdout)
		}
	}
}
