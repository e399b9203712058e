package logs

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// readTimeout bounds the read of one failed instance's logs, so that an unreachable node
// does not hold up the wait that observes it.
const readTimeout = 10 * time.Second

// Failures keeps the last lines of each container instance that exited with an error, read
// when the exit is first seen: the operator may delete a failed job's pods (cleanPodPolicy)
// before the job is reported failed, and their logs with them.
type Failures struct {
	Pods corev1client.PodsGetter
	// Lines is how many lines to keep of each failed instance.
	Lines int64
	// Prefix names a pod's replica, e.g. "worker-1".
	Prefix func(*corev1.Pod) string
	// Noun says what failed, before its prefix ("replica" when empty).
	Noun string

	mu      sync.Mutex
	seen    map[string]bool
	reports map[string]string // by replica and container: the latest failed instance
	order   []string
}

// Observe reads the logs of pod's containers whose current or previous instance exited
// with an error, once per instance: a read that fails is tried again on the next
// observation. A container waiting to restart, or running again, has its failed instance
// read as the previous one.
func (f *Failures) Observe(ctx context.Context, pod *corev1.Pod) {
	for _, cs := range pod.Status.ContainerStatuses {
		t, previous := cs.State.Terminated, false
		if t == nil {
			t, previous = cs.LastTerminationState.Terminated, true
		}
		if t == nil || t.ExitCode == 0 {
			continue
		}
		// The restart count cannot name the instance: it is the failed one's while the
		// container waits to restart, and one more once it runs again.
		instance := string(pod.UID) + "/" + cs.Name + "/" + cmp.Or(t.ContainerID, t.FinishedAt.UTC().Format(time.RFC3339Nano))
		f.mu.Lock()
		if f.seen == nil {
			f.seen, f.reports = map[string]bool{}, map[string]string{}
		}
		done := f.seen[instance]
		f.mu.Unlock()
		if done {
			continue
		}
		readCtx, cancel := context.WithTimeout(ctx, readTimeout)
		text, err := Last(readCtx, f.Pods, pod, cs.Name, f.Lines, previous)
		cancel()
		if err != nil {
			text = err.Error()
		}
		name := f.Prefix(pod)
		if len(pod.Spec.Containers) > 1 {
			name += " container " + cs.Name
		}
		f.mu.Lock()
		f.seen[instance] = err == nil
		if _, ok := f.reports[name]; !ok {
			f.order = append(f.order, name)
		}
		f.reports[name] = fmt.Sprintf("\nlast lines of %s %s (exit code %d):\n%s", cmp.Or(f.Noun, "replica"), name, t.ExitCode, text)
		f.mu.Unlock()
	}
}

// Report returns what was kept, a paragraph per replica in the order the failures were
// first seen, or "" when no container failed.
func (f *Failures) Report() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, name := range f.order {
		b.WriteString(f.reports[name])
	}
	return b.String()
}
