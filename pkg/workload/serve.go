package workload

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
	// Autoscale is the target concurrency per replica.
	Autoscale int64
	Resources Resources
	// ServiceAccount reads the storage credentials; none when empty.
	ServiceAccount string
}

// InferenceService returns the KServe InferenceService that serves m.
func InferenceService(m *model.Model, s Serve) (*unstructured.Unstructured, error) {
	format, ok := ModelFormat(m.Spec.Framework)
	if !ok {
		return nil, fmt.Errorf("framework %q cannot be served by KServe", m.Spec.Framework)
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
	return toUnstructured(inferenceService{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: KindInferenceService},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Annotations: annotations},
		Spec:       inferenceServiceSpec{Predictor: predictor},
	})
}

// StorageSecret returns the Secret KServe's storage initializer reads: the S3 credentials as
// data, the endpoint, https, region and certificate checks as annotations. data holds the
// variables of config.S3SecretData.
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
	observed, found, _ := unstructured.NestedInt64(isvc.Object, "status", "observedGeneration")
	created, _, _ := unstructured.NestedString(isvc.Object, "status", "components", "predictor", "latestCreatedRevision")
	ready, _, _ := unstructured.NestedString(isvc.Object, "status", "components", "predictor", "latestReadyRevision")
	st.Settled = (!found || observed >= isvc.GetGeneration()) && created == ready
	conditions, _, _ := unstructured.NestedSlice(isvc.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if cond["type"] == "Ready" {
			st.Ready = cond["status"] == "True"
		}
		if cond["status"] != "True" && st.Reason == "" {
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
// (or without a service).
func Canary(isvc *unstructured.Unstructured) *int64 {
	if isvc == nil {
		return nil
	}
	p, found, _ := unstructured.NestedInt64(isvc.Object, "spec", "predictor", "canaryTrafficPercent")
	if _, previous := DeployedURIs(isvc); !found || previous == "" {
		return nil
	}
	return &p
}

// Retarget returns the deployed service cur serving only uri: no canary, the previous model
// forgotten, the action label set; everything else (resources, autoscaling) as deployed.
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

// PredictorHost is the host name label KServe gives a service's predictor with its default
// domainTemplate ({{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}), and whether it is over
// DNS's 63 characters, when the service cannot become ready.
func PredictorHost(name, namespace string) (host string, tooLong bool) {
	host = name + "-predictor-" + namespace
	return host, len(host) > 63
}
