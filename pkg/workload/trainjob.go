package workload

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// Kubeflow Trainer v2 facts (trainer.kubeflow.org/v1alpha1, v2.3.0).
const (
	TrainerGroup        = "trainer.kubeflow.org"
	TrainerGroupVersion = "trainer.kubeflow.org/v1alpha1"
	KindTrainJob        = "TrainJob"
	// TrainerNode names the trainer's replicated job, and its container, in Trainer's runtimes.
	TrainerNode = "node"
	// LabelRuntimeFramework is the label by which a runtime says its framework, e.g. torch.
	LabelRuntimeFramework = "trainer.kubeflow.org/framework"
	// RuntimeFrameworkTorch is the framework label of PyTorch runtimes, whose trainer runs
	// under torchrun (Trainer sets torchrun's PET_* variables).
	RuntimeFrameworkTorch = "torch"
	// Pod labels of a TrainJob's pods: JobSet's, and the Job controller's completion index.
	LabelJobSetName         = "jobset.sigs.k8s.io/jobset-name"
	LabelReplicatedJobName  = "jobset.sigs.k8s.io/replicatedjob-name"
	LabelJobCompletionIndex = "batch.kubernetes.io/job-completion-index"
	// LabelQueueName submits a job to a Kueue LocalQueue.
	LabelQueueName = "kueue.x-k8s.io/queue-name"
	// RuntimePatchManager names kaptain's entry in a TrainJob's runtimePatches.
	RuntimePatchManager = "kaptain.dev/kubectl-kaptain"
)

// MaxTrainJobName is the longest TrainJob name whose pods' names fit in a DNS label with
// numNodes nodes: JobSet names them <trainjob>-node-0-<index>-<5 random characters>, and its
// webhook refuses a JobSet whose longest pod name would not fit.
func MaxTrainJobName(numNodes int) int {
	return 63 - len("-"+TrainerNode+"-0-") - len(strconv.Itoa(max(numNodes-1, 0))) - len("-abcde")
}

// Runtime is the training runtime a TrainJob runs on.
type Runtime struct {
	// Kind is model.KindClusterTrainingRuntime or model.KindTrainingRuntime; Name its name.
	Kind, Name string
	// Torch runs the main file with torchrun, which reads the PET_* variables Trainer sets
	// on PyTorch runtimes; otherwise the image's entrypoint runs it.
	Torch bool
}

// TrainJob returns the Kubeflow Trainer v2 TrainJob that trains m on the runtime: the model's
// image as the trainer, t.Workers nodes, the resources per node, hyperparameters and args as
// arguments, the model's environment, and the storage Secret's keys by reference (a trainer
// has no envFrom), and a runtime patch of the nodes' pod template (for the model's labels,
// which render sets on every pod template). TrainJob has no TTL: t's goes in the annotation
// model.AnnotationTTLSecondsAfterFinished, which clean honours. It has no backoff limit
// either (its runtime's JobSet failure policy restarts it): t's is not used.
func TrainJob(m *model.Model, t Train, rt Runtime) (*unstructured.Unstructured, error) {
	if t.Name == "" {
		return nil, fmt.Errorf("building TrainJob: no name")
	}
	if t.Workers < 1 {
		return nil, fmt.Errorf("building TrainJob: workers must be 1 or more, got %d", t.Workers)
	}
	if rt.Name == "" {
		return nil, fmt.Errorf("building TrainJob: no runtime")
	}
	if n := MaxTrainJobName(t.Workers); len(t.Name) > n {
		return nil, fmt.Errorf("building TrainJob: name %q is longer than %d characters, which its pods' names need", t.Name, n)
	}
	image := t.Image
	if image == "" {
		image = m.Spec.Image
	}
	res, err := t.Resources.requirements()
	if err != nil {
		return nil, fmt.Errorf("building TrainJob: %w", err)
	}
	env := []corev1.EnvVar{
		{Name: EnvTrainedModelUploadPath, Value: KubeLiteral(m.TrainedURI(t.Revision))},
		{Name: EnvModelLifecyclePhase, Value: "training"},
	}
	for _, k := range slices.Sorted(slices.Values(t.StorageKeys)) {
		env = append(env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: t.StorageSecret}, Key: k,
		}}})
	}
	if len(t.StorageKeys) > 0 && t.StorageSecret == "" {
		return nil, fmt.Errorf("building TrainJob: storage keys without a Secret")
	}
	var command []string
	if rt.Torch {
		command = []string{"torchrun", m.Spec.MainFile}
	}
	command, args := t.commandLine(command, m.Spec.MainFile)
	trainer := trainJobTrainer{
		Image:    image,
		Command:  command,
		Args:     args,
		Env:      env,
		NumNodes: ptr.To(int32(t.Workers)),
	}
	if len(res.Requests) > 0 || len(res.Limits) > 0 {
		trainer.ResourcesPerNode = &res
	}
	ref := runtimeRef{Name: rt.Name}
	if rt.Kind != "" && rt.Kind != model.KindClusterTrainingRuntime {
		ref.APIGroup, ref.Kind = ptr.To(TrainerGroup), ptr.To(rt.Kind)
	}
	meta := metav1.ObjectMeta{Name: t.Name}
	if t.Queue != "" {
		meta.Labels = map[string]string{LabelQueueName: t.Queue}
	}
	if t.TTLSecondsAfterFinished != nil {
		meta.Annotations = map[string]string{model.AnnotationTTLSecondsAfterFinished: strconv.Itoa(int(*t.TTLSecondsAfterFinished))}
	}
	// The nodes' pod template, empty: render gives it the model's labels, as it does the
	// Training Operator's pod templates, so that the pods carry them.
	nodes := map[string]any{
		"manager": RuntimePatchManager,
		"trainingRuntimeSpec": map[string]any{"template": map[string]any{"spec": map[string]any{"replicatedJobs": []any{
			map[string]any{"name": TrainerNode, "template": map[string]any{"spec": map[string]any{"template": map[string]any{
				"metadata": map[string]any{}, "spec": map[string]any{},
			}}}},
		}}}},
	}
	return toUnstructured(trainJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: TrainerGroupVersion, Kind: KindTrainJob},
		ObjectMeta: meta,
		Spec:       trainJobSpec{RuntimeRef: ref, Trainer: trainer, RuntimePatches: []any{nodes}},
	})
}

// The TrainJob fields kaptain sets (trainer.kubeflow.org/v1alpha1).
type (
	trainJob struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              trainJobSpec `json:"spec"`
	}
	trainJobSpec struct {
		RuntimeRef     runtimeRef      `json:"runtimeRef"`
		Trainer        trainJobTrainer `json:"trainer"`
		RuntimePatches []any           `json:"runtimePatches,omitempty"`
	}
	runtimeRef struct {
		Name     string  `json:"name"`
		APIGroup *string `json:"apiGroup,omitempty"`
		Kind     *string `json:"kind,omitempty"`
	}
	trainJobTrainer struct {
		Image            string                       `json:"image"`
		Command          []string                     `json:"command,omitempty"`
		Args             []string                     `json:"args,omitempty"`
		Env              []corev1.EnvVar              `json:"env,omitempty"`
		NumNodes         *int32                       `json:"numNodes,omitempty"`
		ResourcesPerNode *corev1.ResourceRequirements `json:"resourcesPerNode,omitempty"`
	}
)
