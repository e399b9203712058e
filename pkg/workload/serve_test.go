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
		{"isvc-sklearn-raw", "sklearn", "RawDeployment", Serve{Name: "mnist", ModelURI: "s3://kaptain/m/1", Resources: Resources{CPURequest: "1", CPULimit: "1", GPULimit: 1}, Placement: gpuPool}},
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

// deployed is a Standard-mode service as the API server returns it, optionally with a canary.
func deployed(t *testing.T, canary string) *unstructured.Unstructured {
	t.Helper()
	doc := `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: mnist
  namespace: dev
  labels: {kaptain.dev/managed-by: kubectl-kaptain, kaptain.dev/action: deploy}
  annotations: {kaptain.dev/model-uri: s3://kaptain/m/1, serving.kserve.io/deploymentMode: Standard}
spec:
  predictor:
    minReplicas: 4
    serviceAccountName: mnist-storage
    model:
      modelFormat: {name: tensorflow}
      storageUri: s3://kaptain/m/1
      resources: {requests: {cpu: 100m}}
` + canary
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	if canary != "" {
		a := u.GetAnnotations()
		a["kaptain.dev/model-uri"], a["kaptain.dev/previous-model-uri"] = "s3://kaptain/m/2", "s3://kaptain/m/1"
		u.SetAnnotations(a)
	}
	return u
}

const standardCanarySpec = `  canary:
  - trafficPercent: 30
    predictor:
      name: canary-7b93a1
      model:
        modelFormat: {name: tensorflow}
        storageUri: s3://kaptain/m/2
        resources: {requests: {cpu: "2"}}
`

func TestStandardCanaryGolden(t *testing.T) {
	cur := deployed(t, "")
	s := Serve{Name: "mnist", ModelURI: "s3://kaptain/m/2", Autoscale: 2, ServiceAccount: "mnist-storage", Resources: Resources{CPURequest: "2"}}
	// 30% of the stable predictor's 4 pods is 2 canary pods: about 50% of the traffic.
	if note := CanaryFor(ModeStandard).Start(&s, cur, 30, "7b93a1f0-5e4c-4c55-9d0e-1f2a3b4c5d6e"); !strings.Contains(note, "2 canary pod(s) beside 2 stable pod(s), about 50% to the canary") {
		t.Errorf("30%% of 4 pods: note %q", note)
	}
	obj, err := InferenceService(testModel("tensorflow"), s)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := yaml.Marshal(obj.Object)
	golden.Assert(t, filepath.Join("testdata", "kserve-v0.20", "isvc-tensorflow-standard-canary.yaml"), out)
	if p := CanaryShare(obj); p == nil || *p != 30 {
		t.Errorf("Canary of the rendered service = %v, want 30", p)
	}
	// A canary of a canary keeps the baseline and replaces the canary.
	s2 := Serve{Name: "mnist", ModelURI: "s3://kaptain/m/3"}
	note := CanaryFor(ModeStandard).Start(&s2, deployed(t, standardCanarySpec), 10, "second")
	if s2.CanaryName != "canary-second" || !strings.Contains(note, "1 canary pod(s) beside 3 stable pod(s), about 25% to the canary") {
		t.Errorf("canary of a canary: name %q, note %q", s2.CanaryName, note)
	}
	obj, err = InferenceService(testModel("tensorflow"), s2)
	if err != nil {
		t.Fatal(err)
	}
	canaries, _, _ := unstructured.NestedSlice(obj.Object, "spec", "canary")
	stable, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "model", "storageUri")
	if len(canaries) != 1 || stable != "s3://kaptain/m/1" || obj.GetAnnotations()["kaptain.dev/previous-model-uri"] != "s3://kaptain/m/1" {
		t.Errorf("canary of a canary: %d canaries, stable %s, annotations %v", len(canaries), stable, obj.GetAnnotations())
	}
	if _, err := InferenceService(testModel("tensorflow"), Serve{Name: "mnist", ModelURI: "s3://a/b", CanaryName: "c", CanaryTrafficPercent: new(int64)}); err == nil {
		t.Error("a Standard-mode canary without the deployed predictor was rendered")
	}
}

