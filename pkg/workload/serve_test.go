package workload

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/internal/golden"
)

func TestInferenceServiceGolden(t *testing.T) {
	thirty := int64(30)
	one, five := 1, 5
	for _, tc := range []struct {
		name, framework, mode string
		serve                 Serve
	}{
		{"isvc-tensorflow-serverless", "tensorflow", "Serverless", Serve{Name: "mnist", ModelURI: "s3://kaptain/m/1", Autoscale: 2, ServiceAccount: "mnist-storage"}},
		{"isvc-pytorch-canary", "pytorch", "", Serve{Name: "mnist", ModelURI: "s3://kaptain/m/2", PreviousModelURI: "s3://kaptain/m/1", CanaryTrafficPercent: &thirty, Autoscale: 4}},
		{"isvc-sklearn-raw", "sklearn", "RawDeployment", Serve{Name: "mnist", ModelURI: "s3://kaptain/m/1", Resources: Resources{CPURequest: "1", CPULimit: "1", GPULimit: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testModel(tc.framework)
			m.Spec.Serving.DeploymentMode = tc.mode
			m.Spec.Serving.MinReplicas, m.Spec.Serving.MaxReplicas = &one, &five
			obj, err := InferenceService(m, tc.serve)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := yaml.Marshal(obj.Object)
			golden.Assert(t, filepath.Join("testdata", tc.name+".yaml"), out)
		})
	}
	for _, framework := range []string{"tensorflow", "pytorch", "sklearn", "xgboost", "lightgbm", "onnx", "huggingface", "triton", "pmml", "paddle", "mlflow"} {
		for _, mode := range []string{"Serverless", "RawDeployment"} {
			t.Run(framework+"-"+mode, func(t *testing.T) {
				m := testModel(framework)
				m.Spec.Serving.DeploymentMode = mode
				obj, err := InferenceService(m, Serve{Name: "mnist", ModelURI: "s3://kaptain/m/1", Autoscale: 2, ServiceAccount: "mnist-storage"})
				if err != nil {
					t.Fatal(err)
				}
				out, _ := yaml.Marshal(obj.Object)
				golden.Assert(t, filepath.Join("testdata", "isvc", framework+"-"+strings.ToLower(mode)+".yaml"), out)
			})
		}
	}
	if _, err := InferenceService(testModel("keras"), Serve{Name: "x", ModelURI: "s3://a/b"}); err == nil {
		t.Error("an unservable framework was accepted")
	}
}

func TestStorageSecretAnnotations(t *testing.T) {
	s, err := StorageSecret("mnist-storage", map[string]string{
		"AWS_ACCESS_KEY_ID": "minio", "AWS_SECRET_ACCESS_KEY": "k", "AWS_REGION": "eu-west-1",
		"S3_ENDPOINT": "https://minio.kubeflow:9000", "S3_FORCE_PATH_STYLE": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"serving.kserve.io/s3-endpoint": "minio.kubeflow:9000", "serving.kserve.io/s3-usehttps": "1", "serving.kserve.io/s3-verifyssl": "1", "serving.kserve.io/s3-region": "eu-west-1"}
	for k, v := range want {
		if s.GetAnnotations()[k] != v {
			t.Errorf("%s = %q, want %q", k, s.GetAnnotations()[k], v)
		}
	}
	data, _, _ := unstructured.NestedMap(s.Object, "data")
	if len(data) != 2 {
		t.Errorf("data keys = %v, want only the credentials", data)
	}
}

func TestServiceStateOf(t *testing.T) {
	svc := func(gen int64, status map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
		u.SetGeneration(gen)
		return u
	}
	ready := []any{map[string]any{"type": "Ready", "status": "True"}}
	for _, tc := range []struct {
		name          string
		obj           *unstructured.Unstructured
		ready, failed bool
		line          string
	}{
		{"no status", svc(1, map[string]any{}), false, false, "NotReady"},
		{"ready", svc(2, map[string]any{"url": "http://m", "observedGeneration": int64(2), "conditions": ready}), true, false, "Ready at http://m"},
		{"ready for an older generation", svc(3, map[string]any{"url": "http://m", "observedGeneration": int64(2), "conditions": ready}), true, false, "NotReady"},
		{"latest revision not ready yet", svc(1, map[string]any{"conditions": ready, "components": map[string]any{"predictor": map[string]any{"latestCreatedRevision": "r2", "latestReadyRevision": "r1"}}}), true, false, "NotReady"},
		{"progressing", svc(1, map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "Unknown", "reason": "RevisionMissing"}}}), false, false, "NotReady: RevisionMissing"},
		{"failed", svc(1, map[string]any{"conditions": []any{map[string]any{"type": "PredictorReady", "status": "False", "reason": "RevisionFailed", "message": "boom"}}}), false, true, "NotReady: RevisionFailed: boom"},
		// RawDeployment reports an ingress not made yet as False: progress, not failure.
		{"raw ingress pending", svc(1, map[string]any{"conditions": []any{map[string]any{"type": "IngressReady", "status": "False", "reason": "Predictor ingress not created"}, map[string]any{"type": "PredictorReady", "status": "True"}}}), false, false, "NotReady: Predictor ingress not created"},
		{"model failed to load", svc(1, map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "ModelNotReady"}}, "modelStatus": map[string]any{"transitionStatus": "BlockedByFailedLoad", "lastFailureInfo": map[string]any{"reason": "ModelLoadFailed", "message": "no model at s3://x"}}}), false, true, "NotReady: ModelLoadFailed: no model at s3://x"},
	} {
		st := ServiceStateOf(tc.obj)
		if st.Ready != tc.ready || st.Failed != tc.failed || st.String() != tc.line {
			t.Errorf("%s: ready=%v failed=%v %q", tc.name, st.Ready, st.Failed, st.String())
		}
	}
}

// The legacy API (serving.kubeflow.org) differs only in its apiVersion; no CRD of it is served
// by the Go module proxy (kubeflow/kfserving), so no golden of it goes to an API server.
func TestInferenceServiceLegacyAPIVersion(t *testing.T) {
	obj, err := InferenceService(testModel("pytorch"), Serve{Name: "mnist", APIVersion: LegacyKServeGroupVersion, ModelURI: "s3://kaptain/m/1", Autoscale: 1})
	if err != nil || obj.GetAPIVersion() != LegacyKServeGroupVersion || obj.GetKind() != KindInferenceService {
		t.Errorf("legacy service: %v, %v", obj, err)
	}
}
