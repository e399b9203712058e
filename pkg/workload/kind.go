package workload

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// TrainingKind is one way of running a model's training: the Training Operator's TFJob or
// PyTorchJob, or Kubeflow Trainer's TrainJob on a runtime. It is chosen once per command;
// everything that differs between kinds (how the job is built, its name limit, the pods and
// container that run the model's code, how its status reads, how Katib runs it as a trial,
// which settings it has fields for) is asked of it, never worked out again by its callers.
type TrainingKind interface {
	// GVK is the kind's group, version and kind.
	GVK() schema.GroupVersionKind
	// String names the kind for people, e.g. "TFJob" or "TrainJob on deepspeed-distributed (mpi)".
	String() string
	// Build renders the job that trains m, and the companions it needs beside it, which its
	// owner owns (the job, or t.Owner): an MPI TrainJob's derived runtime.
	Build(m *model.Model, t Train) (job *unstructured.Unstructured, companions []*unstructured.Unstructured, err error)
	// MaxName is the longest job name whose pods' (and Services') names fit in a DNS label
	// with workers replicas.
	MaxName(workers int) int
	// Supports says whether the kind has a field for a setting.
	Supports(Setting) bool
	// Container is the container that runs the model's code in the job's pods.
	Container() string
	// PodSelector selects the pods of the job named name; LogSelector those of them whose
	// Container prints the trainer's output.
	PodSelector(name string) string
	LogSelector(name string) string
	// State reads a job of the kind.
	State(job *unstructured.Unstructured) TrainingState
	// Trial is how Katib runs a job of the kind as a trial.
	Trial() Trial
}

// Setting is a train setting that some kinds have no field for.
type Setting string

// The settings that differ between kinds.
const (
	// SettingBackoffLimit is runPolicy.backoffLimit: how many restarts fail the job.
	SettingBackoffLimit Setting = "backoffLimit"
	// SettingTTL is runPolicy.ttlSecondsAfterFinished: the cluster removes the finished job.
	SettingTTL Setting = "ttlSecondsAfterFinished"
)

// Trial is how Katib runs a training job as a trial: the container whose output its metrics
// collector reads, on the pod PrimaryPodLabels select (every pod when empty), and the
// conditions that end the trial.
type Trial struct {
	PrimaryContainer string
	PrimaryPodLabels map[string]string
	Success, Failure string
}

// conditionIs is Katib's GJSON test of a true condition of the given type.
func conditionIs(typ string) string {
	return `status.conditions.#(type=="` + typ + `")#|#(status=="True")#`
}

// TFJob is the Training Operator's TFJob: a tensorflow model's Worker replicas.
func TFJob() TrainingKind {
	return operatorKind{kind: KindTFJob, container: "tensorflow", specs: "tfReplicaSpecs"}
}

// PyTorchJob is the Training Operator's PyTorchJob: a pytorch model's Master and Workers.
func PyTorchJob() TrainingKind {
	return operatorKind{kind: KindPyTorchJob, container: "pytorch", specs: "pytorchReplicaSpecs"}
}

// TrainingKinds are the kinds kubectl kaptain trains with, as read back from the cluster: a
// TrainJob read back is a TrainJob on whatever runtime it names.
func TrainingKinds() []TrainingKind {
	return []TrainingKind{TFJob(), PyTorchJob(), TrainJobOn(Runtime{})}
}

// KindOf returns the training kind of a job object (TFJob, PyTorchJob or TrainJob), or nil
// when the object is none of them. A TrainJob's kind reads the runtime it names and the ML
// policy kubectl kaptain recorded on it when it made it.
func KindOf(job *unstructured.Unstructured) TrainingKind {
	gvk := job.GroupVersionKind()
	switch {
	case gvk.Group == TrainerGroup && gvk.Kind == KindTrainJob:
		return TrainJobOn(runtimeOfJob(job))
	case gvk.Group == "kubeflow.org" && gvk.Kind == KindTFJob:
		return TFJob()
	case gvk.Group == "kubeflow.org" && gvk.Kind == KindPyTorchJob:
		return PyTorchJob()
	}
	return nil
}

// StateOf reads a training job of any kind; a Pending state when it is none of them.
func StateOf(job *unstructured.Unstructured) TrainingState {
	if k := KindOf(job); k != nil {
		return k.State(job)
	}
	return TrainingState{Phase: Pending}
}

// V1Kind is the Training Operator's kind for a framework: PyTorchJob for pytorch, TFJob
// for the others (tensorflow; train refuses the frameworks it has no kind for).
func V1Kind(framework string) TrainingKind {
	if framework == "pytorch" {
		return PyTorchJob()
	}
	return TFJob()
}

// KindNames lists kinds as "TFJob, PyTorchJob or TrainJob".
func KindNames(kinds []TrainingKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.GVK().Kind
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
