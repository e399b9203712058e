package workload

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// Mode is how KServe runs a service, which decides what its canary is.
type Mode string

// KServe's deployment modes, by the names KServe v0.20 gives them.
const (
	// ModeKnative is Knative (Serverless) mode: a Knative Service per component, and a canary
	// is the predictor's canaryTrafficPercent, split by Knative's Route between the latest
	// ready Revision and the one before.
	ModeKnative Mode = "Serverless"
	// ModeStandard is Standard (RawDeployment) mode: plain Deployments, and a canary is an
	// entry of spec.canary (KServe v0.20), a predictor of its own with a share of the pods.
	ModeStandard Mode = "Standard"
)

// ParseMode is the mode a serving.kserve.io/deploymentMode annotation, status.deploymentMode
// or KServe's configured default names: Standard and its name before v0.20, RawDeployment,
// are Standard; anything else (Serverless, or nothing) is Knative mode, KServe's default.
func ParseMode(s string) Mode {
	if s == string(ModeStandard) || s == "RawDeployment" {
		return ModeStandard
	}
	return ModeKnative
}

// ModeOf is the mode of a deployed service and whether the service itself says: KServe's
// status.deploymentMode once it has reconciled the service, else the deploymentMode
// annotation, else Standard when it has a spec.canary (only Standard mode has one). A service
// that says nothing is Knative-mode, false: the cluster's default decides.
func ModeOf(isvc *unstructured.Unstructured) (Mode, bool) {
	if name := ModeNameOf(isvc); name != "" {
		return ParseMode(name), true
	}
	return ModeKnative, false
}

// ModeNameOf is the deployment mode a deployed service names, as it names it (RawDeployment,
// Standard, Serverless): KServe's status.deploymentMode, else the deploymentMode annotation,
// else Standard for a service with a spec.canary; "" when it says nothing (or for nil).
func ModeNameOf(isvc *unstructured.Unstructured) string {
	if isvc == nil {
		return ""
	}
	if mode, _, _ := unstructured.NestedString(isvc.Object, "status", "deploymentMode"); mode != "" {
		return mode
	}
	if mode := isvc.GetAnnotations()[AnnotationDeploymentMode]; mode != "" {
		return mode
	}
	if standardCanaryOf(isvc) != nil {
		return string(ModeStandard)
	}
	return ""
}

// CanaryStrategy is a mode's canary: how it starts, what share it has, how it ends (promote,
// rollback) and how the service's status shows it. CanaryFor returns a mode's; deploy,
// promote, rollback, describe and the waits go through it.
type CanaryStrategy interface {
	// Mode is the strategy's mode.
	Mode() Mode
	// Start makes s a canary of the deployed service cur with percent of the traffic; revision
	// is the deployment's, which names the canary where the mode needs a name. The canary's
	// baseline is cur's model or, when cur has a canary already, cur's baseline (the canary is
	// replaced). It returns a note when the traffic will not split as asked, else "".
	Start(s *Serve, cur *unstructured.Unstructured, percent int64, revision string) (note string)
	// Share is the canary's traffic percent in a service's spec, nil without a canary.
	Share(isvc *unstructured.Unstructured) *int64
	// Settle returns the deployed service cur serving only uri, the canary's (promote) or the
	// baseline's (rollback): no canary, the previous model forgotten, the action label set,
	// everything else (resources, autoscaling) as deployed.
	Settle(cur *unstructured.Unstructured, uri, action string) (*unstructured.Unstructured, error)

	// settled reports whether a service's status describes its spec.
	settled(isvc *unstructured.Unstructured) bool
	// failureCurrent reports whether a failure the status shows is the current spec's.
	failureCurrent(isvc *unstructured.Unstructured, conditions []any) bool
	// canaryReady reports whether the canary, when the service has one, is ready beyond what
	// the Ready condition says, with the reason when not.
	canaryReady(isvc *unstructured.Unstructured, conditions []any) (bool, string)
}

