//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"

	"github.com/kaptain-dev/kubectl-kaptain/test/plugintest"
)

// running is a kubectl-kaptain process started in the background.
type running = plugintest.Process

// start runs the plugin in the background with the test kubeconfig.
func start(t *testing.T, dir string, env []string, args ...string) *running {
	t.Helper()
	return shared.plugin().Start(t, dir, env, args...)
}

// waitFor waits until the process has printed want on stderr.
func waitFor(t *testing.T, r *running, want string) {
	t.Helper()
	r.WaitFor(t, want, 30*time.Second)
}

// createdJob waits for the one training job of a resource in ns to exist.
func createdJob(t *testing.T, gvr schema.GroupVersionResource, ns string) *unstructured.Unstructured {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, err := shared.dynamic.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 1 {
			return &list.Items[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s appeared in %s", gvr.Resource, ns)
	return nil
}

// setStatus plays the training operator: it writes the job's status through the status
// subresource. Off the test's goroutine, call writeStatus.
func setStatus(t *testing.T, gvr schema.GroupVersionResource, job *unstructured.Unstructured, conditions []string, active, succeeded int64, message string) *unstructured.Unstructured {
	t.Helper()
	updated, err := writeStatus(gvr, job, conditions, active, succeeded, message)
	if err != nil {
		t.Fatal(err)
	}
	return updated
}

// writeStatus is setStatus returning its error, for goroutines (which must not call t.Fatal).
func writeStatus(gvr schema.GroupVersionResource, job *unstructured.Unstructured, conditions []string, active, succeeded int64, message string) (*unstructured.Unstructured, error) {
	current, err := shared.dynamic.Resource(gvr).Namespace(job.GetNamespace()).Get(context.Background(), job.GetName(), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Format(time.RFC3339)
	var conds []any
	for _, c := range conditions {
		conds = append(conds, map[string]any{"type": c, "status": "True", "reason": "Job" + c, "message": message, "lastUpdateTime": now, "lastTransitionTime": now})
	}
	current.Object["status"] = map[string]any{
		"conditions":      conds,
		"replicaStatuses": map[string]any{"Worker": map[string]any{"active": active, "succeeded": succeeded}},
	}
	updated, err := shared.dynamic.Resource(gvr).Namespace(job.GetNamespace()).UpdateStatus(context.Background(), current, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("updating the status: %w", err)
	}
	return updated, nil
}

func TestTrainWaitsUntilSucceeded(t *testing.T) {
	ns := namespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), nil, "train", "-n", ns, "--timeout", "60s", "-o", "name")
	job := createdJob(t, tfJobs, ns)
	setStatus(t, tfJobs, job, []string{"Created"}, 0, 0, "TFJob created")
	setStatus(t, tfJobs, job, []string{"Created", "Running"}, 2, 0, "TFJob running")
	waitFor(t, r, "Running (2/2 replicas active)")
	setStatus(t, tfJobs, job, []string{"Created", "Running", "Succeeded"}, 0, 2, "TFJob succeeded")
	if code := r.Exit(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, r.Stderr())
	}
	stderr := r.Stderr()
	for _, want := range []string{
		"tfjob.kubeflow.org/" + job.GetName() + " Running (2/2 replicas active)",
		"tfjob.kubeflow.org/" + job.GetName() + " Succeeded (2/2 replicas succeeded)",
		"trained model dev/mnist-tensorflow, revision ",
		"--epochs=3 --lr=0.01 --momentum=0.9",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.TrimSpace(r.Stdout()) != "tfjob.kubeflow.org/"+job.GetName() {
		t.Errorf("stdout = %q, want only the job's name", r.Stdout())
	}
	if count(t, tfJobs, ns) != 1 {
		t.Error("the finished job was removed without --force-cleanup")
	}
}

// TestTrainFailedJobExitsWithItsMessage: whatever the kind, a job that failed ends train with
// exit 13 and the job's own message.
func TestTrainFailedJobExitsWithItsMessage(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		gvr     schema.GroupVersionResource
		args    []string
		fail    func(job *unstructured.Unstructured) error
		message string
	}{
		{"pytorchjob", pyTorchJobs, []string{"--training-api", "v1"}, func(job *unstructured.Unstructured) error {
			_, err := writeStatus(pyTorchJobs, job, []string{"Created", "Running", "Failed"}, 0, 0, "PyTorchJob dev-mnist is failed because 1 Master replica(s) failed.")
			return err
		}, "PyTorchJob dev-mnist is failed because 1 Master replica(s) failed."},
		{"trainjob", trainJobs, nil, func(job *unstructured.Unstructured) error {
			return trainJobStatus(job, map[string]string{"Failed": "True"}, "jobset failed: node-1 exited 1", 0, 0)
		}, "jobset failed: node-1 exited 1"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			ns := namespace(t)
			r := start(t, repoPath("examples", "mnist-pytorch"), nil, append([]string{"train", "-n", ns, "--timeout", "60s"}, tc.args...)...)
			job := createdJob(t, tc.gvr, ns)
			if err := tc.fail(job); err != nil {
				t.Fatal(err)
			}
			if code := r.Exit(t, 30*time.Second); code != sdkerr.JobFailed.ExitCode() {
				t.Fatalf("exit code %d, want %d (JobFailed); stderr:\n%s", code, sdkerr.JobFailed.ExitCode(), r.Stderr())
			}
			if want := "error: " + strings.ToLower(job.GetKind()) + "." + tc.gvr.Group + "/" + job.GetName() + " failed: " + tc.message; !strings.Contains(r.Stderr(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.Stderr())
			}
		})
	}
}

