package inventory

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

func TestChooseTrainingAPI(t *testing.T) {
	for _, tc := range []struct {
		framework, asked string
		runtime, v1, v2  bool
		want             string
	}{
		{"pytorch", "", false, true, true, "v2"},
		{"pytorch", "", false, true, false, "v1"},
		{"pytorch", "", false, false, true, "v2"},
		{"pytorch", "v1", false, true, true, "v1"},
		{"pytorch", "", false, false, false, "v1"}, // the apply names the operator to install
		{"tensorflow", "", false, true, true, "v1"},
		{"tensorflow", "", false, false, false, "v1"},
		{"tensorflow", "", false, false, true, "error: install the Kubeflow Training Operator v1 (kubeflow/training-operator, release-1.9) for TFJob, or run it on a TensorFlow runtime of your own with --training-api v2 --runtime NAME"},
		{"tensorflow", "", true, false, true, "error: or ask for that runtime with --training-api v2"},
		{"tensorflow", "v2", true, false, true, "v2"},
	} {
		got, err := ChooseTrainingAPI(tc.framework, tc.asked, tc.runtime, tc.v1, tc.v2)
		if err != nil {
			if sdkerr.ClassOf(err) != sdkerr.WorkloadDeployment {
				t.Errorf("%+v: class %s", tc, sdkerr.ClassOf(err))
			}
			got = "error: " + err.Error()
		}
		if got != tc.want && !(strings.HasPrefix(tc.want, "error: ") && strings.HasSuffix(got, strings.TrimPrefix(tc.want, "error: "))) {
			t.Errorf("%s asked %q runtime %v v1 %v v2 %v: %q, want %q", tc.framework, tc.asked, tc.runtime, tc.v1, tc.v2, got, tc.want)
		}
	}
}

func runtimeObj(kind, name, namespace, framework string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": workload.TrainerGroupVersion, "kind": kind}}
	u.SetName(name)
	u.SetNamespace(namespace)
	if framework != "" {
		u.SetLabels(map[string]string{workload.LabelRuntimeFramework: framework})
	}
	return u
}

func TestTrainingRuntimeAndAPIs(t *testing.T) {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{ClusterTrainingRuntimes: "ClusterTrainingRuntimeList", TrainingRuntimes: "TrainingRuntimeList"},
		runtimeObj(model.KindClusterTrainingRuntime, "torch-distributed", "", "torch"),
		runtimeObj(model.KindClusterTrainingRuntime, "deepspeed-distributed", "", "deepspeed"),
		runtimeObj(model.KindTrainingRuntime, "my-tf", ns, ""),
	)
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.FromAPIVersionAndKind(workload.TrainerGroupVersion, workload.KindTrainJob), meta.RESTScopeNamespace)
	mapper.Add(schema.FromAPIVersionAndKind(workload.KubeflowGroupVersion, workload.KindTFJob), meta.RESTScopeNamespace)
	inv := &Inventory{Dynamic: dyn, Mapper: mapper, Namespace: ns}
	ctx := context.Background()

	if fw, err := inv.TrainingRuntime(ctx, model.KindClusterTrainingRuntime, "torch-distributed"); err != nil || fw != "torch" {
		t.Errorf("torch-distributed: %q, %v", fw, err)
	}
	if fw, err := inv.TrainingRuntime(ctx, model.KindTrainingRuntime, "my-tf"); err != nil || fw != "" {
		t.Errorf("trainingruntime/my-tf: %q, %v", fw, err)
	}
	_, err := inv.TrainingRuntime(ctx, model.KindClusterTrainingRuntime, "torch")
	want := `ClusterTrainingRuntime "torch" not found; choose one with --runtime: deepspeed-distributed (deepspeed), torch-distributed (torch), trainingruntime/my-tf (framework not labelled)`
	if err == nil || err.Error() != want || sdkerr.ClassOf(err) != sdkerr.WorkloadDeployment {
		t.Errorf("missing runtime: %v\nwant %s", err, want)
	}

	if v1, v2, err := inv.TrainingAPIs("tensorflow"); err != nil || !v1 || !v2 {
		t.Errorf("tensorflow: v1 %v v2 %v %v", v1, v2, err)
	}
	if v1, v2, err := inv.TrainingAPIs("pytorch"); err != nil || v1 || !v2 {
		t.Errorf("pytorch (no PyTorchJob served): v1 %v v2 %v %v", v1, v2, err)
	}
}

func TestQueueDetail(t *testing.T) {
	workloads := schema.GroupVersionResource{Group: "kueue.x-k8s.io", Version: "v1beta2", Resource: "workloads"}
	job := &unstructured.Unstructured{Object: map[string]any{"apiVersion": workload.TrainerGroupVersion, "kind": workload.KindTrainJob,
		"spec": map[string]any{"suspend": true}}}
	job.SetName("j")
	job.SetNamespace(ns)
	job.SetUID("uid-1")
	job.SetLabels(map[string]string{workload.LabelQueueName: "team-a"})
	wl := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
		"status": map[string]any{"conditions": []any{map[string]any{"type": "QuotaReserved", "status": "False", "reason": "Pending",
			"message": "couldn't assign flavors to pod set node: insufficient quota for cpu in flavor default-flavor"}}}}}
	wl.SetName("trainjob-j-12345")
	wl.SetNamespace(ns)
	wl.SetLabels(map[string]string{LabelKueueJobUID: "uid-1"})

	newInv := func(served bool, objs ...runtime.Object) *Inventory {
		mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "kueue.x-k8s.io", Version: "v1beta2"}})
		if served {
			mapper.Add(schema.GroupVersionKind{Group: "kueue.x-k8s.io", Version: "v1beta2", Kind: "Workload"}, meta.RESTScopeNamespace)
		}
		dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{workloads: "WorkloadList"}, objs...)
		return &Inventory{Dynamic: dyn, Mapper: mapper, Namespace: ns}
	}
	ctx := context.Background()
	if got, want := newInv(true, wl).QueueDetail(ctx, job, run.State{}), "queued in team-a: couldn't assign flavors to pod set node: insufficient quota for cpu in flavor default-flavor"; got != want {
		t.Errorf("pending: %q\nwant %q", got, want)
	}
	if got, want := newInv(true).QueueDetail(ctx, job, run.State{}), "queued in team-a, waiting for Kueue to create its Workload"; got != want {
		t.Errorf("no workload: %q", got)
	}
	if got := newInv(false).QueueDetail(ctx, job, run.State{}); !strings.Contains(got, "is Kueue installed?") {
		t.Errorf("no Kueue: %q", got)
	}
	running := job.DeepCopy()
	_ = unstructured.SetNestedField(running.Object, false, "spec", "suspend")
	if got := newInv(true, wl).QueueDetail(ctx, running, run.State{}); got != "" {
		t.Errorf("running job: %q, want nothing", got)
	}
}
