package workload

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// KServe facts.
const (
	KServeGroupVersion       = "serving.kserve.io/v1beta1"
	LegacyKServeGroupVersion = "serving.kubeflow.org/v1beta1"
	KindInferenceService     = "InferenceService"
	// AnnotationDeploymentMode selects Knative (Serverless) or Standard (RawDeployment) mode.
	AnnotationDeploymentMode = "serving.kserve.io/deploymentMode"
	// LabelInferenceService is set by KServe on the predictor's pods.
	LabelInferenceService = "serving.kserve.io/inferenceservice"
)

// StandardMode reports whether a deployment mode is KServe's Standard mode, under either of
// its names (RawDeployment before v0.20): plain Deployments, where canaryTrafficPercent does
// nothing.
func StandardMode(mode string) bool { return mode == "Standard" || mode == "RawDeployment" }

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
			id = append(id, byte(r))
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

// modelFormats maps kaptain.yaml frameworks to KServe's modelFormat names.
var modelFormats = map[string]string{
	"tensorflow": "tensorflow", "pytorch": "pytorch", "sklearn": "sklearn", "xgboost": "xgboost",
	"lightgbm": "lightgbm", "onnx": "onnx", "huggingface": "huggingface", "triton": "triton",
	"pmml": "pmml", "paddle": "paddle", "mlflow": "mlflow",
}

// ModelFormat returns KServe's modelFormat for a framework; false when KServe cannot serve it.
func ModelFormat(framework string) (string, bool) {
	f, ok := modelFormats[framework]
	return f, ok
}

// ServedFormat is the KServe modelFormat that serves m: spec.serving.modelFormat, else its
// framework's; false when KServe serves neither.
func ServedFormat(m *model.Model) (string, bool) {
	if f := m.Spec.Serving.ModelFormat; f != "" {
		return ModelFormat(f)
	}
	return ModelFormat(m.Spec.Framework)
}

// Serve holds what an InferenceService needs beyond the model.
type Serve struct {
	// Name is the service's name.
	Name string
	// APIVersion is serving.kserve.io/v1beta1, or the legacy serving.kubeflow.org/v1beta1.
	APIVersion string
	// ModelURI is the storageUri of the predictor (the canary's, during a canary).
	ModelURI string
	// PreviousModelURI is the model before the canary, kept for rollback; empty otherwise.
	PreviousModelURI string
	// CanaryTrafficPercent routes that share of traffic to ModelURI when set.
	CanaryTrafficPercent *int64
	// CanaryName, with CanaryTrafficPercent, makes the canary a Standard-mode one (KServe v0.20's
	// spec.canary): a predictor of that name serving ModelURI beside Stable.
	CanaryName string
	// Stable is the deployed service's predictor, which keeps serving unchanged beside a
	// Standard-mode canary.
	Stable map[string]any
	// PredictorName is the deployed predictor's name (spec.predictor.name, set when a
	// Standard-mode canary was promoted), kept when the service is replaced.
	PredictorName string
	// Autoscale is the target concurrency per replica.
	Autoscale int64
	Resources Resources
	// ServiceAccount reads the storage credentials; none when empty.
	ServiceAccount string
}

