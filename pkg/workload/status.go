package workload

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

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
	// Suspended is a TrainJob held with spec.suspend, e.g. by Kueue until its quota is free.
	Suspended Phase = "Suspended"
)

// TrainingState summarises a TFJob's or PyTorchJob's status.
type TrainingState struct {
	Phase Phase
	// Reason and Message are those of the condition that set the phase.
	Reason, Message string
	// Active, Succeeded and Failed count replicas over all replica types; Total is the
	// number the spec asks for. A TrainJob's Total is its nodes; its counts are in Jobs.
	Active, Succeeded, Failed, Total int64
	// Jobs summarises a TrainJob's replicated jobs, e.g. "node: 1 active"; empty for the
	// Training Operator's kinds.
	Jobs string
	// Progress is what a TrainJob's trainer reports (trainerStatus), e.g. "42%, about 3m10s
	// left, loss=0.12"; empty when it reports nothing.
	Progress string
	// trainJob is set for a TrainJob's state, which reads its own way.
	trainJob bool
}

// Finished reports whether the job ended, well or badly.
func (s TrainingState) Finished() bool { return s.Phase == Succeeded || s.Phase == Failed }

// String is the progress line of the state, e.g. "Running (2/3 replicas active)", or for a
// TrainJob "Running (2 nodes; node: 1 active; 42%, about 3m10s left)".
func (s TrainingState) String() string {
	if s.trainJob {
		return s.trainJobString()
	}
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

func (s TrainingState) trainJobString() string {
	if s.Phase == Failed && s.Message != "" {
		return string(s.Phase) + ": " + s.Message
	}
	parts := []string{fmt.Sprintf("%d node%s", s.Total, plural(s.Total))}
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

// replicaSpecsField is where each kind keeps its replica specs.
var replicaSpecsField = map[string]string{KindTFJob: "tfReplicaSpecs", KindPyTorchJob: "pytorchReplicaSpecs"}

// StateOf reads a training job's state: the phase of its most recent true condition among
// Created, Running, Restarting, Succeeded and Failed (a terminal one wins), and replica counts.
func StateOf(job *unstructured.Unstructured) TrainingState {
	if job.GetKind() == KindTrainJob {
		return trainJobStateOf(job)
	}
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

// trainJobStateOf reads a TrainJob's state: Complete, Failed or Suspended from its conditions,
// else Running once its replicated jobs count anything (active, ready, succeeded, failed), else
// Created; the counts of
// its replicated jobs (jobsStatus) and what its trainer reports (trainerStatus).
func trainJobStateOf(job *unstructured.Unstructured) TrainingState {
	st := TrainingState{Phase: Created, Total: 1, trainJob: true}
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
		st.Phase = phase
		st.Reason, _ = cond["reason"].(string)
		st.Message, _ = cond["message"].(string)
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

// PodSelector is the label selector of a training job's pods: JobSet's label for a TrainJob,
// the Training Operator's for the others.
func PodSelector(kind, name string) string {
	if kind == KindTrainJob {
		return LabelJobSetName + "=" + name
	}
	return LabelJobName + "=" + name
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
