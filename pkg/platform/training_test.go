package platform

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

const ns = "team-a"

func runtimeObj(kind, name, namespace, framework string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": workload.TrainerGroupVersion, "kind": kind}}
	u.SetName(name)
	u.SetNamespace(namespace)
	if framework != "" {
		u.SetLabels(map[string]string{workload.LabelRuntimeFramework: framework})
	}
	return u
}

// trainer is a runtime of Trainer's shape with an ML policy (none when policy is empty).
func trainerRuntime(kind, name, namespace, framework, policy string) *unstructured.Unstructured {
	u := runtimeObj(kind, name, namespace, framework)
	jobs := []any{map[string]any{"name": "node", "template": map[string]any{"metadata": map[string]any{"labels": map[string]any{workload.LabelAncestorStep: workload.AncestorTrainer}}}}}
	if policy == "mpi" {
		jobs = []any{map[string]any{"name": "node"}, map[string]any{"name": "launcher", "template": map[string]any{"metadata": map[string]any{"labels": map[string]any{workload.LabelAncestorStep: workload.AncestorTrainer}}}}}
	}
	spec := map[string]any{"template": map[string]any{"spec": map[string]any{"replicatedJobs": jobs}}}
	if policy != "" {
		spec["mlPolicy"] = map[string]any{"numNodes": int64(1), policy: map[string]any{}}
	}
	u.Object["spec"] = spec
	return u
}

func trainingCluster(v1Kinds []string, v2 bool, objs ...runtime.Object) *Cluster {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{ClusterTrainingRuntimes: "ClusterTrainingRuntimeList", TrainingRuntimes: "TrainingRuntimeList"}, objs...)
	mapper := meta.NewDefaultRESTMapper(nil)
	if v2 {
		mapper.Add(schema.FromAPIVersionAndKind(workload.TrainerGroupVersion, workload.KindTrainJob), meta.RESTScopeNamespace)
	}
	for _, k := range v1Kinds {
		mapper.Add(schema.FromAPIVersionAndKind(workload.KubeflowGroupVersion, k), meta.RESTScopeNamespace)
	}
	return &Cluster{Dynamic: dyn, Mapper: mapper, Namespace: ns}
}

