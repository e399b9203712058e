package workload

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// KServe facts.
const (
	KServeGroupVersion = "serving.kserve.io/v1beta1"
	// LegacyKServeGroupVersion is KFServing's (up to v0.6), whose v1beta1 predictor has one
	// field per framework and no spec.predictor.model: kubectl kaptain does not deploy to it.
	LegacyKServeGroupVersion = "serving.kubeflow.org/v1beta1"
	KindInferenceService     = "InferenceService"
	// AnnotationDeploymentMode selects Knative (Serverless) or Standard (RawDeployment) mode.
	AnnotationDeploymentMode = "serving.kserve.io/deploymentMode"
	// LabelInferenceService is set by KServe on the predictor's pods.
	LabelInferenceService = "serving.kserve.io/inferenceservice"
)

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
	// ModelURI is the storageUri of the predictor (the canary's, during a canary).
	ModelURI string
	// PreviousModelURI is the model before the canary, kept for rollback; empty otherwise.
	PreviousModelURI string
	// CanaryTrafficPercent routes that share of traffic to ModelURI when set.
	CanaryTrafficPercent *int64
	// CanaryName, with CanaryTrafficPercent, makes the canary a Standard-mode one (KServe v0.20's
	// spec.canary): a predictor of that name serving ModelURI beside Stable. The mode's
	// CanaryStrategy sets these fields (Start).
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
	// Placement sends the predictor's pods to the nodes it selects and tolerates (a
	// Standard-mode canary's inherit the deployed predictor's: KServe merges the canary over it).
	Placement Placement
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
		Placement:            s.Placement,
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
		return standardCanary(s, annotations, predictor.Model)
	}
	return toUnstructured(inferenceService{
		TypeMeta:   metav1.TypeMeta{APIVersion: KServeGroupVersion, Kind: KindInferenceService},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Annotations: annotations},
		Spec:       inferenceServiceSpec{Predictor: predictor},
	})
}

// standardCanary renders a Standard-mode canary: the stable predictor as deployed, and one
// spec.canary entry serving model (whose storageUri is the canary's) with the traffic share.
// KServe's validator accepts spec.canary only under the annotation's new name, Standard.
func standardCanary(s Serve, annotations map[string]string, model modelSpec) (*unstructured.Unstructured, error) {
	if s.Stable == nil || s.PreviousModelURI == "" {
		return nil, fmt.Errorf("building the canary of %s: the deployed predictor is required", s.Name)
	}
	annotations[AnnotationDeploymentMode] = string(ModeStandard)
	canary, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&canarySpec{Predictor: canaryPredictor{Name: s.CanaryName, ServiceAccountName: s.ServiceAccount, Model: model}, TrafficPercent: *s.CanaryTrafficPercent})
	if err != nil {
		return nil, fmt.Errorf("building the canary of %s: %w", s.Name, err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": KServeGroupVersion, "kind": KindInferenceService,
		"spec": map[string]any{"predictor": s.Stable, "canary": []any{canary}},
	}}
	obj.SetName(s.Name)
	obj.SetAnnotations(annotations)
	return obj, nil
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
		Name                 string `json:"name,omitempty"`
		ServiceAccountName   string `json:"serviceAccountName,omitempty"`
		MinReplicas          *int   `json:"minReplicas,omitempty"`
		MaxReplicas          *int   `json:"maxReplicas,omitempty"`
		ScaleTarget          *int64 `json:"scaleTarget,omitempty"`
		ScaleMetric          string `json:"scaleMetric,omitempty"`
		CanaryTrafficPercent *int64 `json:"canaryTrafficPercent,omitempty"`
		Placement
		Model modelSpec `json:"model"`
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
