package workload

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ServiceState summarises an InferenceService's status.
type ServiceState struct {
	Ready bool
	// Failed is set when KServe reports a state it does not leave by itself: the model's
	// transition is BlockedByFailedLoad or InvalidSpec, or a condition is False for a reason in
	// TerminalServiceReasons. Other False conditions (an ingress not created yet, replicas not
	// available yet) are progress.
	Failed bool
	// Reason and Message explain the first condition that is not True.
	Reason, Message string
	URL             string
	// Settled is true when the status describes the current spec: the observed generation
	// is the object's, and the latest created revision is the latest ready one.
	Settled bool
	// FailureCurrent is true when a failure is the current spec's, not an older revision's:
	// once settled, or in Knative mode once KServe has seen the spec and Knative says the
	// latest created Revision failed (RevisionFailed: an image that cannot be resolved, a
	// deadline passed), when it never becomes the latest ready one.
	FailureCurrent bool
}

// ServiceStateOf reads an InferenceService's state, through its mode's canary strategy.
func ServiceStateOf(isvc *unstructured.Unstructured) ServiceState {
	var st ServiceState
	st.URL, _, _ = unstructured.NestedString(isvc.Object, "status", "url")
	canary := CanaryOfService(isvc)
	st.Settled = canary.settled(isvc)
	conditions, _, _ := unstructured.NestedSlice(isvc.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if cond["type"] == "Ready" {
			st.Ready = cond["status"] == "True"
		}
		// Stopped is False while the service runs.
		if cond["status"] != "True" && cond["type"] != "Stopped" && st.Reason == "" {
			st.Reason, _ = cond["reason"].(string)
			st.Message, _ = cond["message"].(string)
			if st.Reason == "" {
				st.Reason = fmt.Sprint(cond["type"]) + " " + fmt.Sprint(cond["status"])
			}
		}
		if reason, _ := cond["reason"].(string); !st.Failed && cond["status"] == "False" && slices.Contains(TerminalServiceReasons, reason) {
			st.Failed = true
			st.Reason, _ = cond["reason"].(string)
			st.Message, _ = cond["message"].(string)
		}
	}
	st.FailureCurrent = canary.failureCurrent(isvc, conditions)
	if ready, why := canary.canaryReady(isvc, conditions); st.Ready && !ready {
		st.Ready = false
		if st.Reason == "" {
			st.Reason = why
		}
	}
	transition, _, _ := unstructured.NestedString(isvc.Object, "status", "modelStatus", "transitionStatus")
	// A terminal condition already explains it (the model's transition says only that it is
	// blocked).
	if (transition == "BlockedByFailedLoad" || transition == "InvalidSpec") && !st.Failed {
		st.Failed = true
		st.Reason, st.Message = transition, ""
		if info, found, _ := unstructured.NestedMap(isvc.Object, "status", "modelStatus", "lastFailureInfo"); found {
			if r, _ := info["reason"].(string); r != "" {
				st.Reason = r
			}
			st.Message, _ = info["message"].(string)
		}
	}
	return st
}

// conditionWithReason reports whether conditions hold one with status and reason.
func conditionWithReason(conditions []any, status, reason string) bool {
	for _, c := range conditions {
		if cond, ok := c.(map[string]any); ok && cond["status"] == status && cond["reason"] == reason {
			return true
		}
	}
	return false
}

// conditionTrue reports whether conditions hold one of type t with status True.
func conditionTrue(conditions []any, t string) bool {
	for _, c := range conditions {
		if cond, ok := c.(map[string]any); ok && cond["type"] == t {
			return cond["status"] == "True"
		}
	}
	return false
}

// TerminalServiceReasons are condition reasons after which an InferenceService does not become
// ready without a change: KServe's failure reasons and Knative's failed revision.
var TerminalServiceReasons = []string{
	"ModelLoadFailed", "RuntimeUnhealthy", "RuntimeDisabled", "NoSupportingRuntime",
	"RuntimeNotRecognized", "InvalidPredictorSpec", "RevisionFailed", "RevisionMissing",
}

// String is the progress line of the state.
func (s ServiceState) String() string {
	switch {
	case s.Ready && s.Settled:
		return "Ready at " + s.URL
	case s.Reason != "":
		msg := "NotReady: " + s.Reason
		if s.Message != "" {
			msg += ": " + s.Message
		}
		return msg
	}
	return "NotReady"
}
