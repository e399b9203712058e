package workload

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func job(kind string, replicas map[string]any, conditions []any, statuses map[string]any) *unstructured.Unstructured {
	field := map[string]string{KindTFJob: "tfReplicaSpecs", KindPyTorchJob: "pytorchReplicaSpecs"}[kind]
	return &unstructured.Unstructured{Object: map[string]any{
		"kind": kind, "apiVersion": KubeflowGroupVersion,
		"spec":   map[string]any{field: replicas},
		"status": map[string]any{"conditions": conditions, "replicaStatuses": statuses},
	}}
}

func cond(typ, status, msg string) any {
	return map[string]any{"type": typ, "status": status, "reason": "r" + typ, "message": msg}
}

func TestStateOf(t *testing.T) {
	two := map[string]any{"Worker": map[string]any{"replicas": int64(2)}}
	pt := map[string]any{"Master": map[string]any{"replicas": int64(1)}, "Worker": map[string]any{"replicas": int64(3)}}
	for _, tc := range []struct {
		name string
		job  *unstructured.Unstructured
		want string
		done bool
	}{
		{"no status", job(KindTFJob, two, nil, nil), "Pending", false},
		{"created", job(KindTFJob, two, []any{cond("Created", "True", "")}, nil), "Created", false},
		{"running", job(KindTFJob, two, []any{cond("Created", "True", ""), cond("Running", "True", "")}, map[string]any{"Worker": map[string]any{"active": int64(1)}}), "Running (1/2 replicas active)", false},
		{"running is superseded by a false condition? no: false conditions are ignored", job(KindTFJob, two, []any{cond("Running", "True", ""), cond("Succeeded", "False", "")}, nil), "Running (0/2 replicas active)", false},
		{"succeeded", job(KindPyTorchJob, pt, []any{cond("Created", "True", ""), cond("Running", "False", ""), cond("Succeeded", "True", "")}, map[string]any{"Master": map[string]any{"succeeded": int64(1)}, "Worker": map[string]any{"succeeded": int64(3)}}), "Succeeded (4/4 replicas succeeded)", true},
		{"failed", job(KindPyTorchJob, pt, []any{cond("Running", "True", ""), cond("Failed", "True", "Master failed")}, nil), "Failed: Master failed", true},
		{"a terminal condition wins over a later running one", job(KindTFJob, two, []any{cond("Succeeded", "True", ""), cond("Running", "True", "")}, nil), "Succeeded (0/2 replicas succeeded)", true},
		{"replicas default to one", job(KindTFJob, map[string]any{"Chief": map[string]any{}, "Worker": map[string]any{"replicas": int64(2)}}, []any{cond("Running", "True", "")}, nil), "Running (0/3 replicas active)", false},
	} {
		st := StateOf(tc.job)
		if st.String() != tc.want || st.Finished() != tc.done {
			t.Errorf("%s: %q finished=%v, want %q finished=%v", tc.name, st.String(), st.Finished(), tc.want, tc.done)
		}
	}
}

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
