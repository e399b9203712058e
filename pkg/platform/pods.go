package platform

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// What the cluster does for a pod that waits: a node autoscaler's verdict on an unschedulable
// pod, the kubelet's retries of an image pull, another trial's pod that holds the room.

// ImagePullGrace is how long a pod's image pull error that may heal by itself (see
// workload.TransientPull) is waited out: the kubelet's first back-offs (10 s, 20 s, 40 s).
const ImagePullGrace = 90 * time.Second

// AutoscalerVerdictGrace is how long an unschedulable pod waits for a cluster autoscaler's
// verdict (TriggeredScaleUp or NotTriggerScaleUp) where one runs: it looks every 10 s.
const AutoscalerVerdictGrace = time.Minute

// PendingTolerance returns what a training wait tolerates of its pods' problems: an
// unschedulable pod for which a cluster autoscaler (or Karpenter) is adding a node, for at
// most pending (0: until the wait's timeout), or whose verdict is awaited where an autoscaler
// runs, for AutoscalerVerdictGrace; and an image pull error that may heal, for ImagePullGrace.
// Everything else, and a pod whose events cannot be read, ends the wait.
func (cl *Cluster) PendingTolerance(pending time.Duration) func(ctx context.Context, pod *corev1.Pod, reason, message string) (string, time.Duration) {
	var once sync.Once
	autoscaler := false
	return func(ctx context.Context, pod *corev1.Pod, reason, message string) (string, time.Duration) {
		if workload.TransientPull(reason, message) {
			return fmt.Sprintf("pod %s: %s (%s); waiting up to %s for the kubelet's retries", pod.Name, reason, message, ImagePullGrace), ImagePullGrace
		}
		if reason != "Unschedulable" {
			return "", 0
		}
		events, err := cl.Kube.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(pod.UID)})
		if err != nil {
			return "", 0
		}
		inProgress, why := workload.ScaleUp(events.Items)
		switch {
		case inProgress:
			bound := "until --timeout"
			if pending > 0 {
				bound = "up to --pending-timeout " + pending.String()
			}
			return fmt.Sprintf("pod %s is unschedulable (%s), and a node is being added for it (%s); waiting %s", pod.Name, message, why, bound), pending
		case why != "":
			return "", 0
		}
		once.Do(func() { autoscaler = cl.HasAutoscaler(ctx) })
		if !autoscaler {
			return "", 0
		}
		return fmt.Sprintf("pod %s is unschedulable (%s); waiting up to %s for the cluster autoscaler's verdict", pod.Name, message, AutoscalerVerdictGrace), AutoscalerVerdictGrace
	}
}

// HasAutoscaler reports whether the cluster runs a node autoscaler that kubectl kaptain can
// see: the cluster autoscaler's status ConfigMap (kube-system/cluster-autoscaler-status), or
// Karpenter's NodePool API. Where neither can be read, it reports none.
func (cl *Cluster) HasAutoscaler(ctx context.Context) bool {
	if _, err := cl.Kube.CoreV1().ConfigMaps("kube-system").Get(ctx, "cluster-autoscaler-status", metav1.GetOptions{}); err == nil {
		return true
	}
	_, err := cl.Mapper.RESTMapping(schema.GroupKind{Group: "karpenter.sh", Kind: "NodePool"})
	return err == nil
}

// RunningTrial names another trial than pod's, among the pods selector selects, with a running pod, or "" when none
// runs (or the pods cannot be listed).
func (cl *Cluster) RunningTrial(ctx context.Context, pod *corev1.Pod, selector string) string {
	pods, err := cl.Kube.CoreV1().Pods(pod.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return ""
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase == corev1.PodRunning && p.Labels[workload.LabelKatibSuggestion] == "" && workload.JobOf(p) != workload.JobOf(pod) {
			return workload.JobOf(p)
		}
	}
	return ""
}
