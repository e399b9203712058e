//go:build integration

package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/kustomize/kyaml/kio"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/test/plugintest"
)

func TestTrainAppliesTheJobOfEachFramework(t *testing.T) {
	for _, tc := range []struct {
		example, kind, container string
		resource                 schema.GroupVersionResource
		replicaField             string
		replicaTypes             []string
		args                     []string
	}{
		{example: "mnist-tensorflow", kind: "TFJob", container: "tensorflow", resource: tfJobs, replicaField: "tfReplicaSpecs", replicaTypes: []string{"Worker"}},
		// The cluster serves TrainJob too: a pytorch model takes it unless told v1.
		{example: "mnist-pytorch", kind: "PyTorchJob", container: "pytorch", resource: pyTorchJobs, replicaField: "pytorchReplicaSpecs", replicaTypes: []string{"Master", "Worker"}, args: []string{"--training-api", "v1"}},
	} {
		t.Run(tc.example, func(t *testing.T) {
			ns := namespace(t)
			r := kaptain(t, repoPath("examples", tc.example), nil, append([]string{"train", "-n", ns, "--wait=false", "--workers", "3", "-p", "lr=0.05", "--cpu", "500m", "-o", "name"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("train exited %d: %s", r.code, r.stderr)
			}
			name := strings.TrimSpace(r.stdout)
			if !strings.HasPrefix(name, strings.ToLower(tc.kind)+".kubeflow.org/dev-mnist-") {
				t.Fatalf("stdout = %q, want the job's name", r.stdout)
			}
			job, err := shared.dynamic.Resource(tc.resource).Namespace(ns).Get(context.Background(), strings.SplitN(name, "/", 2)[1], metav1.GetOptions{})
			if err != nil {
				t.Fatalf("reading the job back: %v", err)
			}
			labels := job.GetLabels()
			for k, want := range map[string]string{"app.kubernetes.io/managed-by": "kubectl-kaptain", "kaptain.dev/action": "train", "team": "vision"} {
				if labels[k] != want {
					t.Errorf("label %s = %q, want %q", k, labels[k], want)
				}
			}
			if job.GetAnnotations()["kaptain.dev/model-id"] != "dev/"+tc.example {
				t.Errorf("model-id annotation = %q", job.GetAnnotations()["kaptain.dev/model-id"])
			}
			specs, _, _ := unstructured.NestedMap(job.Object, "spec", tc.replicaField)
			var types []string
			total := int64(0)
			for typ := range specs {
				types = append(types, typ)
				n, _, _ := unstructured.NestedInt64(specs, typ, "replicas")
				total += n
				containers, _, _ := unstructured.NestedSlice(specs, typ, "template", "spec", "containers")
				c := containers[0].(map[string]any)
				if c["name"] != tc.container {
					t.Errorf("%s container name = %v, want %s", typ, c["name"], tc.container)
				}
				args, _, _ := unstructured.NestedStringSlice(c, "args")
				if !slices.Contains(args, "--lr=0.05") || !slices.Contains(args, "--epochs=3") {
					t.Errorf("%s args = %v, want --lr=0.05 (flag) and --epochs=3 (file)", typ, args)
				}
				cpu, _, _ := unstructured.NestedString(c, "resources", "limits", "cpu")
				if cpu != "500m" {
					t.Errorf("%s cpu limit = %q, want 500m", typ, cpu)
				}
			}
			slices.Sort(types)
			if !slices.Equal(types, tc.replicaTypes) || total != 3 {
				t.Errorf("replicas %v totalling %d, want %v totalling 3", types, total, tc.replicaTypes)
			}
			for _, f := range job.GetManagedFields() {
				if f.Operation == metav1.ManagedFieldsOperationApply && f.Manager != "kubectl-kaptain" {
					t.Errorf("applied by field manager %q", f.Manager)
				}
			}
		})
	}
}

func TestTrainServerDryRunCreatesNothing(t *testing.T) {
	ns := namespace(t)
	r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "train", "-n", ns, "--dry-run=server")
	if r.code != 0 {
		t.Fatalf("train --dry-run=server exited %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "created (server dry run)") {
		t.Errorf("stdout = %q, want a 'created (server dry run)' line", r.stdout)
	}
	if n := count(t, tfJobs, ns); n != 0 {
		t.Errorf("%d TFJobs exist after a server dry run, want 0", n)
	}
}

func TestTrainServerDryRunRejectsWhatTheServerRejects(t *testing.T) {
	ns := namespace(t)
	dir := plugintest.CopyModel(t, repoPath("examples", "mnist-tensorflow"), nil)
	// replicas is an integer in the upstream TFJob schema: the client does not check the
	// patched value, the server refuses it, and nothing is created.
	patch := "- op: replace\n  path: /spec/tfReplicaSpecs/Worker/replicas\n  value: many\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(patch), 0o644); err != nil {
		t.Fatal(err)
	}
	r := kaptain(t, dir, nil, "train", "-n", ns, "--dry-run=server", "--patch", "bad.yaml")
	if r.code != sdkerr.WorkloadDeployment.ExitCode() {
		t.Fatalf("exit code = %d, want 11 (WorkloadDeployment); stderr: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "replicas") {
		t.Errorf("stderr = %q, want the rejected field named", r.stderr)
	}
	if n := count(t, tfJobs, ns); n != 0 {
		t.Errorf("%d TFJobs exist, want 0", n)
	}
}

func TestTrainPatchAddsTolerations(t *testing.T) {
	ns := namespace(t)
	dir := plugintest.CopyModel(t, repoPath("examples", "mnist-tensorflow"), nil)
	patch := `apiVersion: kubeflow.org/v1
kind: TFJob
spec:
  tfReplicaSpecs:
    Worker:
      template:
        spec:
          nodeSelector: {accelerator: nvidia-a100}
          tolerations:
          - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
`
	if err := os.WriteFile(filepath.Join(dir, "gpu.yaml"), []byte(patch), 0o644); err != nil {
		t.Fatal(err)
	}
	r := kaptain(t, dir, nil, "train", "-n", ns, "--wait=false", "--patch", "gpu.yaml", "-o", "name")
	if r.code != 0 {
		t.Fatalf("train exited %d: %s", r.code, r.stderr)
	}
	job, err := shared.dynamic.Resource(tfJobs).Namespace(ns).Get(context.Background(), strings.SplitN(strings.TrimSpace(r.stdout), "/", 2)[1], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podSpec, _, _ := unstructured.NestedMap(job.Object, "spec", "tfReplicaSpecs", "Worker", "template", "spec")
	if sel, _, _ := unstructured.NestedString(podSpec, "nodeSelector", "accelerator"); sel != "nvidia-a100" {
		t.Errorf("nodeSelector accelerator = %q", sel)
	}
	tol, _, _ := unstructured.NestedSlice(podSpec, "tolerations")
	containers, _, _ := unstructured.NestedSlice(podSpec, "containers")
	if len(tol) != 1 || len(containers) != 1 {
		t.Fatalf("tolerations %v and %d containers, want one toleration and the one container kept", tol, len(containers))
	}
	c := containers[0].(map[string]any)
	if c["name"] != "tensorflow" || c["image"] != "registry.example.com/kaptain/mnist-tensorflow:0.0.1" || c["args"] == nil {
		t.Errorf("the container lost fields in the merge: %v", c)
	}
}

// TestDemoManifestsPassServerDryRun is the acceptance check of 'make demo': what a client
// dry run prints is accepted by the API server's dry run.
func TestDemoManifestsPassServerDryRun(t *testing.T) {
	ns := namespace(t)
	for _, example := range []string{"mnist-tensorflow", "mnist-pytorch"} {
		r := kaptain(t, repoPath("examples", example), nil, "train", "-n", ns, "--dry-run=client", "-o", "yaml")
		if r.code != 0 {
			t.Fatalf("%s: client dry run exited %d: %s", example, r.code, r.stderr)
		}
		nodes, err := (&kio.ByteReader{Reader: strings.NewReader(r.stdout), OmitReaderAnnotations: true}).Read()
		if err != nil || len(nodes) == 0 {
			t.Fatalf("%s: output is not YAML objects (%v):\n%s", example, err, r.stdout)
		}
		for _, n := range nodes {
			data, err := n.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(data); err != nil {
				t.Fatal(err)
			}
			gvk := u.GroupVersionKind()
			mapping, err := shared.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Fatalf("%s: %s is not served: %v", example, gvk, err)
			}
			_, err = shared.dynamic.Resource(mapping.Resource).Namespace(u.GetNamespace()).Patch(context.Background(), u.GetName(),
				types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "test", DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Errorf("%s: the server refuses %s %s: %v", example, gvk.Kind, u.GetName(), err)
			}
		}
	}
	if count(t, tfJobs, ns)+count(t, pyTorchJobs, ns) != 0 {
		t.Error("a dry run created a job")
	}
}
