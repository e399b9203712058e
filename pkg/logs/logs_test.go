package logs

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// Pod logs come from the kubelet, which no test here runs; client-go's fake clientset answers
// every log request with "fake logs", enough to check prefixes and de-duplication.
func pod(name, uid string, restarts int32, running bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: k8stypes.UID("uid-" + uid)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "tensorflow"}, {Name: "sidecar"}}},
	}
	cs := corev1.ContainerStatus{Name: "tensorflow", RestartCount: restarts}
	if running {
		cs.State.Running = &corev1.ContainerStateRunning{}
	} else {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	return p
}

func TestStreamerPrefixesAndDeduplicates(t *testing.T) {
	var out bytes.Buffer
	s := &Streamer{Pods: fake.NewClientset().CoreV1(), Out: &out, Prefix: func(p *corev1.Pod) string { return p.Name }}
	ctx := context.Background()
	s.Attach(ctx, pod("worker-0", "a", 0, false)) // not started: nothing to read
	s.Attach(ctx, pod("worker-0", "a", 0, true))
	s.Attach(ctx, pod("worker-0", "a", 0, true)) // the same container instance again
	s.Attach(ctx, pod("worker-1", "b", 0, true))
	s.Wait()
	s.Attach(ctx, pod("worker-0", "a", 1, true)) // restarted: a new instance
	s.Wait()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := map[string]int{"[worker-0] fake logs": 2, "[worker-1] fake logs": 1}
	got := map[string]int{}
	for _, l := range lines {
		got[l]++
	}
	if len(got) != len(want) || got["[worker-0] fake logs"] != 2 || got["[worker-1] fake logs"] != 1 {
		t.Errorf("lines = %q, want %v", lines, want)
	}
}

func TestLast(t *testing.T) {
	text, err := Last(context.Background(), fake.NewClientset().CoreV1(), pod("worker-0", "a", 0, true), "tensorflow", 20, false)
	if err != nil || text != "fake logs" {
		t.Errorf("Last = %q, %v", text, err)
	}
}

// TestLongLinesDoNotStopTheLog: a line over the limit (a progress bar redrawn with '\r',
// never a newline) is written in pieces, and the lines after it still come (the audit's N8).
func TestLongLinesDoNotStopTheLog(t *testing.T) {
	const limit = 1024
	input := "first\n" + strings.Repeat("\r[=====]", 2*1024*1024/8) + "\nafter\nlast without newline"
	var lines []string
	if err := splitLines(strings.NewReader(input), limit, func(s string) { lines = append(lines, s) }); err != nil {
		t.Fatal(err)
	}
	if len(lines) < 4 || lines[0] != "first" || lines[len(lines)-2] != "after" || lines[len(lines)-1] != "last without newline" {
		t.Fatalf("%d lines, first %q, last two %q", len(lines), lines[0], lines[len(lines)-2:])
	}
	var long strings.Builder
	for _, l := range lines[1 : len(lines)-2] {
		if len(l) > limit {
			t.Fatalf("a piece of %d bytes, over %d", len(l), limit)
		}
		long.WriteString(l)
	}
	if long.String() != strings.Repeat("\r[=====]", 2*1024*1024/8) {
		t.Error("the long line's pieces do not add up to it")
	}
}