func TestRetarget(t *testing.T) {
	for _, tc := range []struct {
		name, canary, uri string
		wantName          string
		wantCPU           string
	}{
		{"standard promote", standardCanarySpec, "s3://kaptain/m/2", "canary-7b93a1", "2"},
		{"standard rollback", standardCanarySpec, "s3://kaptain/m/1", "", "100m"},
		{"knative promote", "", "s3://kaptain/m/2", "", "100m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := deployed(t, tc.canary)
			if tc.canary == "" {
				_ = unstructured.SetNestedField(cur.Object, int64(30), "spec", "predictor", "canaryTrafficPercent")
				_ = unstructured.SetNestedField(cur.Object, "s3://kaptain/m/2", "spec", "predictor", "model", "storageUri")
				a := cur.GetAnnotations()
				a["kaptain.dev/model-uri"], a["kaptain.dev/previous-model-uri"] = "s3://kaptain/m/2", "s3://kaptain/m/1"
				a["serving.kserve.io/deploymentMode"] = "Serverless"
				cur.SetAnnotations(a)
			}
			if p := CanaryShare(cur); p == nil || *p != 30 {
				t.Fatalf("Canary(%s) = %v, want 30", tc.name, p)
			}
			obj, err := CanaryOfService(cur).Settle(cur, tc.uri, "promote")
			if err != nil {
				t.Fatal(err)
			}
			uri, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "model", "storageUri")
			name, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "name")
			cpu, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "model", "resources", "requests", "cpu")
			_, hasCanary, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "canary")
			_, hasPercent, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "predictor", "canaryTrafficPercent")
			if uri != tc.uri || name != tc.wantName || cpu != tc.wantCPU || hasCanary || hasPercent || CanaryShare(obj) != nil {
				t.Errorf("retargeted: uri %s name %q cpu %s canary %v percent %v", uri, name, cpu, hasCanary, hasPercent)
			}
			if a := obj.GetAnnotations(); a["kaptain.dev/model-uri"] != tc.uri || a["kaptain.dev/previous-model-uri"] != "" {
				t.Errorf("annotations: %v", a)
			}
			if got, _, _ := unstructured.NestedInt64(obj.Object, "spec", "predictor", "minReplicas"); got != 4 {
				t.Errorf("minReplicas = %d, want the deployed 4", got)
			}
		})
	}
	// A canary of the stable model's own URI keeps the predictor's name: KServe refuses a
	// rename without a model change.
	cur := deployed(t, strings.Replace(standardCanarySpec, "s3://kaptain/m/2", "s3://kaptain/m/1", 1))
	obj, err := CanaryOfService(cur).Settle(cur, "s3://kaptain/m/1", "promote")
	if name := PredictorName(obj); err != nil || name != "" {
		t.Errorf("promoting a canary of the same URI: name %q, %v", name, err)
	}
}

