package inventory

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// How each managed kind is waited for: what its states say, which pods it runs and how a
// failure or timeout reads.

// TrainingWait waits for a training job of the kind to succeed, watching its pods, streaming
// the logs of those that print the trainer's output, and keeping the last lines of those
// that fail.
func TrainingWait(kind workload.TrainingKind, name string, timeout time.Duration) *run.Wait {
	return &run.Wait{
		Kind: kind.GVK(), Name: name, Timeout: timeout,
		State: func(obj *unstructured.Unstructured) run.State {
			st := kind.State(obj)
			state := run.State{Line: st.String(), Done: st.Finished()}
			if st.Phase == workload.Failed {
				state.Failure = "failed: " + cmp.Or(st.Message, st.Reason, "no message")
			}
			return state
		},
		Pods: &run.Pods{
			Selector: kind.PodSelector(name), LogSelector: kind.LogSelector(name), Problem: workload.PodProblem,
			Name:      func(p *corev1.Pod) string { return "replica " + workload.ReplicaName(p) },
			LogPrefix: workload.ReplicaName, FailureLines: 20,
		},
		FailClass:   sdkerr.JobFailed,
		TimeoutHint: fmt.Sprintf("; it keeps running: see 'kubectl kaptain logs %s'", name),
	}
}

// ExperimentWait waits for a Katib Experiment to succeed with an optimal trial.
func ExperimentWait(gvk schema.GroupVersionKind, name string, timeout time.Duration) *run.Wait {
	return &run.Wait{
		Kind: gvk, Name: name, Timeout: timeout,
		State: func(obj *unstructured.Unstructured) run.State {
			st := workload.ExperimentStateOf(obj)
			state := run.State{Line: st.String(), Done: st.Finished()}
			switch {
			case st.Phase == "Failed":
				state.Failure = "failed: " + cmp.Or(st.Message, "no message")
			case st.Finished() && st.BestTrial == "":
				state.Failure = "succeeded without an optimal trial"
			case st.MetricsMissing():
				state.Failure = fmt.Sprintf("cannot find a best trial: its first %d trials ended without reporting metrics "+
					"(the trainer must print lines such as accuracy=0.98 on stdout, which Katib's StdOut collector reads, "+
					"and the namespace must be labelled %s=enabled for Katib to inject that collector); it keeps running", st.NoMetrics, LabelKatibInjection)
				state.Class = sdkerr.WorkloadDeployment
			}
			return state
		},
		FailClass: sdkerr.JobFailed, TimeoutHint: "; it keeps running",
	}
}

// TrialPods follows an experiment's pods, its suggestion service's and its trials', which
// carry the experiment's labels (selector): like a training job's, a pod that cannot run ends
// the wait (exit 11), after what pending tolerates (see PendingTolerance), except a trial's
// pod left unschedulable while another trial's pod runs: parallel trials may ask for more
// than the nodes hold at once, and wait for room.
func (inv *Inventory) TrialPods(selector string, pending time.Duration) *run.Pods {
	tolerate := inv.PendingTolerance(pending)
	return &run.Pods{
		Selector: selector, Problem: workload.PodProblem, Name: workload.TrialPodName,
		Tolerate: func(ctx context.Context, pod *corev1.Pod, reason, message string) (string, time.Duration) {
			if reason == "Unschedulable" && pod.Labels[workload.LabelKatibSuggestion] == "" {
				if other := inv.runningTrial(ctx, pod, selector); other != "" {
					return fmt.Sprintf("%s (pod %s) waits for room (%s) while trial %s runs", workload.TrialPodName(pod), pod.Name, message, other), 0
				}
			}
			return tolerate(ctx, pod, reason, message)
		},
	}
}

