package workload

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// Kubeflow Trainer v2 facts (trainer.kubeflow.org/v1alpha1, v2.3.0).
const (
	TrainerGroup        = "trainer.kubeflow.org"
	TrainerGroupVersion = "trainer.kubeflow.org/v1alpha1"
	KindTrainJob        = "TrainJob"
	// TrainerNode names the trainer's container in every runtime, and the replicated job
	// of the nodes.
	TrainerNode = "node"
	// LabelRuntimeFramework is the label by which a runtime says its framework, e.g. torch.
	LabelRuntimeFramework = "trainer.kubeflow.org/framework"
	// Pod labels of a TrainJob's pods: JobSet's, and the Job controller's completion index.
	LabelJobSetName         = "jobset.sigs.k8s.io/jobset-name"
	LabelReplicatedJobName  = "jobset.sigs.k8s.io/replicatedjob-name"
	LabelJobCompletionIndex = "batch.kubernetes.io/job-completion-index"
	// LabelQueueName submits a job to a Kueue LocalQueue.
	LabelQueueName = "kueue.x-k8s.io/queue-name"
	// RuntimePatchManager names kaptain's entry in a TrainJob's runtimePatches.
	RuntimePatchManager = "kaptain.dev/kubectl-kaptain"
)

// trainJobKind is a TrainJob on a runtime, built for the runtime's ML policy.
type trainJobKind struct{ rt Runtime }

// TrainJobOn is Kubeflow Trainer's TrainJob on the runtime.
func TrainJobOn(rt Runtime) TrainingKind { return trainJobKind{rt: rt} }

var _ TrainingKind = trainJobKind{}

func (k trainJobKind) GVK() schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(TrainerGroupVersion, KindTrainJob)
}

func (k trainJobKind) String() string {
	if k.rt.Name == "" {
		return KindTrainJob
	}
	s := KindTrainJob + " on " + k.rt.Name
	if k.rt.Policy != PolicyUnread {
		s += " (" + string(k.rt.Policy) + ")"
	}
	return s
}

// Container: every runtime's trainer container, and an MPI runtime's nodes', is named node.
func (k trainJobKind) Container() string { return TrainerNode }

// PodSelector selects every pod of the TrainJob's JobSet.
func (k trainJobKind) PodSelector(name string) string { return LabelJobSetName + "=" + name }

// MaxName: JobSet names the pods <trainjob>-<replicated job>-0-<index>-<5 random characters>,
// and its webhook refuses a JobSet whose longest pod name would not fit.
func (k trainJobKind) MaxName(workers int) int {
	longest := TrainerNode
	for _, j := range k.rt.Jobs {
		if len(j) > len(longest) {
			longest = j
		}
	}
	return 63 - len("-"+longest+"-0-") - len(strconv.Itoa(max(workers-1, 0))) - len("-abcde")
}

// Supports: a TrainJob has neither a backoff limit (its runtime's JobSet failure policy
// restarts it) nor a TTL (kubectl kaptain keeps one in an annotation that clean honours).
func (k trainJobKind) Supports(Setting) bool { return false }

// Trial: Katib reads the trainer's output on the trainer step's first pod, and a trial ends
// on the TrainJob's Complete or Failed.
func (k trainJobKind) Trial() Trial {
	return Trial{
		PrimaryContainer: TrainerNode,
		PrimaryPodLabels: map[string]string{LabelReplicatedJobName: cmp.Or(k.rt.TrainerStep, TrainerNode), LabelJobCompletionIndex: "0"},
		Success:          conditionIs("Complete"), Failure: conditionIs("Failed"),
	}
}

// LogSelector selects the pods whose trainer container prints the trainer's output: on an
// MPI runtime the launcher's (mpirun gathers every rank's), elsewhere every node's.
func (k trainJobKind) LogSelector(name string) string {
	if k.rt.Policy == PolicyMPI {
		return k.PodSelector(name) + "," + LabelReplicatedJobName + "=" + MPILauncher
	}
	return k.PodSelector(name)
}

// command is how the trainer starts the main file for the runtime's ML policy: torchrun
// (which reads Trainer's PET_* variables); mpirun over the hostfile Trainer mounts, which
// lists every node with numProcPerNode slots, so that it starts the main file on each;
// otherwise the image's entrypoint (python -u mainFile), with Trainer's variables.
func (k trainJobKind) command(mainFile string) []string {
	switch k.rt.Policy {
	case PolicyTorch:
		return []string{"torchrun", mainFile}
	case PolicyMPI:
		return []string{"mpirun", "--hostfile", MPIHostfile, "python", "-u", mainFile}
	}
	return nil
}