// CanaryFor returns the canary strategy of a mode.
func CanaryFor(m Mode) CanaryStrategy {
	if m == ModeStandard {
		return standardStrategy{}
	}
	return knativeStrategy{}
}

// CanaryOfService returns the canary strategy of a deployed service, by its mode (ModeOf).
func CanaryOfService(isvc *unstructured.Unstructured) CanaryStrategy {
	m, _ := ModeOf(isvc)
	return CanaryFor(m)
}

// CanaryShare is the canary's traffic percent of a deployed service, nil without a canary or
// without a service.
func CanaryShare(isvc *unstructured.Unstructured) *int64 {
	if isvc == nil {
		return nil
	}
	return CanaryOfService(isvc).Share(isvc)
}

// knativeStrategy is Knative mode's canary: the predictor's canaryTrafficPercent. KServe
// creates a Revision for the new model, and Knative's Route sends that share to it and the
// rest to the Revision before.
type knativeStrategy struct{}

func (knativeStrategy) Mode() Mode { return ModeKnative }

func (knativeStrategy) Start(s *Serve, cur *unstructured.Unstructured, percent int64, _ string) string {
	baseline(s, cur)
	s.CanaryTrafficPercent = &percent
	return ""
}

func (knativeStrategy) Share(isvc *unstructured.Unstructured) *int64 {
	p, found, _ := unstructured.NestedInt64(isvc.Object, "spec", "predictor", "canaryTrafficPercent")
	if _, previous := DeployedURIs(isvc); !found || previous == "" {
		return nil
	}
	return &p
}

func (knativeStrategy) Settle(cur *unstructured.Unstructured, uri, action string) (*unstructured.Unstructured, error) {
	return settled(cur, uri, action)
}

// settled: KServe has seen the spec (status.observedGeneration) and the latest Revision
// created is the latest ready.
func (knativeStrategy) settled(isvc *unstructured.Unstructured) bool {
	observed, found, _ := unstructured.NestedInt64(isvc.Object, "status", "observedGeneration")
	created, _, _ := unstructured.NestedString(isvc.Object, "status", "components", "predictor", "latestCreatedRevision")
	ready, _, _ := unstructured.NestedString(isvc.Object, "status", "components", "predictor", "latestReadyRevision")
	return (!found || observed >= isvc.GetGeneration()) && created == ready
}

// failureCurrent: once settled, or once KServe has seen the spec and a condition says the
// latest created Revision failed (it then never becomes the latest ready one).
func (k knativeStrategy) failureCurrent(isvc *unstructured.Unstructured, conditions []any) bool {
	if k.settled(isvc) {
		return true
	}
	observed, found, _ := unstructured.NestedInt64(isvc.Object, "status", "observedGeneration")
	return found && observed >= isvc.GetGeneration() && conditionWithReason(conditions, "False", "RevisionFailed")
}

// canaryReady: the Ready condition covers both Revisions.
func (knativeStrategy) canaryReady(*unstructured.Unstructured, []any) (bool, string) {
	return true, ""
}

// standardStrategy is Standard mode's canary (KServe v0.20's spec.canary): a predictor of its
// own beside the stable one, which keeps serving as it is; the traffic follows the pods.
type standardStrategy struct{}

func (standardStrategy) Mode() Mode { return ModeStandard }

func (standardStrategy) Start(s *Serve, cur *unstructured.Unstructured, percent int64, revision string) string {
	baseline(s, cur)
	s.CanaryTrafficPercent = &percent
	s.CanaryName = CanaryName(revision, cur.GetName(), cur.GetNamespace(), PredictorName(cur))
	s.Stable, _, _ = unstructured.NestedMap(cur.Object, "spec", "predictor")
	delete(s.Stable, "canaryTrafficPercent")
	var minReplicas *int64
	if m, found, _ := unstructured.NestedInt64(s.Stable, "minReplicas"); found {
		minReplicas = &m
	}
	canaryPods, stablePods := StandardCanarySplit(minReplicas, percent)
	if share := 100 * canaryPods / (canaryPods + stablePods); share != percent {
		return fmt.Sprintf("in Standard mode KServe shares the traffic by pods: %d canary pod(s) beside %d stable pod(s), about %d%% to the canary; a larger spec.serving.minReplicas splits closer to %d%%",
			canaryPods, stablePods, share, percent)
	}
	return ""
}