// runningTrial names another trial of the experiment with a running pod, or "" when none
// runs (or the pods cannot be listed).
func (inv *Inventory) runningTrial(ctx context.Context, pod *corev1.Pod, selector string) string {
	pods, err := inv.Kube.CoreV1().Pods(pod.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
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

// ServiceWait waits for an InferenceService to be ready for its current spec: a condition
// that turns False for good fails it, and readiness of an older revision does not count.
func ServiceWait(gvk schema.GroupVersionKind, name string, timeout time.Duration) *run.Wait {
	return &run.Wait{
		Kind: gvk, Name: name, Timeout: timeout,
		State: func(obj *unstructured.Unstructured) run.State {
			st := workload.ServiceStateOf(obj)
			state := run.State{Line: st.String(), Done: st.Ready && st.Settled}
			if st.Failed && st.FailureCurrent {
				state.Failure = "is not ready: " + st.Reason + ": " + st.Message
			}
			return state
		},
		FailClass: sdkerr.ModelDeployment, TimeoutClass: sdkerr.ModelDeployment,
	}
}

// BuildWait waits for the cluster builder's Job: a failure keeps the Job for inspection.
func BuildWait(name string, timeout time.Duration) *run.Wait {
	return &run.Wait{
		Kind: schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, Name: name, Timeout: timeout,
		State: func(obj *unstructured.Unstructured) run.State {
			st := workload.BuildStateOf(obj)
			state := run.State{Line: st.String(), Done: st.Finished}
			if st.Failed {
				state.Failure = "failed: " + cmp.Or(st.Message, st.Reason, "no message")
			}
			return state
		},
		Pods: &run.Pods{
			Selector: "batch.kubernetes.io/job-name=" + name, Problem: workload.PodProblem, ProblemClass: sdkerr.ImageBuild,
			Name: func(*corev1.Pod) string { return "the builder" }, LogPrefix: func(*corev1.Pod) string { return "build" },
			FailureLines: 20, FailureNoun: "the",
		},
		FailClass:   sdkerr.ImageBuild,
		FailHint:    fmt.Sprintf("; the Job is kept for inspection (kubectl kaptain delete build %s when done)", name),
		TimeoutHint: fmt.Sprintf("; the cluster stops it at the same deadline (its activeDeadlineSeconds): see 'kubectl logs job/%s'", name),
	}
}

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
func (inv *Inventory) PendingTolerance(pending time.Duration) func(ctx context.Context, pod *corev1.Pod, reason, message string) (string, time.Duration) {
	var once sync.Once
	autoscaler := false
	return func(ctx context.Context, pod *corev1.Pod, reason, message string) (string, time.Duration) {
		if workload.TransientPull(reason, message) {
			return fmt.Sprintf("pod %s: %s (%s); waiting up to %s for the kubelet's retries", pod.Name, reason, message, ImagePullGrace), ImagePullGrace
		}
		if reason != "Unschedulable" {
			return "", 0
		}
		events, err := inv.Kube.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(pod.UID)})
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
		once.Do(func() { autoscaler = inv.HasAutoscaler(ctx) })
		if !autoscaler {
			return "", 0
		}
		return fmt.Sprintf("pod %s is unschedulable (%s); waiting up to %s for the cluster autoscaler's verdict", pod.Name, message, AutoscalerVerdictGrace), AutoscalerVerdictGrace
	}
}

// HasAutoscaler reports whether the cluster runs a node autoscaler that kubectl kaptain can
// see: the cluster autoscaler's status ConfigMap (kube-system/cluster-autoscaler-status), or
// Karpenter's NodePool API. Where neither can be read, it reports none.
func (inv *Inventory) HasAutoscaler(ctx context.Context) bool {
	if _, err := inv.Kube.CoreV1().ConfigMaps("kube-system").Get(ctx, "cluster-autoscaler-status", metav1.GetOptions{}); err == nil {
		return true
	}
	_, err := inv.Mapper.RESTMapping(schema.GroupKind{Group: "karpenter.sh", Kind: "NodePool"})
	return err == nil
}