// InferenceService returns the KServe InferenceService that serves m.
func InferenceService(m *model.Model, s Serve) (*unstructured.Unstructured, error) {
	format, ok := ServedFormat(m)
	if !ok {
		return nil, fmt.Errorf("framework %q cannot be served by KServe; spec.serving.modelFormat names the format the trainer saves", m.Spec.Framework)
	}
	if s.Name == "" || s.ModelURI == "" {
		return nil, fmt.Errorf("building inference service: name and model URI are required")
	}
	res, err := s.Resources.requirements()
	if err != nil {
		return nil, fmt.Errorf("building inference service: %w", err)
	}
	apiVersion := s.APIVersion
	if apiVersion == "" {
		apiVersion = KServeGroupVersion
	}
	annotations := map[string]string{model.AnnotationModelURI: s.ModelURI}
	if s.PreviousModelURI != "" {
		annotations[model.AnnotationPreviousModelURI] = s.PreviousModelURI
	}
	sv := m.Spec.Serving
	if sv.DeploymentMode != "" {
		annotations[AnnotationDeploymentMode] = sv.DeploymentMode
	}
	predictor := predictorSpec{
		Name:                 s.PredictorName,
		ServiceAccountName:   s.ServiceAccount,
		MinReplicas:          sv.MinReplicas,
		MaxReplicas:          sv.MaxReplicas,
		CanaryTrafficPercent: s.CanaryTrafficPercent,
		Model: modelSpec{
			ModelFormat:     modelFormat{Name: format},
			Runtime:         sv.Runtime,
			ProtocolVersion: sv.ProtocolVersion,
			StorageURI:      s.ModelURI,
			Resources:       res,
		},
	}
	if s.Autoscale > 0 {
		predictor.ScaleTarget, predictor.ScaleMetric = &s.Autoscale, "concurrency"
	}
	if s.CanaryName != "" && s.CanaryTrafficPercent != nil {
		return standardCanary(apiVersion, s, annotations, predictor.Model)
	}
	return toUnstructured(inferenceService{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: KindInferenceService},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Annotations: annotations},
		Spec:       inferenceServiceSpec{Predictor: predictor},
	})
}

// standardCanary renders a Standard-mode canary: the stable predictor as deployed, and one
// spec.canary entry serving model (whose storageUri is the canary's) with the traffic share.
// KServe's validator accepts spec.canary only under the annotation's new name, Standard.
func standardCanary(apiVersion string, s Serve, annotations map[string]string, model modelSpec) (*unstructured.Unstructured, error) {
	if s.Stable == nil || s.PreviousModelURI == "" {
		return nil, fmt.Errorf("building the canary of %s: the deployed predictor is required", s.Name)
	}
	annotations[AnnotationDeploymentMode] = "Standard"
	canary, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&canarySpec{Predictor: canaryPredictor{Name: s.CanaryName, ServiceAccountName: s.ServiceAccount, Model: model}, TrafficPercent: *s.CanaryTrafficPercent})
	if err != nil {
		return nil, fmt.Errorf("building the canary of %s: %w", s.Name, err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": KindInferenceService,
		"spec": map[string]any{"predictor": s.Stable, "canary": []any{canary}},
	}}
	obj.SetName(s.Name)
	obj.SetAnnotations(annotations)
	return obj, nil
}

// StorageSecret returns the Secret KServe's storage initializer reads: the S3 credentials as
// data, the endpoint, https, region and certificate checks as annotations. data holds the
// variables of config.ResolveS3Secret.
func StorageSecret(name string, data map[string]string) (*unstructured.Unstructured, error) {
	keys := map[string]string{}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		if v := data[k]; v != "" {
			keys[k] = v
		}
	}
	secret, err := Secret(name, keys)
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{"serving.kserve.io/s3-region": data["AWS_REGION"]}
	if endpoint := data["S3_ENDPOINT"]; endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("storage endpoint %q: %w", endpoint, err)
		}
		https := "0"
		if u.Scheme == "https" {
			https = "1"
		}
		annotations["serving.kserve.io/s3-endpoint"] = u.Host + strings.TrimRight(u.Path, "/")
		annotations["serving.kserve.io/s3-usehttps"] = https
		annotations["serving.kserve.io/s3-verifyssl"] = https
	}
	secret.SetAnnotations(annotations)
	return secret, nil
}

// ServiceAccount returns a ServiceAccount that carries the given Secrets, as KServe's storage
// initializer expects.
func ServiceAccount(name string, secrets ...string) (*unstructured.Unstructured, error) {
	sa := corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, s := range secrets {
		sa.Secrets = append(sa.Secrets, corev1.ObjectReference{Name: s})
	}
	return toUnstructured(sa)
}