func TestCanaryName(t *testing.T) {
	const rev = "7b93a1f0-5e4c-4c55-9d0e-1f2a3b4c5d6e"
	long := strings.Repeat("m", 39)
	for _, tc := range []struct {
		revision, service, namespace, avoid, want string
	}{
		{rev, "mnist", "dev", "", "canary-7b93a1"},
		{"AB-CD-EF-01", "mnist", "dev", "", "canary-abcdef"},
		{"12", "mnist", "dev", "", "canary-12"},
		{rev, long, "dev", "", "canary-7b93a1"}, // 39+13+11+3 = 66 > 63: cut
		// <service>-<name>-predictor-<namespace> fits in 63 with a shorter name.
		{rev, "dev-mnist-tensorflow-4bd4aad1", "e2e-standardmo-9463", "", "c7b"},
		{rev, "dev-mnist-tensorflow-4bd4aad1", "e2e-standardmo-9463", "c7b", "cb9"},
		{rev, "dev-mnist-tensorflow-4bd4aad1", "a-very-long-namespace-name", "", "c7"},
	} {
		got := CanaryName(tc.revision, tc.service, tc.namespace, tc.avoid)
		if tc.service == long {
			if len(got) > MaxCanaryName || len(tc.service+"-"+got+"-predictor-"+tc.namespace) > 63 || got == tc.want {
				t.Errorf("CanaryName for a long service = %q", got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("CanaryName(%q, %q, %q, %q) = %q, want %q", tc.revision, tc.service, tc.namespace, tc.avoid, got, tc.want)
		}
	}
}

func TestStandardCanarySplit(t *testing.T) {
	four, ten := int64(4), int64(10)
	for _, tc := range []struct {
		min            *int64
		percent        int64
		canary, stable int64
	}{
		{nil, 30, 1, 1}, {&four, 25, 1, 3}, {&four, 50, 2, 2}, {&ten, 30, 3, 7}, {&four, 99, 4, 1},
	} {
		c, s := StandardCanarySplit(tc.min, tc.percent)
		if c != tc.canary || s != tc.stable {
			t.Errorf("StandardCanarySplit(%v, %d) = %d, %d, want %d, %d", tc.min, tc.percent, c, s, tc.canary, tc.stable)
		}
	}
}

func TestServiceStateWaitsForTheStandardCanary(t *testing.T) {
	cur := deployed(t, standardCanarySpec)
	_ = unstructured.SetNestedField(cur.Object, "Standard", "status", "deploymentMode")
	_ = unstructured.SetNestedField(cur.Object, "http://mnist-predictor.dev.svc.cluster.local", "status", "address", "url")
	_ = unstructured.SetNestedSlice(cur.Object, []any{map[string]any{"name": "canary-7b93a1", "trafficPercent": int64(30), "ready": true}}, "status", "canaryStatuses")
	ready := map[string]any{"type": "Ready", "status": "True"}
	_ = unstructured.SetNestedSlice(cur.Object, []any{ready, map[string]any{"type": "CanaryPredictorReady", "status": "False", "reason": "CanariesNotReady"}}, "status", "conditions")
	if st := ServiceStateOf(cur); st.Ready || st.String() != "NotReady: CanariesNotReady" {
		t.Errorf("canary not ready: %+v", st)
	}
	_ = unstructured.SetNestedSlice(cur.Object, []any{ready}, "status", "conditions")
	if st := ServiceStateOf(cur); st.Ready {
		t.Errorf("canary without its condition yet: %+v", st)
	}
	_ = unstructured.SetNestedSlice(cur.Object, []any{ready, map[string]any{"type": "CanaryPredictorReady", "status": "True"}}, "status", "conditions")
	if st := ServiceStateOf(cur); !st.Ready {
		t.Errorf("canary ready: %+v", st)
	}
}

// In Standard mode, status.observedGeneration is the predictor Deployment's: whether KServe has
// seen the spec is read from the address and the canary statuses instead.
func TestServiceStateSettledInStandardMode(t *testing.T) {
	ready := []any{map[string]any{"type": "Ready", "status": "True"}, map[string]any{"type": "CanaryPredictorReady", "status": "True"}}
	status := func(address string, canaries ...any) map[string]any {
		return map[string]any{"deploymentMode": "Standard", "observedGeneration": int64(1), "conditions": ready,
			"address": map[string]any{"url": address}, "canaryStatuses": canaries}
	}
	canary := map[string]any{"name": "canary-7b93a1", "trafficPercent": int64(30), "ready": true}
	for _, tc := range []struct {
		name    string
		canary  string
		rename  string
		status  map[string]any
		settled bool
	}{
		{"deployed", "", "", status("http://mnist-predictor.dev.svc.cluster.local"), true},
		{"canary not seen yet", standardCanarySpec, "", status("http://mnist-predictor.dev.svc.cluster.local"), false},
		{"canary seen", standardCanarySpec, "", status("http://mnist-predictor.dev.svc.cluster.local", canary), true},
		{"canary share changed", strings.Replace(standardCanarySpec, "trafficPercent: 30", "trafficPercent: 50", 1), "", status("http://mnist-predictor.dev.svc.cluster.local", canary), false},
		{"rolled back, not seen yet", "", "", status("http://mnist-predictor.dev.svc.cluster.local", canary), false},
		{"promoted, not seen yet", "", "canary-7b93a1", status("http://mnist-predictor.dev.svc.cluster.local", canary), false},
		{"promoted and seen", "", "canary-7b93a1", status("http://mnist-canary-7b93a1-predictor.dev.svc.cluster.local"), true},
		{"no address yet", "", "", status(""), false},
	} {
		cur := deployed(t, tc.canary)
		// The service's generation is far beyond the Deployment's: it says nothing.
		cur.SetGeneration(7)
		if tc.rename != "" {
			_ = unstructured.SetNestedField(cur.Object, tc.rename, "spec", "predictor", "name")
		}
		cur.Object["status"] = tc.status
		if st := ServiceStateOf(cur); st.Settled != tc.settled || (st.Settled && !st.Ready) {
			t.Errorf("%s: settled %v, want %v (%s)", tc.name, st.Settled, tc.settled, st)
		}
	}
}

// In Knative mode a failed first Revision never becomes the latest ready one, so its failure
// counts once KServe has seen the spec and says the latest created Revision failed, with
// Knative's reason; a Revision still progressing (RevisionMissing) or a failure KServe reported
// for an older generation does not.
func TestServiceStateFailureCurrentInKnativeMode(t *testing.T) {
	svc := func(gen, observed int64, conditions ...any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{
			"deploymentMode": "Knative", "observedGeneration": observed, "conditions": conditions,
			"components":  map[string]any{"predictor": map[string]any{"latestCreatedRevision": "m-predictor-00001"}},
			"modelStatus": map[string]any{"transitionStatus": "BlockedByFailedLoad"},
		}}}
		u.SetGeneration(gen)
		return u
	}
	revisionFailed := map[string]any{"type": "PredictorConfigurationReady", "status": "False", "reason": "RevisionFailed", "message": `Revision "m-predictor-00001" failed with message: Unable to fetch image "x.invalid/s:1"`}
	missing := map[string]any{"type": "PredictorReady", "status": "False", "reason": "RevisionMissing", "message": "no ready Revision"}
	for _, tc := range []struct {
		name    string
		obj     *unstructured.Unstructured
		current bool
		line    string
	}{
		{"failed Revision", svc(1, 1, map[string]any{"type": "IngressReady", "status": "Unknown"}, revisionFailed, missing), true,
			`NotReady: RevisionFailed: Revision "m-predictor-00001" failed with message: Unable to fetch image "x.invalid/s:1"`},
		{"failure of an older generation", svc(2, 1, revisionFailed, missing), false, ""},
		{"Revision progressing", svc(1, 1, missing), false, "NotReady: RevisionMissing: no ready Revision"},
	} {
		st := ServiceStateOf(tc.obj)
		if st.FailureCurrent != tc.current || !st.Failed || (tc.line != "" && st.String() != tc.line) {
			t.Errorf("%s: failed=%v current=%v %q", tc.name, st.Failed, st.FailureCurrent, st.String())
		}
	}
}
