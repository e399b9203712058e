package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/logs"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// LogOptions select what Logs prints.
type LogOptions struct {
	// Follow streams until the job finishes, attaching to replicas as they start or restart.
	Follow bool
	// Tail, when set, starts each stream at its last lines.
	Tail *int64
	// Replica, when set, is the only replica shown, e.g. "worker-1".
	Replica string
}

// Logs prints the logs of a training job's replicas to out, each line prefixed with its
// replica, and returns how many replicas it showed. Without Follow it prints what there is,
// a replica at a time; with Follow the replicas stream together until the job finishes,
// and Ctrl-C ends the following quietly, as with kubectl logs -f.
func (inv *Inventory) Logs(ctx context.Context, job Object, o LogOptions, out io.Writer, p run.Progress) (int, error) {
	pods := inv.Kube.CoreV1()
	s := &logs.Streamer{Pods: pods, Out: out, Container: job.Container, Follow: o.Follow, Prefix: workload.ReplicaName, Tail: o.Tail}
	selector := job.PodSelector(job.Obj)
	if job.LogPods != nil {
		selector = job.LogPods(job.Obj)
	}
	wanted := func(pod *corev1.Pod) bool { return o.Replica == "" || workload.ReplicaName(pod) == o.Replica }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The pods there now. The wait below attaches those that appear or restart; it ends at
	// once for a finished job, maybe before its pods are seen, hence this list first.
	list, err := pods.Pods(inv.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, fmt.Errorf("listing the pods of %s: %w", job.Obj.GetName(), err)
	}
	items := list.Items
	slices.SortFunc(items, func(a, b corev1.Pod) int { return strings.Compare(workload.ReplicaName(&a), workload.ReplicaName(&b)) })
	shown := 0
	for i := range items {
		if !wanted(&items[i]) {
			continue
		}
		s.Attach(ctx, &items[i])
		if !o.Follow {
			s.Wait()
		}
		shown++
	}
	if !o.Follow {
		return shown, nil
	}
	_, err = (&run.Waiter{Client: inv.Dynamic, Pods: pods}).Wait(ctx, run.Watch{
		Resource: job.Mapping.Resource, Namespace: inv.Namespace, Name: job.Obj.GetName(), PodSelector: selector,
		Done: func(obj *unstructured.Unstructured) (bool, error) { return job.Finished(obj), nil },
		OnPod: func(pod *corev1.Pod) error {
			if wanted(pod) {
				s.Attach(ctx, pod)
			}
			return nil
		},
	})
	run.EndStreams(s, err, cancel, p)
	if errors.Is(err, context.Canceled) {
		return shown, nil
	}
	return shown, err
}
