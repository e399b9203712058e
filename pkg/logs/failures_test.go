package logs

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// failed returns worker-0 after its container instance id exited with exitCode: running
// again, waiting to restart, or terminated for good.
func failed(id string, state string, exitCode int32) *corev1.Pod {
	p := pod("worker-0", "a", 1, false)
	p.Spec.Containers = p.Spec.Containers[:1]
	cs := &p.Status.ContainerStatuses[0]
	exit := &corev1.ContainerStateTerminated{ExitCode: exitCode, Reason: "Error", ContainerID: id}
	switch state {
	case "running":
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		cs.LastTerminationState.Terminated = exit
	case "waiting":
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		cs.LastTerminationState.Terminated = exit
	case "terminated":
		cs.State = corev1.ContainerState{Terminated: exit}
	}
	return p
}

// logReads returns the Previous option of each log request made.
func logReads(cs *fake.Clientset) []bool {
	var previous []bool
	for _, a := range cs.Actions() {
		if a.GetSubresource() == "log" {
			previous = append(previous, a.(k8stesting.GenericActionImpl).Value.(*corev1.PodLogOptions).Previous)
		}
	}
	return previous
}

func TestFailuresKeepEachFailedInstanceOnce(t *testing.T) {
	cs := fake.NewClientset()
	f := &Failures{Pods: cs.CoreV1(), Lines: 20, Prefix: func(p *corev1.Pod) string { return p.Name }}
	ctx := context.Background()
	f.Observe(ctx, pod("worker-0", "a", 0, true))          // running, never failed
	f.Observe(ctx, failed("containerd://1", "running", 0)) // the previous instance succeeded
	if got := logReads(cs); len(got) != 0 || f.Report() != "" {
		t.Fatalf("reads %v, report %q: nothing failed", got, f.Report())
	}
	f.Observe(ctx, failed("containerd://2", "waiting", 1))
	f.Observe(ctx, failed("containerd://2", "running", 1)) // the same failed instance, restarted
	f.Observe(ctx, failed("containerd://3", "waiting", 2)) // the next one failed too
	f.Observe(ctx, failed("containerd://4", "terminated", 137))
	if got := logReads(cs); len(got) != 3 || !got[0] || !got[1] || got[2] {
		t.Errorf("log reads (previous?) = %v, want [true true false]: a failed instance is read once, as the previous one while the container restarts", got)
	}
	// One paragraph per replica: its latest failure.
	want := "\nlast lines of replica worker-0 (exit code 137):\nfake logs"
	if got := f.Report(); got != want {
		t.Errorf("report = %q, want %q", got, want)
	}
}

func TestFailuresNameTheContainerOfAPodWithSeveral(t *testing.T) {
	f := &Failures{Pods: fake.NewClientset().CoreV1(), Lines: 20, Prefix: func(p *corev1.Pod) string { return p.Name }}
	p := failed("containerd://1", "terminated", 1)
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar"})
	f.Observe(context.Background(), p)
	if got := f.Report(); !strings.HasPrefix(got, "\nlast lines of replica worker-0 container tensorflow (exit code 1):") {
		t.Errorf("report = %q", got)
	}
}

// kwok, like some runtimes, reports no container ID: instances are told apart by when they
// finished.
func TestFailuresTellInstancesWithoutIDsByTheirEnd(t *testing.T) {
	cs := fake.NewClientset()
	f := &Failures{Pods: cs.CoreV1(), Lines: 20, Prefix: func(p *corev1.Pod) string { return p.Name }}
	ctx := context.Background()
	first, second := failed("", "waiting", 1), failed("", "waiting", 1)
	first.Status.ContainerStatuses[0].LastTerminationState.Terminated.FinishedAt = metav1.Unix(100, 0)
	second.Status.ContainerStatuses[0].LastTerminationState.Terminated.FinishedAt = metav1.Unix(110, 0)
	f.Observe(ctx, first)
	f.Observe(ctx, first)
	f.Observe(ctx, second)
	if got := logReads(cs); len(got) != 2 {
		t.Errorf("%d log reads, want 2 (one per instance)", len(got))
	}
}
