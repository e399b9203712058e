//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

var (
	secretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	saGVR      = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
)

// managed marks an object as made by kaptain.
func managed(u *unstructured.Unstructured) *unstructured.Unstructured {
	u.SetLabels(map[string]string{model.LabelManagedBy: model.ManagedByValue})
	return u
}

func exists(t *testing.T, gvr schema.GroupVersionResource, ns, name string) bool {
	t.Helper()
	_, err := shared.dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// inspectFixture creates objects of every managed kind in several states, and the user's.
func inspectFixture(t *testing.T, ns string) {
	t.Helper()
	running := managed(tfJob(ns, "running-job", int64(1)))
	if err := unstructured.SetNestedSlice(running.Object, []any{map[string]any{"name": "tensorflow", "image": "m:1",
		"envFrom": []any{map[string]any{"secretRef": map[string]any{"name": "used-secret"}}}}}, "spec", "tfReplicaSpecs", "Worker", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	experiment := func(name string) *unstructured.Unstructured {
		return managed(object("kubeflow.org/v1beta1", "Experiment", ns, name, map[string]any{"spec": map[string]any{"maxTrialCount": int64(2),
			"objective": map[string]any{"type": "maximize", "objectiveMetricName": "accuracy"}}}))
	}
	service := func(name, sa string) *unstructured.Unstructured {
		return managed(object("serving.kserve.io/v1beta1", "InferenceService", ns, name, map[string]any{"spec": map[string]any{"predictor": map[string]any{
			"serviceAccountName": sa, "model": map[string]any{"modelFormat": map[string]any{"name": "sklearn"}, "storageUri": "s3://m/1"}}}}))
	}
	sa := func(name string, secrets ...string) *unstructured.Unstructured {
		var refs []any
		for _, s := range secrets {
			refs = append(refs, map[string]any{"name": s})
		}
		return managed(object("v1", "ServiceAccount", ns, name, map[string]any{"secrets": refs}))
	}
	objs := []*unstructured.Unstructured{
		managed(tfJob(ns, "done-job", int64(1))), running,
		managed(object("kubeflow.org/v1", "PyTorchJob", ns, "done-pt", map[string]any{"spec": map[string]any{"pytorchReplicaSpecs": map[string]any{"Master": map[string]any{
			"replicas": int64(1), "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "pytorch", "image": "m:1"}}}}}}}})),
		tfJob(ns, "user-job", int64(1)),
		experiment("exp-done"), experiment("exp-running"),
		service("isvc-ready", "isvc-ready-sa"), service("isvc-broken", ""),
		managed(secret(ns, "stale-secret")), managed(secret(ns, "used-secret")), managed(secret(ns, "owned-secret")),
		secret(ns, "user-secret"), managed(secret(ns, "sa-secret")),
		sa("stale-sa"), sa("isvc-ready-sa", "sa-secret"),
	}
	results, err := applier().Apply(context.Background(), objs)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*unstructured.Unstructured{}
	for _, r := range results {
		byName[r.Object.GetName()] = r.Object
	}
	setStatus(t, tfJobs, byName["done-job"], []string{"Created", "Succeeded"}, 0, 1, "")
	setStatus(t, tfJobs, byName["user-job"], []string{"Created", "Succeeded"}, 0, 1, "")
	setStatus(t, tfJobs, byName["running-job"], []string{"Created", "Running"}, 1, 0, "")
	setStatus(t, pyTorchJobs, byName["done-pt"], []string{"Created", "Failed"}, 0, 0, "")
	done := setStatus(t, experiments, byName["exp-done"], []string{"Created", "Succeeded"}, 0, 0, "")
	// Katib's record of the best trial.
	if err := unstructured.SetNestedField(done.Object, map[string]any{"bestTrialName": "exp-done-x7k2p9qd",
		"observation": map[string]any{"metrics": []any{map[string]any{"name": "accuracy", "latest": "0.9712", "max": "0.9712", "min": "0.5"}}}}, "status", "currentOptimalTrial"); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.dynamic.Resource(experiments).Namespace(ns).UpdateStatus(context.Background(), done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	setStatus(t, experiments, byName["exp-running"], []string{"Created", "Running"}, 0, 0, "")
	setReady(t, byName["isvc-ready"], "True", "")
	// owned-secret belongs to the running job.
	owned, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), "owned-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kubeflow.org/v1", Kind: "TFJob", Name: "running-job", UID: byName["running-job"].GetUID()}}
	if _, err := shared.client.CoreV1().Secrets(ns).Update(context.Background(), owned, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestGetDeleteClean runs get, delete and clean over one fixture: the get subtests read
// it, the later ones change it in order (each says what it expects of the ones before).
func TestGetDeleteClean(t *testing.T) {
	ns := namespace(t)
	inspectFixture(t, ns)
	kap := func(t *testing.T, code int, args ...string) result {
		t.Helper()
		r := kaptain(t, ".", nil, append(args, "-n", ns)...)
		if r.code != code {
			t.Fatalf("%v: exit %d, want %d: %s%s", args, r.code, code, r.stdout, r.stderr)
		}
		return r
	}

	t.Run("get jobs is one table of the managed jobs", func(t *testing.T) {
		r := kap(t, 0, "get", "jobs")
		t.Logf("get jobs:\n%s", r.stdout)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 4 || !strings.HasPrefix(strings.Join(strings.Fields(lines[0]), " "), "KIND NAME STATE AGE") {
			t.Errorf("get jobs is not one table with a KIND column:\n%s", r.stdout)
		}
		for _, want := range []string{"TFJob        done-job      Succeeded", "TFJob        running-job   Running", "PyTorchJob   done-pt       Failed"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("get jobs lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "user-job") {
			t.Errorf("get jobs lists the user's job:\n%s", r.stdout)
		}
	})
	t.Run("get jobs -A --no-headers", func(t *testing.T) {
		if r := kap(t, 0, "get", "jobs", "-A", "--no-headers"); !strings.Contains(r.stdout, ns) || strings.Contains(r.stdout, "KIND") {
			t.Errorf("get jobs -A --no-headers:\n%s", r.stdout)
		}
	})
	t.Run("get all -o name", func(t *testing.T) {
		r := kap(t, 0, "get", "all", "-o", "name")
		if got := strings.Fields(r.stdout); len(got) != 7 {
			t.Errorf("get all -o name = %q, want 7 objects", got)
		}
	})
	t.Run("get inferenceservices --no-headers", func(t *testing.T) {
		r := kap(t, 0, "get", "inferenceservices", "--no-headers")
		if strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "isvc-ready") || !strings.Contains(r.stdout, "http://isvc-ready") {
			t.Errorf("get inferenceservices --no-headers:\n%s", r.stdout)
		}
	})
	t.Run("get one experiment with jsonpath", func(t *testing.T) {
		r := kap(t, 0, "get", "experiments", "exp-done", "-o", "jsonpath={.status.conditions[-1:].type}")
		if r.stdout != "Succeeded" {
			t.Errorf("get experiments exp-done -o jsonpath = %q", r.stdout)
		}
	})
	t.Run("get experiments -o wide adds the best trial and objective", func(t *testing.T) {
		r := kap(t, 0, "get", "experiments", "-o", "wide")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || !strings.Contains(lines[0], "BEST TRIAL") || !strings.HasSuffix(lines[0], "BEST OBJECTIVE") || strings.Contains(lines[0], "KIND") {
			t.Fatalf("get experiments -o wide:\n%s", r.stdout)
		}
		for _, line := range lines[1:] {
			f := strings.Fields(line)
			switch f[0] {
			case "exp-done":
				if f[len(f)-2] != "exp-done-x7k2p9qd" || f[len(f)-1] != "accuracy=0.9712" {
					t.Errorf("exp-done's row: %q", line)
				}
			case "exp-running":
				if f[len(f)-2] != "<none>" || f[len(f)-1] != "<none>" {
					t.Errorf("exp-running's row: %q", line)
				}
			default:
				t.Errorf("unexpected row %q", line)
			}
		}
	})
	t.Run("get errors", func(t *testing.T) {
		kap(t, 1, "get", "jobs", "nope")
		kap(t, 2, "get", "pods")
	})

	t.Run("clean without --force deletes nothing", func(t *testing.T) {
		r := kap(t, 0, "clean", "--min-age=0")
		for _, want := range []string{"secrets/stale-secret would be deleted", "serviceaccounts/stale-sa would be deleted"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("clean lacks %q:\n%s", want, r.stdout)
			}
		}
		for _, name := range []string{"used-secret", "owned-secret", "sa-secret", "user-secret"} {
			if strings.Contains(r.stdout, name) {
				t.Errorf("clean would delete %s:\n%s", name, r.stdout)
			}
		}
		if !exists(t, secretsGVR, ns, "stale-secret") || !exists(t, saGVR, ns, "stale-sa") {
			t.Fatal("clean without --force deleted something")
		}
	})

	t.Run("delete --all without --force: finished jobs only, never the user's", func(t *testing.T) {
		r := kap(t, 0, "delete", "jobs", "--all")
		if !strings.Contains(r.stdout, "tfjob.kubeflow.org/done-job deleted") || !strings.Contains(r.stdout, "pytorchjob.kubeflow.org/done-pt deleted") || !strings.Contains(r.stderr, "kept 1 running") {
			t.Errorf("delete jobs --all: %s%s", r.stdout, r.stderr)
		}
		if exists(t, tfJobs, ns, "done-job") || !exists(t, tfJobs, ns, "running-job") || !exists(t, tfJobs, ns, "user-job") {
			t.Error("delete jobs --all deleted the wrong jobs")
		}
	})
	t.Run("delete refuses the user's job", func(t *testing.T) {
		r := kaptain(t, ".", nil, "delete", "job", "user-job", "-n", ns)
		if r.code != sdkerr.Unknown.ExitCode() || !strings.Contains(r.stderr, "tfjob user-job was not made by kubectl kaptain") || !exists(t, tfJobs, ns, "user-job") {
			t.Errorf("delete job user-job: exit %d %s", r.code, r.stderr)
		}
	})
	t.Run("delete one experiment", func(t *testing.T) {
		kap(t, 0, "delete", "experiment", "exp-done")
		if exists(t, experiments, ns, "exp-done") {
			t.Error("delete experiment exp-done left it")
		}
	})

	t.Run("clean --force keeps unused credentials younger than --min-age", func(t *testing.T) {
		r := kap(t, 0, "clean", "--force")
		if !strings.Contains(r.stdout, "secrets/stale-secret kept for now (not used by any workload, but made ") || !strings.Contains(r.stderr, "younger than --min-age=2m0s") {
			t.Errorf("clean --force:\n%s%s", r.stdout, r.stderr)
		}
		if !exists(t, secretsGVR, ns, "stale-secret") || !exists(t, saGVR, ns, "stale-sa") {
			t.Error("clean --force deleted credentials made a moment ago, which an action may be about to use")
		}
	})
	t.Run("clean --force --min-age=0 deletes the stale credentials only", func(t *testing.T) {
		kap(t, 0, "clean", "--force", "--min-age=0")
		if exists(t, secretsGVR, ns, "stale-secret") || exists(t, saGVR, ns, "stale-sa") {
			t.Error("clean --force kept stale credentials")
		}
		for _, name := range []string{"used-secret", "owned-secret", "sa-secret", "user-secret"} {
			if !exists(t, secretsGVR, ns, name) {
				t.Errorf("clean --force deleted %s", name)
			}
		}
	})

	t.Run("clean --all --force deletes everything kaptain made", func(t *testing.T) {
		r := kap(t, 0, "clean", "--all", "--force")
		for _, gone := range []struct {
			gvr  schema.GroupVersionResource
			name string
		}{{tfJobs, "running-job"}, {experiments, "exp-running"}, {inferenceSvc, "isvc-ready"}, {inferenceSvc, "isvc-broken"}, {secretsGVR, "used-secret"}, {secretsGVR, "owned-secret"}, {secretsGVR, "sa-secret"}, {saGVR, "isvc-ready-sa"}} {
			if exists(t, gone.gvr, ns, gone.name) {
				t.Errorf("clean --all --force kept %s %s:\n%s", gone.gvr.Resource, gone.name, r.stdout)
			}
		}
		if !exists(t, tfJobs, ns, "user-job") || !exists(t, secretsGVR, ns, "user-secret") {
			t.Error("clean --all --force deleted the user's objects")
		}
	})
}
