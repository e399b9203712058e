// Package waitfor says how each kind kubectl kaptain makes is waited for: what its states
// say, which pods it runs and how a failure or timeout reads, as run.Wait values for the
// engine in pkg/run.
package waitfor

import (
	"cmp"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/platform"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Training waits for a training job of the kind to succeed, watching its pods, streaming
// the logs of those that print the trainer's output, and keeping the last lines of those
// that fail.
func Training(kind workload.TrainingKind, name string, timeout time.Duration) *run.Wait {
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

// Experiment waits for a Katib Experiment to succeed with an optimal trial.
func Experiment(gvk schema.GroupVersionKind, name string, timeout time.Duration) *run.Wait {
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
					"and the namespace must be labelled %s=enabled for Katib to inject that collector); it keeps running", st.NoMetrics, platform.LabelKatibInjection)
				state.Class = sdkerr.WorkloadDeployment
			}
			return state
		},
		FailClass: sdkerr.JobFailed, TimeoutHint: "; it keeps running",
	}
}

// TrialPods follows an experiment's pods, its suggestion service's and its trials', which
// carry the experiment's labels (selector): like a training job's, a pod that cannot run ends
// the wait (exit 11), after what pending tolerates (see platform.Cluster.PendingTolerance), except a trial's
// pod left unschedulable while another trial's pod runs: parallel trials may ask for more
// than the nodes hold at once, and wait for room.
func TrialPods(cl *platform.Cluster, selector string, pending time.Duration) *run.Pods {
	tolerate := cl.PendingTolerance(pending)
	return &run.Pods{
		Selector: selector, Problem: workload.PodProblem, Name: workload.TrialPodName,
		Tolerate: func(ctx context.Context, pod *corev1.Pod, reason, message string) (string, time.Duration) {
			if reason == "Unschedulable" && pod.Labels[workload.LabelKatibSuggestion] == "" {
				if other := cl.RunningTrial(ctx, pod, selector); other != "" {
					return fmt.Sprintf("%s (pod %s) waits for room (%s) while trial %s runs", workload.TrialPodName(pod), pod.Name, message, other), 0
				}
			}
			return tolerate(ctx, pod, reason, message)
		},
	}
}

// Service waits for an InferenceService to be ready for its current spec: a condition
// that turns False for good fails it, and readiness of an older revision does not count.
func Service(gvk schema.GroupVersionKind, name string, timeout time.Duration) *run.Wait {
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

// Build waits for the cluster builder's Job: a failure keeps the Job for inspection.
func Build(name string, timeout time.Duration) *run.Wait {
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
