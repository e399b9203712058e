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
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/test/localcluster"
)

// createdName is the name of the object train printed with -o name under prefix.
func createdName(t *testing.T, stdout, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if name, ok := strings.CutPrefix(l, prefix); ok {
			return name
		}
	}
	t.Fatalf("no %s on stdout:\n%s", prefix, stdout)
	return ""
}

// TestTrainOnEveryRuntime trains an example on each runtime Trainer v2.3.0 ships, through the
// real Trainer, JobSet and Job controllers: the TrainJob completes; every pod that runs the
// model's image carries the model's labels and its environment; on the MPI runtimes the
// launcher's mpirun starts the main file over the hostfile, which lists every node, and every
// node runs the model's image; logs shows the trainer's output (kwok plays it).
func TestTrainOnEveryRuntime(t *testing.T) {
	for _, tc := range []struct {
		runtime, example, image string
		args                    []string
		command                 string
		// logged is the replica whose output logs shows.
		logged string
	}{
		{"torch-distributed", "mnist-pytorch", "registry.example.com/kaptain/mnist-pytorch:0.0.1", nil, "torchrun trainer.py", "node-0"},
		{"deepspeed-distributed", "mnist-pytorch", "registry.example.com/kaptain/mnist-pytorch:0.0.1", []string{"--runtime", "deepspeed-distributed"},
			"mpirun --hostfile /etc/mpi/hostfile python -u trainer.py", "launcher-0"},
		{"mlx-distributed", "mnist-pytorch", "registry.example.com/kaptain/mnist-pytorch:0.0.1", []string{"--runtime", "mlx-distributed"},
			"mpirun --hostfile /etc/mpi/hostfile python -u trainer.py", "launcher-0"},
		{"jax-distributed", "regression-jax", "registry.example.com/kaptain/regression-jax:0.0.1", nil, "", "node-1"},
		{"xgboost-distributed", "iris-xgboost", "registry.example.com/kaptain/iris-xgboost:0.0.1", nil, "", "node-1"},
	} {
		t.Run(tc.runtime, func(t *testing.T) {
			ns := namespace(t)
			dir := copyModel(t, tc.example, nil)
			start := time.Now()
			args := append([]string{"train", "-n", ns, "--workers", "2", small, "--memory=128Mi", "--timeout", "3m", "-o", "name"}, tc.args...)
			stdout, stderr, code := kaptain(t, dir, s3Env, args...)
			if code != 0 {
				t.Fatalf("train: exit %d\n%s", code, stderr)
			}
			job := createdName(t, stdout, "trainjob.trainer.kubeflow.org/")
			if !strings.Contains(stderr, "trainjob.trainer.kubeflow.org/"+job+" Succeeded (2 nodes") {
				t.Errorf("train's progress lacks Succeeded:\n%s", stderr)
			}
			t.Logf("TrainJob on %s to Complete in %s", tc.runtime, time.Since(start).Round(100*time.Millisecond))
			pods := nodePods(t, ns, job)
			if len(pods) != 2 {
				t.Fatalf("%d pods, want 2 (one per node; an MPI launcher is a node)", len(pods))
			}
			for _, p := range pods {
				c := p.Spec.Containers[0]
				if c.Image != tc.image {
					t.Errorf("pod %s runs %s, want the model's image", p.Name, c.Image)
				}
				if p.Labels["kaptain.dev/action"] != "train" || p.Labels["app.kubernetes.io/managed-by"] != "kubectl-kaptain" {
					t.Errorf("pod %s labels %v lack the model's", p.Name, p.Labels)
				}
				if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "TRAINED_MODEL_UPLOAD_PATH" }) ||
					!slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "AWS_ACCESS_KEY_ID" && e.ValueFrom != nil }) {
					t.Errorf("pod %s lacks the model's environment and credentials: %v", p.Name, c.Env)
				}
				role := p.Labels["jobset.sigs.k8s.io/replicatedjob-name"]
				if role == "launcher" || role == "node" && !strings.HasPrefix(tc.command, "mpirun") {
					if got := strings.Join(c.Command, " "); got != tc.command {
						t.Errorf("pod %s (%s) runs %q, want %q", p.Name, role, got, tc.command)
					}
				}
				if role == "launcher" && !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/etc/mpi" }) {
					t.Errorf("the launcher has no hostfile mounted: %v", c.VolumeMounts)
				}
			}
			if strings.HasPrefix(tc.command, "mpirun") {
				// Trainer's hostfile, which mpirun reads: every node of the job, the launcher too.
				cm, err := suite.client.CoreV1().ConfigMaps(ns).Get(context.Background(), job+"-mpi-hostfile", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if hosts := strings.Split(strings.TrimSpace(cm.Data["hostfile"]), "\n"); len(hosts) != 2 {
					t.Errorf("the hostfile lists %d nodes, want 2:\n%s", len(hosts), cm.Data["hostfile"])
				}
			}
			out, errOut, code := kaptain(t, dir, nil, "logs", job, "-n", ns, "--tail", "1")
			if code != 0 || !strings.Contains(out, "["+tc.logged+"] test-accuracy=0.9507\n") {
				t.Errorf("logs: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// TestTrainThroughKueue: under the real Kueue, a job that fits the ClusterQueue's quota runs
// to the end; one that does not stays queued with Kueue's reason, and a timeout says so and
// keeps it (exit 12); for a TFJob and a TrainJob. A kind Kueue does not manage here
// (PyTorchJob) is refused and removed with the fix.
func TestTrainThroughKueue(t *testing.T) {
	for _, tc := range []struct {
		kind, example, prefix, podSet string
		args                          []string
	}{
		{"TFJob", "mnist-tensorflow", "tfjob.kubeflow.org/", "worker", nil},
		{"TrainJob", "mnist-pytorch", "trainjob.trainer.kubeflow.org/", "node", nil},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			ns := namespace(t)
			if err := localcluster.CreateLocalQueue(context.Background(), suite.dynamic, ns, "team-a"); err != nil {
				t.Fatal(err)
			}
			dir := copyModel(t, tc.example, nil)
			stdout, stderr, code := kaptain(t, dir, nil, append([]string{"train", "-n", ns, "--queue", "team-a", "--workers", "2", small, "--timeout", "3m", "-o", "name"}, tc.args...)...)
			if code != 0 || !strings.Contains(stderr, " Succeeded (") {
				t.Fatalf("a job that fits: exit %d\n%s", code, stderr)
			}
			createdName(t, stdout, tc.prefix)
			// Two workers of 3 CPUs: more than the queue's 4.
			start := time.Now()
			stdout, stderr, code = kaptain(t, dir, nil, append([]string{"train", "-n", ns, "--queue", "team-a", "--workers", "2", "--cpu=3", "--timeout", "20s", "-o", "name"}, tc.args...)...)
			if code != sdkerr.Timeout.ExitCode() {
				t.Fatalf("a job that does not fit: exit %d, want %d\n%s", code, sdkerr.Timeout.ExitCode(), stderr)
			}
			job := createdName(t, stdout, tc.prefix)
			reason := "queued in team-a: couldn't assign flavors to pod set " + tc.podSet + ": insufficient quota for cpu in flavor default-flavor"
			for _, want := range []string{" Suspended (", reason, "it is still " + reason, "the job is kept and runs once Kueue admits it"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			t.Logf("queued %s timed out after %s:\n%s", tc.kind, time.Since(start).Round(100*time.Millisecond), stderr)
			if out, _, code := kaptain(t, dir, nil, "get", "jobs", "-n", ns); code != 0 || !strings.Contains(out, job) {
				t.Errorf("the queued job is not kept:\n%s", out)
			}
		})
	}
	t.Run("a kind Kueue does not manage", func(t *testing.T) {
		ns := namespace(t)
		if err := localcluster.CreateLocalQueue(context.Background(), suite.dynamic, ns, "team-a"); err != nil {
			t.Fatal(err)
		}
		dir := copyModel(t, "mnist-pytorch", nil)
		_, stderr, code := kaptain(t, dir, s3Env, "train", "-n", ns, "--queue", "team-a", "--training-api", "v1", small, "--timeout", "3m")
		if code != sdkerr.WorkloadDeployment.ExitCode() || !strings.Contains(stderr, "Kueue does not manage PyTorchJobs in namespace "+ns) ||
			!strings.Contains(stderr, "enable Kueue's kubeflow.org/pytorchjob integration") || !strings.Contains(stderr, "or train as a TrainJob (--training-api v2)") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		eventually(t, "the PyTorchJob and its Secret removed", func() bool { return count(t, pyTorchJobs, ns) == 0 && len(secrets(t, ns)) == 0 })
	})
}

// trainingKinds are the kinds the tables below train: the tensorflow example as a TFJob, the
// pytorch one as a TrainJob on torch-distributed; replica names the first replica.
var trainingKinds = []struct {
	kind, example, replica string
	gvr                    schema.GroupVersionResource
}{
	{"TFJob", "mnist-tensorflow", "worker-0", tfJobs},
	{"TrainJob", "mnist-pytorch", "node-0", trainJobs},
}

// TestFailingReplicaEndsFailed: a replica whose script keeps failing (kwok crash-loops the
// pods labelled so; the model's labels reach every pod template) fails the job, past the
// operator's or the Job controller's backoff limit: exit 13, with the replica's last lines.
func TestFailingReplicaEndsFailed(t *testing.T) {
	// A fixed name (the cluster's logs are chosen by namespace), there already with -count=2.
	ns := failingNamespace
	if _, err := suite.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := localcluster.WaitForDefaultServiceAccount(context.Background(), suite.client, ns); err != nil {
		t.Fatal(err)
	}
	for _, tc := range trainingKinds {
		t.Run(tc.kind, func(t *testing.T) {
			dir := copyModel(t, tc.example, map[string]string{"    team: vision": "    team: vision\n    " + localcluster.CrashLoopLabel + ": \"true\""})
			_, stderr, code := kaptain(t, dir, nil, "train", "-n", ns, "--workers", "1", small, "--timeout", "3m")
			if code != sdkerr.JobFailed.ExitCode() {
				t.Fatalf("train with a failing replica: exit %d, want 13 (JobFailed)\n%s", code, stderr)
			}
			if tc.kind == "TFJob" && !strings.Contains(stderr, "reached the specified backoff limit") {
				t.Errorf("the TFJob's failure is not the operator's backoff limit:\n%s", stderr)
			}
			// The error ends with the failed replica's last lines, read through the API
			// server's pod log proxy from kwok's kubelet API.
			if !strings.Contains(stderr, "last lines of replica "+tc.replica+" (exit code 1):\n"+strings.Join(traceback, "\n")) {
				t.Errorf("the error lacks the failed replica's log:\n%s", stderr)
			}
			if out, _, code := kaptain(t, dir, nil, "diagnose", "-n", ns); code != sdkerr.Unknown.ExitCode() || !strings.Contains(out, "Failed") {
				t.Errorf("diagnose: exit %d, want 1 with the failed job\n%s", code, out)
			}
		})
	}
}

// TestTooManyGPUsEndsEarly: a replica no node can hold ends the wait at once (exit 11) where
// no cluster autoscaler runs, naming the replica.
func TestTooManyGPUsEndsEarly(t *testing.T) {
	for _, tc := range trainingKinds {
		t.Run(tc.kind, func(t *testing.T) {
			ns := namespace(t)
			dir := copyModel(t, tc.example, nil)
			start := time.Now()
			_, stderr, code := kaptain(t, dir, nil, "train", "-n", ns, "--workers", "1", "--gpus", "8", "--timeout", "3m")
			if code != sdkerr.WorkloadDeployment.ExitCode() || !strings.Contains(stderr, "replica "+tc.replica) || !strings.Contains(stderr, "Unschedulable") {
				t.Fatalf("train asking for 8 GPUs: exit %d, want 11 (WorkloadDeployment) naming %s\n%s", code, tc.replica, stderr)
			}
			if d := time.Since(start); d > time.Minute {
				t.Fatalf("the unschedulable replica took %s to be reported", d)
			}
		})
	}
}

// TestInterruptedTrainLeavesNothing: Ctrl-C while the job runs (its replicas complete only
// after ten minutes: kwok's pod-complete stage, delayed by an annotation a patch adds) removes
// the job, its Secret and, through the garbage collector, its pods (and a TrainJob's JobSet).
func TestInterruptedTrainLeavesNothing(t *testing.T) {
	for _, tc := range trainingKinds {
		t.Run(tc.kind, func(t *testing.T) {
			ns := namespace(t)
			dir := copyModel(t, tc.example, nil)
			patch, running := slowWorkers(t, dir, "10m"), "Running (2/2 replicas active)"
			if tc.kind == "TrainJob" {
				patch, running = filepath.Join(dir, "slow.json"), "node: 1 active"
				if err := os.WriteFile(patch, []byte(`[{"op": "add", "path": "/spec/runtimePatches/0/trainingRuntimeSpec/template/spec/replicatedJobs/0/template/spec/template/metadata/annotations",
				  "value": {"pod-complete.stage.kwok.x-k8s.io/delay": "10m"}}]`), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := plugin().Start(t, dir, s3Env, "train", "-n", ns, "--workers", "2", small, "--patch", patch, "--timeout", "3m")
			r.WaitFor(t, running, 2*time.Minute)
			r.Interrupt(t)
			if code := r.Exit(t, time.Minute); code != sdkerr.Interrupted.ExitCode() {
				t.Fatalf("interrupted train: exit %d\n%s", code, r.Stderr())
			}
			eventually(t, "the job, its Secret and pods removed", func() bool {
				pods, _ := suite.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
				return count(t, tc.gvr, ns) == 0 && count(t, jobSets, ns) == 0 && len(secrets(t, ns)) == 0 && pods != nil && len(pods.Items) == 0
			})
		})
	}
}

// TestInitThenTrain is a new user's first minutes: in an empty directory, init writes
// kaptain.yaml and trainer.py, the client dry run renders a job for them, and train runs it on
// the local Kubeflow (a TrainJob on torch-distributed), with no file written by hand.
func TestInitThenTrain(t *testing.T) {
	ns := namespace(t)
	dir := t.TempDir()
	if _, stderr, code := kaptain(t, dir, nil, "init", "--framework", "pytorch"); code != 0 || !strings.Contains(stderr, "kubectl kaptain train --local") {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	for _, f := range []string{"kaptain.yaml", "trainer.py"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("init wrote no %s: %v", f, err)
		}
	}
	if stdout, stderr, code := kaptain(t, dir, nil, "train", "--dry-run=client", "-o", "yaml"); code != 0 || !strings.Contains(stdout, "kind: PyTorchJob") || !strings.Contains(stdout, "kaptain.dev/model-id: dev/my-model") {
		t.Fatalf("train --dry-run=client -o yaml: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code := kaptain(t, dir, nil, "train", "-n", ns, small, "--memory=128Mi", "--timeout", "3m", "-o", "name")
	if code != 0 || !strings.Contains(stdout, "trainjob.trainer.kubeflow.org/") || !strings.Contains(stderr, "trained model dev/my-model") {
		t.Fatalf("train: exit %d\n%s%s", code, stdout, stderr)
	}
}