// Build renders the TrainJob that trains m on the runtime: the model's image as the trainer,
// started for the runtime's ML policy, t.Workers nodes, the resources per node, the model's
// environment and the storage Secret's keys by reference (a trainer has no envFrom), and a
// runtime patch of the pod templates of the jobs that run the model's code (for the model's
// labels, which render sets on every pod template). On an MPI runtime, whose nodes run the
// runtime's image (a TrainJob cannot change it), the job runs on a TrainingRuntime derived
// from it whose nodes run the model's image: the companion, named after t.Owner (the job
// when empty). A TrainJob has no TTL: t's goes in the annotation
// model.AnnotationTTLSecondsAfterFinished, which clean honours; nor a backoff limit.
func (k trainJobKind) Build(m *model.Model, t Train) (*unstructured.Unstructured, []*unstructured.Unstructured, error) {
	rt := k.rt
	if err := t.check(); err != nil {
		return nil, nil, fmt.Errorf("building TrainJob: %w", err)
	}
	if rt.Name == "" {
		return nil, nil, fmt.Errorf("building TrainJob: no runtime")
	}
	if n := k.MaxName(t.Workers); len(t.Name) > n {
		return nil, nil, fmt.Errorf("building TrainJob: name %q is longer than %d characters, which its pods' names need", t.Name, n)
	}
	res, err := t.Resources.requirements()
	if err != nil {
		return nil, nil, fmt.Errorf("building TrainJob: %w", err)
	}
	image := cmp.Or(t.Image, m.Spec.Image)
	command, args := t.commandLine(k.command(m.Spec.MainFile), m.Spec.MainFile)
	trainer := trainJobTrainer{
		Image:    image,
		Command:  command,
		Args:     args,
		Env:      append(t.env(m), t.secretEnv()...),
		NumNodes: ptr.To(int32(t.Workers)), //nolint:gosec // the command checks --workers fits int32
	}
	if len(res.Requests) > 0 || len(res.Limits) > 0 {
		trainer.ResourcesPerNode = &res
	}
	ref := runtimeRef{Name: rt.Name}
	if rt.Kind != "" && rt.Kind != model.KindClusterTrainingRuntime {
		ref.APIGroup, ref.Kind = ptr.To(TrainerGroup), ptr.To(rt.Kind)
	}
	var companions []*unstructured.Unstructured
	if rt.Policy == PolicyMPI && rt.Spec != nil && !t.Standalone {
		derived, err := nodeRuntime(rt, cmp.Or(t.Owner, t.Name), image)
		if err != nil {
			return nil, nil, err
		}
		companions = append(companions, derived)
		ref = runtimeRef{Name: derived.GetName(), APIGroup: ptr.To(TrainerGroup), Kind: ptr.To(model.KindTrainingRuntime)}
	}
	annotations := map[string]string{}
	if t.TTLSecondsAfterFinished != nil {
		annotations[model.AnnotationTTLSecondsAfterFinished] = strconv.Itoa(int(*t.TTLSecondsAfterFinished))
	}
	if rt.Policy != PolicyUnread {
		annotations[AnnotationMLPolicy] = string(rt.Policy)
	}
	if len(annotations) == 0 {
		annotations = nil
	}
	job, err := toUnstructured(trainJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: TrainerGroupVersion, Kind: KindTrainJob},
		ObjectMeta: t.meta(annotations),
		Spec:       trainJobSpec{RuntimeRef: ref, Trainer: trainer, RuntimePatches: []any{k.podPatch(t.Placement)}},
	})
	return job, companions, err
}

// podPatch is kubectl kaptain's runtime patch: the pod templates of the jobs that run the
// model's code, with the placement (empty otherwise), so that render gives them the model's
// labels and the pods carry them.
func (k trainJobKind) podPatch(p Placement) map[string]any {
	jobs := []string{cmp.Or(k.rt.TrainerStep, TrainerNode)}
	if k.rt.Policy == PolicyMPI {
		jobs = []string{TrainerNode, MPILauncher}
	}
	var replicated []any
	for _, j := range jobs {
		replicated = append(replicated, map[string]any{"name": j, "template": map[string]any{"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{}, "spec": p,
		}}}})
	}
	return map[string]any{
		"manager":             RuntimePatchManager,
		"trainingRuntimeSpec": map[string]any{"template": map[string]any{"spec": map[string]any{"replicatedJobs": replicated}}},
	}
}