func TestTrainTimesOut(t *testing.T) {
	ns := namespace(t)
	r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "train", "-n", ns, "--timeout", "2s")
	if r.code != sdkerr.Timeout.ExitCode() || !strings.Contains(r.stderr, "error: timed out after 2s waiting for tfjob.kubeflow.org/") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if count(t, tfJobs, ns) != 1 {
		t.Error("a timed-out job must keep running")
	}
}

func TestTrainStopsWhenAPodCannotBeScheduled(t *testing.T) {
	ns := namespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), nil, "train", "-n", ns, "--timeout", "60s")
	job := createdJob(t, tfJobs, ns)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.GetName() + "-worker-0", Labels: map[string]string{
			"training.kubeflow.org/job-name": job.GetName(), "training.kubeflow.org/replica-type": "worker", "training.kubeflow.org/replica-index": "0",
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "tensorflow", Image: "mnist:1"}}},
	}
	created, err := shared.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}
	if _, err := shared.client.CoreV1().Pods(ns).UpdateStatus(context.Background(), created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code := r.Exit(t, 30*time.Second); code != sdkerr.WorkloadDeployment.ExitCode() {
		t.Fatalf("exit code %d, want 11 (WorkloadDeployment); stderr:\n%s", code, r.Stderr())
	}
	if !strings.Contains(r.Stderr(), "replica worker-0 (pod "+pod.Name+") cannot run: Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.") {
		t.Errorf("stderr:\n%s", r.Stderr())
	}
}

func TestTrainInterruptedRemovesWhatItCreated(t *testing.T) {
	ns := namespace(t)
	// Objects of the user's, which the interrupt must leave alone.
	if _, err := applier().Apply(context.Background(), []*unstructured.Unstructured{secret(ns, "users-secret"), tfJob(ns, "users-job", int64(1))}); err != nil {
		t.Fatal(err)
	}
	r := start(t, repoPath("examples", "mnist-tensorflow"), []string{"AWS_ACCESS_KEY_ID=minio", "AWS_SECRET_ACCESS_KEY=minio-secret"}, "train", "-n", ns, "--timeout", "60s")
	var job *unstructured.Unstructured
	deadline := time.Now().Add(30 * time.Second)
	for job == nil && time.Now().Before(deadline) {
		list, err := shared.dynamic.Resource(tfJobs).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=kubectl-kaptain"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 1 {
			job = &list.Items[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	if job == nil {
		t.Fatalf("the job never appeared; stderr:\n%s", r.Stderr())
	}
	// Into the wait: the job's first state is printed once the watch runs.
	waitFor(t, r, "tfjob.kubeflow.org/"+job.GetName()+" Pending")
	storage, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), job.GetName()+"-storage", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the storage Secret: %v", err)
	}
	if refs := storage.OwnerReferences; len(refs) != 1 || refs[0].UID != job.GetUID() {
		t.Errorf("the storage Secret is not owned by the job: %+v", refs)
	}
	r.Interrupt(t)
	if code := r.Exit(t, 30*time.Second); code != sdkerr.Interrupted.ExitCode() {
		t.Fatalf("exit code %d, want 130; stderr:\n%s", code, r.Stderr())
	}
	if !strings.Contains(r.Stderr(), "error: interrupted; removed secret "+storage.Name+" and tfjob "+job.GetName()) {
		t.Errorf("stderr:\n%s", r.Stderr())
	}
	if _, err := shared.dynamic.Resource(tfJobs).Namespace(ns).Get(context.Background(), job.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the job is still there: %v", err)
	}
	if _, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), storage.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the storage Secret is still there: %v", err)
	}
	if _, err := shared.dynamic.Resource(tfJobs).Namespace(ns).Get(context.Background(), "users-job", metav1.GetOptions{}); err != nil {
		t.Errorf("the user's job was touched: %v", err)
	}
	if _, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), "users-secret", metav1.GetOptions{}); err != nil {
		t.Errorf("the user's Secret was touched: %v", err)
	}
}