// The KServe types, for the fields kaptain sets (serving.kserve.io/v1beta1).
type (
	inferenceService struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              inferenceServiceSpec `json:"spec"`
	}
	inferenceServiceSpec struct {
		Predictor predictorSpec `json:"predictor"`
	}
	predictorSpec struct {
		Name                 string    `json:"name,omitempty"`
		ServiceAccountName   string    `json:"serviceAccountName,omitempty"`
		MinReplicas          *int      `json:"minReplicas,omitempty"`
		MaxReplicas          *int      `json:"maxReplicas,omitempty"`
		ScaleTarget          *int64    `json:"scaleTarget,omitempty"`
		ScaleMetric          string    `json:"scaleMetric,omitempty"`
		CanaryTrafficPercent *int64    `json:"canaryTrafficPercent,omitempty"`
		Model                modelSpec `json:"model"`
	}
	modelSpec struct {
		ModelFormat     modelFormat                 `json:"modelFormat"`
		Runtime         string                      `json:"runtime,omitempty"`
		ProtocolVersion string                      `json:"protocolVersion,omitempty"`
		StorageURI      string                      `json:"storageUri"`
		Resources       corev1.ResourceRequirements `json:"resources,omitzero"`
	}
	modelFormat struct {
		Name string `json:"name"`
	}
	// canarySpec is an entry of spec.canary (KServe v0.20, Standard mode).
	canarySpec struct {
		Predictor      canaryPredictor `json:"predictor"`
		TrafficPercent int64           `json:"trafficPercent"`
	}
	// canaryPredictor is what a canary changes of the stable predictor: KServe merges it over
	// it, and refuses autoscaling settings (a canary has fixed replicas).
	canaryPredictor struct {
		Name               string    `json:"name"`
		ServiceAccountName string    `json:"serviceAccountName,omitempty"`
		Model              modelSpec `json:"model"`
	}
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
}