func (standardStrategy) Share(isvc *unstructured.Unstructured) *int64 {
	c := standardCanaryOf(isvc)
	if c == nil {
		return nil
	}
	p, _, _ := unstructured.NestedInt64(c, "trafficPercent")
	return &p
}

// Settle promotes a canary that serves uri as KServe intends: the predictor takes the
// canary's name and model, so that the canary's Deployment becomes the stable one without a
// restart (unless the canary serves the stable model's URI, when KServe keeps the name).
func (standardStrategy) Settle(cur *unstructured.Unstructured, uri, action string) (*unstructured.Unstructured, error) {
	obj, err := settled(cur, uri, action)
	if err != nil {
		return nil, err
	}
	c := standardCanaryOf(cur)
	if c == nil {
		return obj, nil
	}
	canaryURI, _, _ := unstructured.NestedString(c, "predictor", "model", "storageUri")
	stableURI, _, _ := unstructured.NestedString(cur.Object, "spec", "predictor", "model", "storageUri")
	if canaryURI != uri {
		return obj, nil
	}
	fields, _, _ := unstructured.NestedMap(c, "predictor", "model")
	for k, v := range fields {
		if err := unstructured.SetNestedField(obj.Object, v, "spec", "predictor", "model", k); err != nil {
			return nil, fmt.Errorf("promoting the canary of %s: %w", cur.GetName(), err)
		}
	}
	if name, _, _ := unstructured.NestedString(c, "predictor", "name"); name != "" && canaryURI != stableURI {
		_ = unstructured.SetNestedField(obj.Object, name, "spec", "predictor", "name")
	}
	return obj, nil
}

// settled: a Standard-mode service's status.observedGeneration is the predictor
// Deployment's, not the service's, so it cannot say; what can: the status's address names
// the Service of spec.predictor.name (<service>-predictor, or <service>-<name>-predictor once
// a canary was promoted), and the canary statuses are spec.canary's names and shares.
func (standardStrategy) settled(isvc *unstructured.Unstructured) bool {
	want := isvc.GetName() + "-predictor"
	if name := PredictorName(isvc); name != "" {
		want = isvc.GetName() + "-" + name + "-predictor"
	}
	address, _, _ := unstructured.NestedString(isvc.Object, "status", "address", "url")
	host, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(address, "https://"), "http://"), ".")
	if host != want {
		return false
	}
	spec, _, _ := unstructured.NestedSlice(isvc.Object, "spec", "canary")
	status, _, _ := unstructured.NestedSlice(isvc.Object, "status", "canaryStatuses")
	if len(spec) != len(status) {
		return false
	}
	for i := range spec {
		sp, _ := spec[i].(map[string]any)
		stt, _ := status[i].(map[string]any)
		name, _, _ := unstructured.NestedString(sp, "predictor", "name")
		percent, _, _ := unstructured.NestedInt64(sp, "trafficPercent")
		gotName, _, _ := unstructured.NestedString(stt, "name")
		gotPercent, _, _ := unstructured.NestedInt64(stt, "trafficPercent")
		if name != gotName || percent != gotPercent {
			return false
		}
	}
	return true
}

// failureCurrent: once settled (a failure before describes the previous spec's Deployment).
func (s standardStrategy) failureCurrent(isvc *unstructured.Unstructured, _ []any) bool {
	return s.settled(isvc)
}

// canaryReady: KServe's Ready condition leaves a Standard-mode canary out; the canary is
// ready when CanaryPredictorReady is True.
func (standardStrategy) canaryReady(isvc *unstructured.Unstructured, conditions []any) (bool, string) {
	if standardCanaryOf(isvc) == nil || conditionTrue(conditions, "CanaryPredictorReady") {
		return true, ""
	}
	return false, "CanaryPredictorReady not True"
}

