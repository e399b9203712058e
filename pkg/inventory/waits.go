package inventory

import (
	"cmp"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// How each managed kind is waited for: what its states say, which pods it runs and how a
// failure or timeout reads.

// TrainingWait waits for a TFJob or PyTorchJob to succeed, watching its replicas' pods and
// keeping the last lines of those that fail.
func TrainingWait(gvk schema.GroupVersionKind, name string, timeout time.Duration) *run.Wait {
	return &run.Wait{
		Kind: gvk, Name: name, Timeout: timeout,
		State: func(obj *unstructured.Unstructured) run.State {
			st := workload.StateOf(obj)
			state := run.State{Line: st.String(), Done: st.Finished()}
			if st.Phase == workload.Failed {
				state.Failure = "failed: " + cmp.Or(st.Message, st.Reason, "no message")
			}
			return state
		},
		Pods: &run.Pods{
			Selector: workload.PodSelector(gvk.Kind, name), Problem: workload.PodProblem,
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
			}
			return state
		},
		FailClass: sdkerr.JobFailed, TimeoutHint: "; it keeps running",
	}
}

// ServiceWait waits for an InferenceService to be ready for its current spec: a condition
// that turns False for good fails it, and readiness of an older revision does not count.
func ServiceWait(gvk schema.GroupVersionKind, name string, timeout time.Duration) *run.Wait {
	return &run.Wait{
		Kind: gvk, Name: name, Timeout: timeout,
		State: func(obj *unstructured.Unstructured) run.State {
			st := workload.ServiceStateOf(obj)
			state := run.State{Line: st.String(), Done: st.Ready && st.Settled}
			if st.Failed && st.Settled {
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
		TimeoutHint: fmt.Sprintf("; it keeps running: see 'kubectl logs job/%s'", name),
	}
}