func TestTrainForceCleanupRemovesTheFinishedJob(t *testing.T) {
	ns := namespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), []string{"KAPTAIN_SDK_FORCE_CLEANUP=yes"}, "train", "-n", ns, "--timeout", "60s")
	job := createdJob(t, tfJobs, ns)
	setStatus(t, tfJobs, job, []string{"Created", "Running", "Succeeded"}, 0, 2, "done")
	if code := r.Exit(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, r.Stderr())
	}
	if !strings.Contains(r.Stderr(), "removed tfjob "+job.GetName()+" (--force-cleanup)") {
		t.Errorf("stderr:\n%s", r.Stderr())
	}
	if _, err := shared.dynamic.Resource(tfJobs).Namespace(ns).Get(context.Background(), job.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the finished job is still there (err = %v)", err)
	}
}

func TestTrainWithoutWaitReturnsAtOnce(t *testing.T) {
	ns := namespace(t)
	r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "train", "-n", ns, "--wait=false")
	if r.code != 0 || !strings.Contains(r.stderr, "submitted; follow it with 'kubectl kaptain logs") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestTrainResourceVariantsPassServerDryRun checks the rendered jobs of the golden files
// (cmd/kubectl-kaptain/testdata) against the upstream CRDs.
func TestTrainResourceVariantsPassServerDryRun(t *testing.T) {
	ns := namespace(t)
	for _, tc := range []struct {
		example string
		args    []string
	}{
		{"mnist-tensorflow", []string{"--workers", "1"}},
		{"mnist-tensorflow", []string{"--workers", "2", "--cpu", "1", "--memory", "2Gi"}},
		{"mnist-tensorflow", []string{"--workers", "4", "--cpu", "2", "--memory", "8Gi", "--gpus", "1"}},
		{"mnist-pytorch", []string{"--workers", "1"}},
		{"mnist-pytorch", []string{"--workers", "2", "--cpu", "500m", "--memory", "1Gi"}},
		{"mnist-pytorch", []string{"--workers", "4", "--cpu-request", "1", "--memory-limit", "4Gi", "--gpu-limit", "1", "--ttl-seconds-after-finished", "3600"}},
	} {
		r := kaptain(t, repoPath("examples", tc.example), []string{"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b"}, append([]string{"train", "-n", ns, "--dry-run=server"}, tc.args...)...)
		if r.code != 0 || strings.Count(r.stdout, "created (server dry run)") != 2 {
			t.Errorf("%s %v: exit %d, stdout %q, stderr %q", tc.example, tc.args, r.code, r.stdout, r.stderr)
		}
	}
	if count(t, tfJobs, ns)+count(t, pyTorchJobs, ns) != 0 {
		t.Error("a server dry run created a job")
	}
}

// TestTrainHangUpRemovesWhatItCreated: a closed terminal or SSH session (SIGHUP) cleans up as
// Ctrl-C does, instead of leaving the job and its credentials behind.
func TestTrainHangUpRemovesWhatItCreated(t *testing.T) {
	ns := namespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), creds, "train", "-n", ns, "--timeout", "60s")
	job := createdJob(t, tfJobs, ns)
	waitFor(t, r, "tfjob.kubeflow.org/"+job.GetName()+" Pending")
	r.Signal(t, syscall.SIGHUP)
	if code := r.Exit(t, 30*time.Second); code != sdkerr.Interrupted.ExitCode() {
		t.Fatalf("exit code %d, want 130; stderr:\n%s", code, r.Stderr())
	}
	if !strings.Contains(r.Stderr(), "error: interrupted; removed secret "+job.GetName()+"-storage and tfjob "+job.GetName()) {
		t.Errorf("stderr:\n%s", r.Stderr())
	}
	if count(t, tfJobs, ns) != 0 || count(t, secrets, ns) != 0 {
		t.Error("the job or its Secret is still there")
	}
}