// baseline sets the model a canary of cur is compared with: cur's model or, when cur has a
// canary already, cur's baseline.
func baseline(s *Serve, cur *unstructured.Unstructured) {
	current, previous := DeployedURIs(cur)
	s.PreviousModelURI = current
	if CanaryShare(cur) != nil {
		s.PreviousModelURI = previous
	}
}

// settled is the deployed service cur serving only uri, in either mode: the annotations say
// uri and no previous model, the action label is set, no canary is left in the spec.
func settled(cur *unstructured.Unstructured, uri, action string) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": cur.GetAPIVersion(), "kind": cur.GetKind()}}
	obj.SetName(cur.GetName())
	obj.SetNamespace(cur.GetNamespace())
	annotations := cur.GetAnnotations()
	delete(annotations, model.AnnotationPreviousModelURI)
	delete(annotations, "kubectl.kubernetes.io/last-applied-configuration")
	annotations[model.AnnotationModelURI] = uri
	obj.SetAnnotations(annotations)
	labels := cur.GetLabels()
	labels[model.LabelAction] = action
	obj.SetLabels(labels)
	spec, _, _ := unstructured.NestedMap(cur.Object, "spec")
	obj.Object["spec"] = spec
	unstructured.RemoveNestedField(obj.Object, "spec", "predictor", "canaryTrafficPercent")
	unstructured.RemoveNestedField(obj.Object, "spec", "canary")
	if err := unstructured.SetNestedField(obj.Object, uri, "spec", "predictor", "model", "storageUri"); err != nil {
		return nil, fmt.Errorf("setting the model URI of %s: %w", cur.GetName(), err)
	}
	return obj, nil
}

// standardCanaryOf returns the first entry of a service's spec.canary, nil without one.
func standardCanaryOf(isvc *unstructured.Unstructured) map[string]any {
	canaries, _, _ := unstructured.NestedSlice(isvc.Object, "spec", "canary")
	if len(canaries) == 0 {
		return nil
	}
	c, _ := canaries[0].(map[string]any)
	return c
}

// MaxCanaryName bounds a Standard-mode canary's name: its Deployment and Service are
// <service>-<name>-predictor, one DNS label, and a service name is at most 39 characters.
const MaxCanaryName = 13

// CanaryName names the Standard-mode canary of a revision in a namespace: "canary-" and the
// revision's first six letters and digits, a new name for each canary, so that a promoted
// canary's name is never taken by the next one. KServe's default host name label of the canary,
// <service>-<name>-predictor-<namespace>, must fit in 63 characters: where it would not, the name
// is cut to "c" and as many of the revision's characters as fit (at least one), never equal to
// avoid (the stable predictor's name).
func CanaryName(revision, service, namespace, avoid string) string {
	var id []byte
	for _, r := range strings.ToLower(revision) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			id = append(id, byte(r)) //nolint:gosec // r is ASCII: the condition above
		}
	}
	room := 63 - len(service+"--predictor-"+namespace)
	if room >= MaxCanaryName {
		return "canary-" + string(id[:min(6, len(id))])
	}
	n := max(room-1, 1)
	for i := 0; i+n <= len(id); i++ {
		if name := "c" + string(id[i:i+n]); name != avoid {
			return name
		}
	}
	return "c" + string(id)
}

// StandardCanarySplit is how KServe (v0.20) shares a Standard-mode service's pods with a canary
// of percent, the split its traffic follows: the canary gets ceil(min * percent / 100) pods, the
// stable predictor the rest of its minimum, at least one. minReplicas is the stable predictor's
// (nil: 1).
func StandardCanarySplit(minReplicas *int64, percent int64) (canary, stable int64) {
	m := int64(1)
	if minReplicas != nil {
		m = *minReplicas
	}
	canary = (m*percent + 99) / 100
	return canary, max(m-canary, 1)
}