// TestChooseTraining: the kind of every framework, API and runtime asked for, on clusters that
// serve either API or both, read from the runtimes they have.
func TestChooseTraining(t *testing.T) {
	runtimes := []runtime.Object{
		trainerRuntime(model.KindClusterTrainingRuntime, "torch-distributed", "", "torch", "torch"),
		trainerRuntime(model.KindClusterTrainingRuntime, "deepspeed-distributed", "", "deepspeed", "mpi"),
		trainerRuntime(model.KindClusterTrainingRuntime, "jax-distributed", "", "jax", "jax"),
		trainerRuntime(model.KindClusterTrainingRuntime, "xgboost-distributed", "", "xgboost", "xgboost"),
		trainerRuntime(model.KindClusterTrainingRuntime, "flux-runtime", "", "", "flux"),
		trainerRuntime(model.KindTrainingRuntime, "my-tf", ns, "", "torch"),
	}
	both := []string{workload.KindTFJob, workload.KindPyTorchJob}
	for _, tc := range []struct {
		name    string
		v1      []string
		v2      bool
		choice  TrainingChoice
		want    string
		offline string
	}{
		{"pytorch on both", both, true, TrainingChoice{Framework: "pytorch"}, "TrainJob on torch-distributed (torch)", "PyTorchJob"},
		{"pytorch on v1 only", both, false, TrainingChoice{Framework: "pytorch"}, "PyTorchJob", "PyTorchJob"},
		{"pytorch on v2 only", nil, true, TrainingChoice{Framework: "pytorch"}, "TrainJob on torch-distributed (torch)", "PyTorchJob"},
		{"pytorch, v1 asked", both, true, TrainingChoice{Framework: "pytorch", API: "v1"}, "PyTorchJob", "PyTorchJob"},
		{"pytorch on neither: the apply names the operator", nil, false, TrainingChoice{Framework: "pytorch"}, "PyTorchJob", "PyTorchJob"},
		{"pytorch on deepspeed", both, true, TrainingChoice{Framework: "pytorch", Runtime: "deepspeed-distributed"}, "TrainJob on deepspeed-distributed (mpi)", "TrainJob on deepspeed-distributed (mpi)"},
		{"a runtime asked for on v1 only", both, false, TrainingChoice{Framework: "pytorch", Runtime: "deepspeed-distributed"}, "error: the cluster does not serve TrainJob", "TrainJob on deepspeed-distributed (mpi)"},
		{"a namespace's runtime", both, true, TrainingChoice{Framework: "pytorch", Runtime: "trainingruntime/my-tf"}, "TrainJob on my-tf (torch)", "TrainJob on my-tf (torch)"},
		{"jax by its label", both, true, TrainingChoice{Framework: "jax"}, "TrainJob on jax-distributed (jax)", "TrainJob on jax-distributed (jax)"},
		{"xgboost by its label", nil, true, TrainingChoice{Framework: "xgboost"}, "TrainJob on xgboost-distributed (xgboost)", "TrainJob on xgboost-distributed (xgboost)"},
		{"mlx without a runtime labelled mlx", nil, true, TrainingChoice{Framework: "mlx"}, "error: no training runtime is labelled trainer.kubeflow.org/framework=mlx; the cluster has deepspeed-distributed (deepspeed), flux-runtime (framework not labelled)", "TrainJob on mlx-distributed (mpi)"},
		{"a policy kaptain does not know", nil, true, TrainingChoice{Framework: "pytorch", Runtime: "flux-runtime"}, "error: clustertrainingruntime flux-runtime has ML policy flux, which kubectl kaptain cannot build a trainer for; it knows torch, mpi, jax, xgboost", "TrainJob on flux-runtime (torch)"},
		{"a runtime that does not exist", nil, true, TrainingChoice{Framework: "pytorch", Runtime: "torch"}, `error: ClusterTrainingRuntime "torch" not found; choose one with --runtime: deepspeed-distributed (deepspeed)`, "TrainJob on torch (torch)"},
		{"tensorflow on both", both, true, TrainingChoice{Framework: "tensorflow"}, "TFJob", "TFJob"},
		{"tensorflow on v2 only", nil, true, TrainingChoice{Framework: "tensorflow"}, "error: the cluster serves Kubeflow Trainer v2 (TrainJob) but not the Training Operator's TFJob", "TFJob"},
		{"tensorflow on a runtime of its own", nil, true, TrainingChoice{Framework: "tensorflow", API: "v2", Runtime: "trainingruntime/my-tf"}, "TrainJob on my-tf (torch)", "TrainJob on my-tf (torch)"},
		{"tensorflow, v2 without a runtime", both, true, TrainingChoice{Framework: "tensorflow", API: "v2"}, "error: Kubeflow Trainer v2 has no TensorFlow runtime", "error: Kubeflow Trainer v2 has no TensorFlow runtime"},
		{"jax, v1 asked", both, true, TrainingChoice{Framework: "jax", API: "v1"}, "error: a jax model trains on Kubeflow Trainer v2 only", "error: a jax model trains on Kubeflow Trainer v2 only"},
		{"v1 with a runtime", both, true, TrainingChoice{Framework: "pytorch", API: "v1", Runtime: "torch-distributed"}, "error: --runtime names a TrainJob's runtime", "error: --runtime names a TrainJob's runtime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := trainingCluster(tc.v1, tc.v2, runtimes...)
			var warnings []string
			kind, err := cl.ChooseTraining(context.Background(), tc.choice, func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) })
			got := ""
			if err != nil {
				got = "error: " + err.Error()
			} else {
				got = kind.String()
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("cluster: %q, want %q", got, tc.want)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			offline, note, err := tc.choice.Offline()
			if err != nil {
				got = "error: " + err.Error()
			} else {
				got = offline.String()
			}
			if !strings.HasPrefix(got, tc.offline) {
				t.Errorf("client dry run: %q, want %q", got, tc.offline)
			}
			if err == nil && offline.GVK().Kind == workload.KindPyTorchJob && tc.choice.API == "" && !strings.Contains(note, "--training-api v2") {
				t.Errorf("client dry run of PyTorchJob notes %q", note)
			}
		})
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

	newInv := func(served bool, objs ...runtime.Object) *Cluster {
		mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "kueue.x-k8s.io", Version: "v1beta2"}})
		if served {
			mapper.Add(schema.GroupVersionKind{Group: "kueue.x-k8s.io", Version: "v1beta2", Kind: "Workload"}, meta.RESTScopeNamespace)
		}
		dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{workloads: "WorkloadList"}, objs...)
		return &Cluster{Dynamic: dyn, Mapper: mapper, Namespace: ns}
	}
	ctx := context.Background()
	if got, want := newInv(true, wl).QueueDetail(ctx, job), "queued in team-a: couldn't assign flavors to pod set node: insufficient quota for cpu in flavor default-flavor"; got != want {
		t.Errorf("pending: %q\nwant %q", got, want)
	}
	if got, want := newInv(true).QueueDetail(ctx, job), "queued in team-a, waiting for Kueue to create its Workload"; got != want {
		t.Errorf("no workload: %q", got)
	}
	if got := newInv(false).QueueDetail(ctx, job); !strings.Contains(got, "is Kueue installed?") {
		t.Errorf("no Kueue: %q", got)
	}
	running := job.DeepCopy()
	_ = unstructured.SetNestedField(running.Object, false, "spec", "suspend")
	if got := newInv(true, wl).QueueDetail(ctx, running); got != "" {
		t.Errorf("running job: %q, want nothing", got)
	}
}