// nodeRuntime is the TrainingRuntime an MPI TrainJob runs on: the runtime's spec with the
// model's image in every job's node container (the launcher's Trainer sets from the
// trainer; the nodes', which mpirun starts the main file in, only the runtime can).
func nodeRuntime(rt Runtime, name, image string) (*unstructured.Unstructured, error) {
	spec := runtime.DeepCopyJSON(rt.Spec)
	jobs, _, _ := unstructured.NestedSlice(spec, "template", "spec", "replicatedJobs")
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		containers, _, _ := unstructured.NestedSlice(job, "template", "spec", "template", "spec", "containers")
		for _, c := range containers {
			if cm, ok := c.(map[string]any); ok && cm["name"] == TrainerNode {
				cm["image"] = image
			}
		}
		// A trainer has no use for the Kubernetes API, as the Training Operator's replicas.
		if err := unstructured.SetNestedField(job, false, "template", "spec", "template", "spec", "automountServiceAccountToken"); err != nil {
			return nil, fmt.Errorf("deriving the runtime of %s: %w", name, err)
		}
		if err := unstructured.SetNestedSlice(job, containers, "template", "spec", "template", "spec", "containers"); err != nil {
			return nil, fmt.Errorf("deriving the runtime of %s: %w", name, err)
		}
	}
	if err := unstructured.SetNestedSlice(spec, jobs, "template", "spec", "replicatedJobs"); err != nil {
		return nil, fmt.Errorf("deriving the runtime of %s: %w", name, err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": TrainerGroupVersion, "kind": model.KindTrainingRuntime,
		"metadata": map[string]any{"name": name, "annotations": map[string]any{"kaptain.dev/derived-from": strings.ToLower(rt.Kind) + "/" + rt.Name}},
		"spec":     spec,
	}}
	if rt.Framework != "" {
		obj.SetLabels(map[string]string{LabelRuntimeFramework: rt.Framework})
	}
	return obj, nil
}

// State reads a TrainJob: Complete, Failed or Suspended from its conditions, else Running
// once its replicated jobs count anything (active, ready, succeeded, failed), else Created;
// the counts of its replicated jobs (jobsStatus) and what its trainer reports
// (trainerStatus).
func (k trainJobKind) State(job *unstructured.Unstructured) TrainingState {
	st := TrainingState{Phase: Created, Total: 1, unit: "node"}
	if n, found, _ := unstructured.NestedInt64(job.Object, "spec", "trainer", "numNodes"); found {
		st.Total = n
	}
	jobs, _, _ := unstructured.NestedSlice(job.Object, "status", "jobsStatus")
	var summaries []string
	for _, j := range jobs {
		js, ok := j.(map[string]any)
		if !ok {
			continue
		}
		var counts []string
		for _, field := range []string{"active", "ready", "succeeded", "failed", "suspended"} {
			n, _, _ := unstructured.NestedInt64(js, field)
			if n > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", n, field))
			}
			switch field {
			case "active":
				st.Active += n
			case "succeeded":
				st.Succeeded += n
			case "failed":
				st.Failed += n
			}
		}
		if len(counts) > 0 {
			name, _ := js["name"].(string)
			summaries = append(summaries, name+": "+strings.Join(counts, ", "))
		}
	}
	st.Jobs = strings.Join(summaries, "; ")
	st.Progress = trainerProgress(job)
	if len(summaries) > 0 {
		// Its jobs started: running until a condition says how it ended.
		st.Phase = Running
	}
	conditions, _, _ := unstructured.NestedSlice(job.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok || cond["status"] != "True" {
			continue
		}
		var phase Phase
		switch cond["type"] {
		case "Complete":
			phase = Succeeded
		case "Failed":
			phase = Failed
		case "Suspended":
			phase = Suspended
		default:
			continue
		}
		if st.Finished() && phase == Suspended {
			continue
		}
		st.setCondition(phase, cond)
	}
	if suspend, _, _ := unstructured.NestedBool(job.Object, "spec", "suspend"); suspend && !st.Finished() {
		st.Phase = Suspended
	}
	return st
}

// trainerProgress formats a TrainJob's trainerStatus: progress, time left and metrics.
func trainerProgress(job *unstructured.Unstructured) string {
	ts, found, _ := unstructured.NestedMap(job.Object, "status", "trainerStatus")
	if !found {
		return ""
	}
	var parts []string
	if pct, found, _ := unstructured.NestedInt64(ts, "progressPercentage"); found {
		parts = append(parts, fmt.Sprintf("%d%%", pct))
	}
	if secs, found, _ := unstructured.NestedInt64(ts, "estimatedRemainingSeconds"); found {
		parts = append(parts, fmt.Sprintf("about %s left", (time.Duration(secs)*time.Second).String()))
	}
	metrics, _, _ := unstructured.NestedSlice(ts, "metrics")
	for _, m := range metrics {
		if mm, ok := m.(map[string]any); ok {
			parts = append(parts, fmt.Sprintf("%v=%v", mm["name"], mm["value"]))
		}
	}
	return strings.Join(parts, ", ")
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
