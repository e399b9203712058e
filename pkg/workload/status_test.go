package workload

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestPodProblem(t *testing.T) {
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "tensorflow", Image: "mnist:1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "m"}}}
	}
	for _, tc := range []struct {
		name   string
		status corev1.PodStatus
		want   string
	}{
		{"healthy", corev1.PodStatus{Phase: corev1.PodRunning}, ""},
		{"pending, not yet scheduled", corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulerError"}}}, ""},
		{"unschedulable", corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "no gpu"}}}, "Unschedulable"},
		{"image pull back-off", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("ImagePullBackOff")}}, "ImagePullBackOff"},
		{"bad image name in an init container", corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{waiting("InvalidImageName")}}, "InvalidImageName"},
		{"container creating", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("ContainerCreating")}}, ""},
		{"crash loop is the job's business", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("CrashLoopBackOff")}}, ""},
	} {
		reason, _, bad := PodProblem(&corev1.Pod{Status: tc.status})
		if reason != tc.want || bad != (tc.want != "") {
			t.Errorf("%s: %q %v, want %q", tc.name, reason, bad, tc.want)
		}
	}
}

func TestReplicaName(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{LabelReplicaType: "Worker", LabelReplicaIndex: "1"}}}
	if got := ReplicaName(pod); got != "worker-1" {
		t.Errorf("ReplicaName = %q", got)
	}
	if got := ReplicaName(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}); got != "p" {
		t.Errorf("ReplicaName without labels = %q", got)
	}
}

func TestScaleUp(t *testing.T) {
	at := func(reason, msg string, sec int64) corev1.Event {
		return corev1.Event{Reason: reason, Message: msg, LastTimestamp: metav1.Unix(sec, 0)}
	}
	for _, tc := range []struct {
		name   string
		events []corev1.Event
		want   bool
		why    string
	}{
		{"none", nil, false, ""},
		{"scheduler only", []corev1.Event{at("FailedScheduling", "0/3 nodes", 1)}, false, ""},
		{"cluster autoscaler", []corev1.Event{at("FailedScheduling", "0/3 nodes", 1), at("TriggeredScaleUp", "pod triggered scale-up: [{gpu-pool 0->1 (max: 4)}]", 2)}, true, "TriggeredScaleUp: pod triggered scale-up: [{gpu-pool 0->1 (max: 4)}]"},
		{"karpenter", []corev1.Event{{Reason: "Nominated", Message: "Pod should schedule on: nodeclaim/default-x7k2p", EventTime: metav1.NewMicroTime(time.Unix(5, 0))}}, true, "Nominated: Pod should schedule on: nodeclaim/default-x7k2p"},
		{"no group fits", []corev1.Event{at("NotTriggerScaleUp", "pod didn't trigger scale-up: 2 max node group size reached", 3)}, false, "NotTriggerScaleUp: pod didn't trigger scale-up: 2 max node group size reached"},
		{"scale-up, then given up", []corev1.Event{at("TriggeredScaleUp", "up", 2), at("NotTriggerScaleUp", "no", 9)}, false, "NotTriggerScaleUp: no"},
		{"given up, then scale-up", []corev1.Event{at("NotTriggerScaleUp", "no", 2), at("TriggeredScaleUp", "up", 9)}, true, "TriggeredScaleUp: up"},
	} {
		got, why := ScaleUp(tc.events)
		if got != tc.want || why != tc.why {
			t.Errorf("%s: ScaleUp = %v, %q, want %v, %q", tc.name, got, why, tc.want, tc.why)
		}
	}
}