// ServiceStateOf reads an InferenceService's state.
func ServiceStateOf(isvc *unstructured.Unstructured) ServiceState {
	var st ServiceState
	st.URL, _, _ = unstructured.NestedString(isvc.Object, "status", "url")
	if mode, _, _ := unstructured.NestedString(isvc.Object, "status", "deploymentMode"); StandardMode(mode) {
		st.Settled = standardSettled(isvc)
	} else {
		observed, found, _ := unstructured.NestedInt64(isvc.Object, "status", "observedGeneration")
		created, _, _ := unstructured.NestedString(isvc.Object, "status", "components", "predictor", "latestCreatedRevision")
		ready, _, _ := unstructured.NestedString(isvc.Object, "status", "components", "predictor", "latestReadyRevision")
		st.Settled = (!found || observed >= isvc.GetGeneration()) && created == ready
	}
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
	// KServe's Ready condition leaves a Standard-mode canary out: the canary is ready when
	// CanaryPredictorReady is True.
	if standardCanaryOf(isvc) != nil && st.Ready && !conditionTrue(conditions, "CanaryPredictorReady") {
		st.Ready = false
		if st.Reason == "" {
			st.Reason = "CanaryPredictorReady not True"
		}
	}
	transition, _, _ := unstructured.NestedString(isvc.Object, "status", "modelStatus", "transitionStatus")
	if transition == "BlockedByFailedLoad" || transition == "InvalidSpec" {
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

// standardSettled reports whether a Standard-mode service's status describes its spec. Its
// status.observedGeneration is the predictor Deployment's, not the service's, so it cannot
// say; what can: the status's address names the Service of spec.predictor.name
// (<service>-predictor, or <service>-<name>-predictor once a canary was promoted), and the
// canary statuses are spec.canary's names and shares.
func standardSettled(isvc *unstructured.Unstructured) bool {
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

// ServingObjects returns the InferenceService of m and, when storage credentials are given,
// the Secret and ServiceAccount its storage initializer reads them from, named
// "<service>-storage".
func ServingObjects(m *model.Model, s Serve, storage map[string]string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	if storage != nil {
		name := s.Name + "-storage"
		secret, err := StorageSecret(name, storage)
		if err != nil {
			return nil, err
		}
		sa, err := ServiceAccount(name, name)
		if err != nil {
			return nil, err
		}
		objs = append(objs, secret, sa)
		s.ServiceAccount = name
	}
	isvc, err := InferenceService(m, s)
	if err != nil {
		return nil, err
	}
	return append(objs, isvc), nil
}

// DeployedURIs returns the model URI a deployed service serves and the one before its canary,
// from its annotations; none for a nil service (not deployed, or a client dry run).
func DeployedURIs(isvc *unstructured.Unstructured) (uri, previous string) {
	if isvc == nil {
		return "", ""
	}
	a := isvc.GetAnnotations()
	return a[model.AnnotationModelURI], a[model.AnnotationPreviousModelURI]
}

// Canary returns the canary's traffic percent of a deployed service, or nil without a canary
// (or without a service): spec.canary's first entry in Standard mode, else the predictor's
// canaryTrafficPercent (Knative mode).
func Canary(isvc *unstructured.Unstructured) *int64 {
	if isvc == nil {
		return nil
	}
	if c := standardCanaryOf(isvc); c != nil {
		p, _, _ := unstructured.NestedInt64(c, "trafficPercent")
		return &p
	}
	p, found, _ := unstructured.NestedInt64(isvc.Object, "spec", "predictor", "canaryTrafficPercent")
	if _, previous := DeployedURIs(isvc); !found || previous == "" {
		return nil
	}
	return &p
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

// Retarget returns the deployed service cur serving only uri: no canary, the previous model
// forgotten, the action label set; everything else (resources, autoscaling) as deployed. A
// Standard-mode canary that serves uri is promoted as KServe intends: the predictor takes the
// canary's name and model, so that the canary's Deployment becomes the stable one without a
// restart (unless the canary serves the stable model's URI, when KServe keeps the name).
func Retarget(cur *unstructured.Unstructured, uri, action string) (*unstructured.Unstructured, error) {
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
	if c := standardCanaryOf(cur); c != nil {
		unstructured.RemoveNestedField(obj.Object, "spec", "canary")
		canaryURI, _, _ := unstructured.NestedString(c, "predictor", "model", "storageUri")
		stableURI, _, _ := unstructured.NestedString(cur.Object, "spec", "predictor", "model", "storageUri")
		if canaryURI == uri {
			fields, _, _ := unstructured.NestedMap(c, "predictor", "model")
			for k, v := range fields {
				if err := unstructured.SetNestedField(obj.Object, v, "spec", "predictor", "model", k); err != nil {
					return nil, fmt.Errorf("promoting the canary of %s: %w", cur.GetName(), err)
				}
			}
			if name, _, _ := unstructured.NestedString(c, "predictor", "name"); name != "" && canaryURI != stableURI {
				_ = unstructured.SetNestedField(obj.Object, name, "spec", "predictor", "name")
			}
		}
	}
	if err := unstructured.SetNestedField(obj.Object, uri, "spec", "predictor", "model", "storageUri"); err != nil {
		return nil, fmt.Errorf("setting the model URI of %s: %w", cur.GetName(), err)
	}
	return obj, nil
}

// CanaryOf makes s a canary of the deployed service cur with percent of the traffic: the
// baseline is cur's model or, when cur has a canary already, cur's baseline.
func (s *Serve) CanaryOf(cur *unstructured.Unstructured, percent int64) {
	current, previous := DeployedURIs(cur)
	s.PreviousModelURI = current
	if Canary(cur) != nil {
		s.PreviousModelURI = previous
	}
	s.CanaryTrafficPercent = &percent
}

// StandardCanaryOf makes s a Standard-mode canary named name of the deployed service cur: cur's
// predictor keeps serving as it is (a canary already there is replaced).
func (s *Serve) StandardCanaryOf(cur *unstructured.Unstructured, percent int64, name string) {
	s.CanaryOf(cur, percent)
	s.CanaryName = name
	s.Stable, _, _ = unstructured.NestedMap(cur.Object, "spec", "predictor")
	delete(s.Stable, "canaryTrafficPercent")
}

// PredictorName returns a deployed service's spec.predictor.name, "" when unset or for nil.
func PredictorName(isvc *unstructured.Unstructured) string {
	if isvc == nil {
		return ""
	}
	name, _, _ := unstructured.NestedString(isvc.Object, "spec", "predictor", "name")
	return name
}

// PredictorHost is the host name label KServe gives a service's predictor with its default
// domainTemplate ({{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}), and whether it is over
// DNS's 63 characters, when the service cannot become ready.
func PredictorHost(name, namespace string) (host string, tooLong bool) {
	host = name + "-predictor-" + namespace
	return host, len(host) > 63
}
