package workload

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Pod labels the Kubeflow Training Operator sets on a job's pods.
const (
	LabelJobName      = "training.kubeflow.org/job-name"
	LabelReplicaType  = "training.kubeflow.org/replica-type"
	LabelReplicaIndex = "training.kubeflow.org/replica-index"
)

// Phase is where a training job stands.
type Phase string

// The phases, from the job's latest true condition.
const (
	Pending    Phase = "Pending"
	Created    Phase = "Created"
	Running    Phase = "Running"
	Restarting Phase = "Restarting"
	Succeeded  Phase = "Succeeded"
	Failed     Phase = "Failed"
)

// TrainingState summarises a TFJob's or PyTorchJob's status.
type TrainingState struct {
	Phase Phase
	// Reason and Message are those of the condition that set the phase.
	Reason, Message string
	// Active, Succeeded and Failed count replicas over all replica types; Total is the
	// number the spec asks for.
	Active, Succeeded, Failed, Total int64
}

// Finished reports whether the job ended, well or badly.
func (s TrainingState) Finished() bool { return s.Phase == Succeeded || s.Phase == Failed }

// String is the progress line of the state, e.g. "Running (2/3 replicas active)".
func (s TrainingState) String() string {
	switch s.Phase {
	case Running, Restarting:
		return fmt.Sprintf("%s (%d/%d replicas active)", s.Phase, s.Active, s.Total)
	case Succeeded:
		return fmt.Sprintf("%s (%d/%d replicas succeeded)", s.Phase, s.Succeeded, s.Total)
	case Failed:
		msg := string(s.Phase)
		if s.Message != "" {
			msg += ": " + s.Message
		}
		return msg
	}
	return string(s.Phase)
}

// replicaSpecsField is where each kind keeps its replica specs.
var replicaSpecsField = map[string]string{KindTFJob: "tfReplicaSpecs", KindPyTorchJob: "pytorchReplicaSpecs"}

// StateOf reads a training job's state: the phase of its most recent true condition among
// Created, Running, Restarting, Succeeded and Failed (a terminal one wins), and replica counts.
func StateOf(job *unstructured.Unstructured) TrainingState {
	st := TrainingState{Phase: Pending}
	specs, _, _ := unstructured.NestedMap(job.Object, "spec", replicaSpecsField[job.GetKind()])
	for _, typ := range slices.Sorted(maps.Keys(specs)) {
		n, found, _ := unstructured.NestedInt64(specs, typ, "replicas")
		if !found {
			n = 1
		}
		st.Total += n
	}
	statuses, _, _ := unstructured.NestedMap(job.Object, "status", "replicaStatuses")
	for typ := range statuses {
		for field, dst := range map[string]*int64{"active": &st.Active, "succeeded": &st.Succeeded, "failed": &st.Failed} {
			n, _, _ := unstructured.NestedInt64(statuses, typ, field)
			*dst += n
		}
	}
	conditions, _, _ := unstructured.NestedSlice(job.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok || cond["status"] != "True" {
			continue
		}
		phase := Phase(fmt.Sprint(cond["type"]))
		switch phase {
		case Created, Running, Restarting, Succeeded, Failed:
		default:
			continue
		}
		if st.Finished() && !(phase == Succeeded || phase == Failed) {
			continue
		}
		st.Phase = phase
		st.Reason, _ = cond["reason"].(string)
		st.Message, _ = cond["message"].(string)
	}
	return st
}

// ReplicaName names a pod's replica as "worker-1" or "master-0" from the operator's labels,
// or the pod's name when they are missing.
func ReplicaName(pod *corev1.Pod) string {
	typ, idx := pod.Labels[LabelReplicaType], pod.Labels[LabelReplicaIndex]
	if typ == "" || idx == "" {
		return pod.Name
	}
	return strings.ToLower(typ) + "-" + idx
}

// imagePullReasons are container waiting reasons that mean the image cannot be pulled.
var imagePullReasons = []string{"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}

// PodProblem reports why a pod cannot run: it cannot be scheduled, or its image cannot be
// pulled. ok is false when nothing is wrong that waiting would not fix.
func PodProblem(pod *corev1.Pod) (reason, message string, ok bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return "Unschedulable", c.Message, true
		}
	}
	for _, cs := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		if w := cs.State.Waiting; w != nil && slices.Contains(imagePullReasons, w.Reason) {
			return w.Reason, fmt.Sprintf("container %s: image %s: %s", cs.Name, cs.Image, w.Message), true
		}
	}
	return "", "", false
}