func TestTransientPull(t *testing.T) {
	for _, tc := range []struct {
		reason, message string
		want            bool
	}{
		{"ErrImagePull", "failed to pull image: dial tcp 10.0.0.5:443: i/o timeout", true},
		{"ImagePullBackOff", `Back-off pulling image "registry.example.com/m:1"`, true},
		{"ErrImagePull", "toomanyrequests: You have reached your pull rate limit", true},
		{"ErrImagePull", "rpc error: code = NotFound desc = failed to pull and unpack image: not found", false},
		{"ErrImagePull", "manifest unknown: manifest unknown", false},
		{"ErrImagePull", "pull access denied, repository does not exist or may require authorization", false},
		{"ErrImagePull", "401 Unauthorized", false},
		{"InvalidImageName", "couldn't parse image reference", false},
		{"ErrImageNeverPull", "image not present with pull policy of Never", false},
		{"Unschedulable", "0/3 nodes are available", false},
	} {
		if got := TransientPull(tc.reason, tc.message); got != tc.want {
			t.Errorf("TransientPull(%q, %q) = %v, want %v", tc.reason, tc.message, got, tc.want)
		}
	}
}

func TestTrialPodName(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{LabelKatibSuggestion: "mnist-tune-1", LabelJobName: "x"}, "the suggestion service"},
		{map[string]string{LabelJobName: "mnist-tune-1-a1b2c3d4", LabelReplicaType: "Worker", LabelReplicaIndex: "0"}, "trial mnist-tune-1-a1b2c3d4 replica worker-0"},
		{map[string]string{LabelJobSetName: "mnist-tune-1-a1b2c3d4", LabelReplicatedJobName: "node", LabelJobCompletionIndex: "1"}, "trial mnist-tune-1-a1b2c3d4 replica node-1"},
		{nil, "trial p replica p"},
	} {
		if got := TrialPodName(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: tc.labels}}); got != tc.want {
			t.Errorf("TrialPodName(%v) = %q, want %q", tc.labels, got, tc.want)
		}
	}
}

func TestExperimentMetricsMissing(t *testing.T) {
	exp := func(spec, status map[string]any) *unstructured.Unstructured {
		status["conditions"] = []any{cond("Running", "True", "")}
		return &unstructured.Unstructured{Object: map[string]any{"spec": spec, "status": status}}
	}
	for _, tc := range []struct {
		name         string
		spec, status map[string]any
		want         bool
	}{
		{"a first round without metrics", map[string]any{"maxTrialCount": int64(8), "parallelTrialCount": int64(2)}, map[string]any{"trialMetricsUnavailable": int64(2)}, true},
		{"one of two without metrics", map[string]any{"maxTrialCount": int64(8), "parallelTrialCount": int64(2)}, map[string]any{"trialMetricsUnavailable": int64(1)}, false},
		{"Katib's default of 3 parallel trials", map[string]any{"maxTrialCount": int64(8)}, map[string]any{"trialMetricsUnavailable": int64(2)}, false},
		{"fewer trials than the parallel ones", map[string]any{"maxTrialCount": int64(1), "parallelTrialCount": int64(2)}, map[string]any{"trialMetricsUnavailable": int64(1)}, true},
		{"a trial reported its metrics", map[string]any{"maxTrialCount": int64(8), "parallelTrialCount": int64(2)}, map[string]any{"trialMetricsUnavailable": int64(3), "trialsSucceeded": int64(1)}, false},
		{"a trial stopped early, so with metrics", map[string]any{"maxTrialCount": int64(8), "parallelTrialCount": int64(2)}, map[string]any{"trialMetricsUnavailable": int64(2), "trialsEarlyStopped": int64(1)}, false},
	} {
		st := ExperimentStateOf(exp(tc.spec, tc.status))
		if got := st.MetricsMissing(); got != tc.want {
			t.Errorf("%s: MetricsMissing = %v, want %v (%+v)", tc.name, got, tc.want, st)
		}
	}
	st := ExperimentStateOf(exp(map[string]any{"maxTrialCount": int64(8)}, map[string]any{"trialsSucceeded": int64(1), "trialMetricsUnavailable": int64(2), "trialsEarlyStopped": int64(1), "trialsRunning": int64(2)}))
	if got, want := st.String(), "Running: 1 succeeded, 1 stopped early, 2 without metrics, 0 failed, 2 running of 8 trials"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}
