package workload

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// MLPolicy is how a Trainer runtime runs its trainer: the source set in its spec.mlPolicy.
type MLPolicy string

// The ML policies kubectl kaptain builds TrainJobs for (Trainer v2.3.0's).
const (
	// PolicyTorch runs the main file under torchrun, which reads the PET_* variables Trainer
	// sets.
	PolicyTorch MLPolicy = "torch"
	// PolicyMPI runs mpirun on the launcher, which starts the main file on every node listed
	// in the hostfile Trainer mounts (deepspeed, mlx).
	PolicyMPI MLPolicy = "mpi"
	// PolicyJAX and PolicyXGBoost run the main file directly, with the variables Trainer sets
	// (JAX_COORDINATOR_ADDRESS..., DMLC_TRACKER_URI...).
	PolicyJAX     MLPolicy = "jax"
	PolicyXGBoost MLPolicy = "xgboost"
	// PolicyUnread is a runtime kubectl kaptain may not read: the image's entrypoint runs the
	// main file, and the runtime's own command is left to Trainer.
	PolicyUnread MLPolicy = ""
)

// Policies are the ML policies kubectl kaptain knows, in the order it lists them.
func Policies() []MLPolicy { return []MLPolicy{PolicyTorch, PolicyMPI, PolicyJAX, PolicyXGBoost} }

// Trainer's names for MPI runtimes' replicated jobs, and where it mounts the hostfile.
const (
	MPILauncher = "launcher"
	MPIHostfile = "/etc/mpi/hostfile"
	// LabelAncestorStep marks the replicated job Trainer applies spec.trainer to, with
	// value AncestorTrainer.
	LabelAncestorStep = "trainer.kubeflow.org/trainjob-ancestor-step"
	AncestorTrainer   = "trainer"
	// AnnotationMLPolicy keeps, on a TrainJob kubectl kaptain made, the ML policy of its
	// runtime, so that logs and describe follow the pods that print the trainer's output.
	AnnotationMLPolicy = "kaptain.dev/ml-policy"
)

// Runtime is the training runtime a TrainJob runs on, as far as kubectl kaptain read it.
type Runtime struct {
	// Kind is model.KindClusterTrainingRuntime or model.KindTrainingRuntime; Name its name.
	Kind, Name string
	// Framework is its trainer.kubeflow.org/framework label, e.g. torch, deepspeed.
	Framework string
	// Policy is its ML policy; PolicyUnread when it could not be read.
	Policy MLPolicy
	// TrainerStep is the replicated job Trainer applies spec.trainer to (node; launcher
	// on MPI runtimes); Jobs are all its replicated jobs.
	TrainerStep string
	Jobs        []string
	// Spec is the runtime's spec, read for MPI runtimes: their nodes run the runtime's image,
	// so the TrainJob runs on a TrainingRuntime derived from it whose nodes run the model's.
	Spec map[string]any
}

// RuntimeOf reads a ClusterTrainingRuntime or TrainingRuntime: its framework label, ML
// policy and replicated jobs. A policy kubectl kaptain cannot build for is an error that
// names those it can.
func RuntimeOf(obj *unstructured.Unstructured) (Runtime, error) {
	rt := Runtime{Kind: obj.GetKind(), Name: obj.GetName(), Framework: obj.GetLabels()[LabelRuntimeFramework]}
	policy, _, _ := unstructured.NestedMap(obj.Object, "spec", "mlPolicy")
	var sources []string
	for k := range policy {
		if k != "numNodes" {
			sources = append(sources, k)
		}
	}
	slices.Sort(sources)
	known := make([]string, 0, len(Policies()))
	for _, p := range Policies() {
		known = append(known, string(p))
	}
	switch {
	case len(sources) == 1 && slices.Contains(known, sources[0]):
		rt.Policy = MLPolicy(sources[0])
	case len(sources) == 0:
		return rt, fmt.Errorf("%s %s has no ML policy (spec.mlPolicy names none of %s): kubectl kaptain cannot tell how its trainer runs",
			strings.ToLower(rt.Kind), rt.Name, strings.Join(known, ", "))
	default:
		return rt, fmt.Errorf("%s %s has ML policy %s, which kubectl kaptain cannot build a trainer for; it knows %s",
			strings.ToLower(rt.Kind), rt.Name, strings.Join(sources, ", "), strings.Join(known, ", "))
	}
	jobs, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "replicatedJobs")
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		name, _ := job["name"].(string)
		rt.Jobs = append(rt.Jobs, name)
		if step, _, _ := unstructured.NestedString(job, "template", "metadata", "labels", LabelAncestorStep); step == AncestorTrainer {
			rt.TrainerStep = name
		}
	}
	if rt.TrainerStep == "" {
		return rt, fmt.Errorf("%s %s has no replicated job labelled %s=%s, to which Trainer applies the trainer", strings.ToLower(rt.Kind), rt.Name, LabelAncestorStep, AncestorTrainer)
	}
	if rt.Policy == PolicyMPI {
		if rt.TrainerStep != MPILauncher || !slices.Contains(rt.Jobs, TrainerNode) {
			return rt, fmt.Errorf("%s %s has the mpi ML policy but not Trainer's MPI shape (a %s replicated job as the trainer, and a %s job)", strings.ToLower(rt.Kind), rt.Name, MPILauncher, TrainerNode)
		}
		rt.Spec, _, _ = unstructured.NestedMap(obj.Object, "spec")
	}
	return rt, nil
}

// TrainerRuntime is how a client dry run, which reads nothing, takes a runtime: Trainer
// v2.3.0's own runtimes by name, any other by the framework it serves (framework, the
// model's).
func TrainerRuntime(kind, name, framework string) Runtime {
	rt := Runtime{Kind: kind, Name: name, TrainerStep: TrainerNode, Jobs: []string{TrainerNode}}
	switch {
	case name == "deepspeed-distributed" || name == "mlx-distributed" || (framework == "mlx" && name != model.DefaultTrainingRuntime):
		rt.Policy, rt.TrainerStep, rt.Jobs = PolicyMPI, MPILauncher, []string{TrainerNode, MPILauncher}
	case name == "jax-distributed" || framework == "jax":
		rt.Policy = PolicyJAX
	case name == "xgboost-distributed" || framework == "xgboost":
		rt.Policy = PolicyXGBoost
	default:
		rt.Policy = PolicyTorch
	}
	rt.Framework = map[MLPolicy]string{PolicyTorch: "torch", PolicyJAX: "jax", PolicyXGBoost: "xgboost"}[rt.Policy]
	if rt.Policy == PolicyMPI {
		rt.Framework = strings.TrimSuffix(name, "-distributed")
	}
	return rt
}

// runtimeOfJob is the runtime a TrainJob names, with the ML policy kubectl kaptain recorded
// on it (PolicyUnread on another's).
func runtimeOfJob(job *unstructured.Unstructured) Runtime {
	rt := Runtime{Kind: model.KindClusterTrainingRuntime, TrainerStep: TrainerNode}
	rt.Name, _, _ = unstructured.NestedString(job.Object, "spec", "runtimeRef", "name")
	if kind, _, _ := unstructured.NestedString(job.Object, "spec", "runtimeRef", "kind"); kind != "" {
		rt.Kind = kind
	}
	rt.Policy = MLPolicy(job.GetAnnotations()[AnnotationMLPolicy])
	if rt.Policy == PolicyMPI {
		rt.TrainerStep = MPILauncher
	}
	return rt
}
