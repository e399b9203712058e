package workload

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	// Suspended is a job held (a TrainJob's spec.suspend, the Training Operator's
	// runPolicy.suspend), e.g. by Kueue until its queue has room.
	Suspended Phase = "Suspended"
)

// TrainingState summarises a training job's status, whatever its kind.
type TrainingState struct {
	Phase Phase
	// Reason and Message are those of the condition that set the phase.
	Reason, Message string
	// Active, Succeeded and Failed count replicas over all replica types (a TrainJob's, its
	// pods over its replicated jobs); Total is the number the spec asks for (a TrainJob's
	// nodes).
	Active, Succeeded, Failed, Total int64
	// Jobs summarises a TrainJob's replicated jobs, e.g. "node: 1 active"; empty for the
	// Training Operator's kinds.
	Jobs string
	// Progress is what a TrainJob's trainer reports (trainerStatus), e.g. "42%, about 3m10s
	// left, loss=0.12"; empty when it reports nothing.
	Progress string
	// unit is what Total counts: "replica" or "node".
	unit string
}

// Finished reports whether the job ended, well or badly.
func (s TrainingState) Finished() bool { return s.Phase == Succeeded || s.Phase == Failed }

// setCondition sets the phase from a true condition.
func (s *TrainingState) setCondition(phase Phase, cond map[string]any) {
	s.Phase = phase
	s.Reason, _ = cond["reason"].(string)
	s.Message, _ = cond["message"].(string)
}

// String is the progress line of the state, e.g. "Running (2/3 replicas active)", or, where
// the kind reports its jobs, "Running (2 nodes; node: 1 active; 42%, about 3m10s left)". A
// failure reads "Failed: <message>"; a held job "Suspended (2 replicas; <why>)".
func (s TrainingState) String() string {
	if s.Phase == Failed {
		if s.Message != "" {
			return string(s.Phase) + ": " + s.Message
		}
		return string(s.Phase)
	}
	unit := cmp.Or(s.unit, "replica")
	if s.Jobs == "" && s.Progress == "" && s.Phase != Suspended && unit == "replica" {
		switch s.Phase {
		case Running, Restarting:
			return fmt.Sprintf("%s (%d/%d replicas active)", s.Phase, s.Active, s.Total)
		case Succeeded:
			return fmt.Sprintf("%s (%d/%d replicas succeeded)", s.Phase, s.Succeeded, s.Total)
		}
		return string(s.Phase)
	}
	parts := []string{fmt.Sprintf("%d %s%s", s.Total, unit, plural(s.Total))}
	for _, p := range []string{s.Jobs, s.Progress} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if s.Phase == Suspended && s.Message != "" {
		parts = append(parts, s.Message)
	}
	return fmt.Sprintf("%s (%s)", s.Phase, strings.Join(parts, "; "))
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// LabelKatibSuggestion is the label Katib sets on a Suggestion's pods: the experiment's name.
const LabelKatibSuggestion = "katib.kubeflow.org/suggestion"

// TrialPodName names a pod of a Katib experiment in messages: "the suggestion service", or
// "trial <job> replica worker-0" from the training operator's labels.
func TrialPodName(pod *corev1.Pod) string {
	if pod.Labels[LabelKatibSuggestion] != "" {
		return "the suggestion service"
	}
	return "trial " + JobOf(pod) + " replica " + ReplicaName(pod)
}

// JobOf is the name of the training job (TFJob, PyTorchJob or TrainJob) a pod belongs to,
// from its operator's labels, or the pod's name when they are missing.
func JobOf(pod *corev1.Pod) string {
	return cmp.Or(pod.Labels[LabelJobName], pod.Labels[LabelJobSetName], pod.Name)
}

// ReplicaName names a pod's replica as "worker-1" or "master-0" from the Training Operator's
// labels, "node-0" from a TrainJob's (replicated job and completion index), or the pod's name
// when they are missing.
func ReplicaName(pod *corev1.Pod) string {
	if rj, idx := pod.Labels[LabelReplicatedJobName], pod.Labels[LabelJobCompletionIndex]; rj != "" && idx != "" {
		return rj + "-" + idx
	}
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

// Autoscaler event reasons on a pending pod: the cluster autoscaler's TriggeredScaleUp and
// NotTriggerScaleUp, and Karpenter's Nominated (a node is being made for the pod).
var (
	scaleUpReasons   = []string{"TriggeredScaleUp", "Nominated"}
	noScaleUpReasons = []string{"NotTriggerScaleUp", "FailedScaleUp"}
)

// ScaleUp reads a pod's events: whether the latest autoscaler event says a node is being added
// for it, and that event's message.
func ScaleUp(events []corev1.Event) (inProgress bool, message string) {
	var latest *corev1.Event
	for i := range events {
		e := &events[i]
		if !slices.Contains(scaleUpReasons, e.Reason) && !slices.Contains(noScaleUpReasons, e.Reason) {
			continue
		}
		if latest == nil || !eventTime(e).Before(eventTime(latest)) {
			latest = e
		}
	}
	if latest == nil {
		return false, ""
	}
	return slices.Contains(scaleUpReasons, latest.Reason), latest.Reason + ": " + latest.Message
}

// eventTime is when an event last happened, whichever of its times is set.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// transientPullReasons are image pull failures that a retry may heal (a registry briefly
// unreachable or rate-limiting), unless the message says the image is missing or refused.
var (
	transientPullReasons = []string{"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable"}
	permanentPullWords   = []string{"not found", "manifest unknown", "unauthorized", "denied", "forbidden", "invalid reference"}
)

// TransientPull reports whether an image pull problem (a PodProblem reason and message) may
// heal by itself.
func TransientPull(reason, message string) bool {
	if !slices.Contains(transientPullReasons, reason) {
		return false
	}
	m := strings.ToLower(message)
	return !slices.ContainsFunc(permanentPullWords, func(w string) bool { return strings.Contains(m, w) })
}
