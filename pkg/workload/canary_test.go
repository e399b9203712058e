package workload

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestModeOf(t *testing.T) {
	withStatus := func(mode string) *unstructured.Unstructured {
		u := deployed(t, "")
		_ = unstructured.SetNestedField(u.Object, mode, "status", "deploymentMode")
		return u
	}
	noAnnotation := func(canary string) *unstructured.Unstructured {
		u := deployed(t, canary)
		a := u.GetAnnotations()
		delete(a, AnnotationDeploymentMode)
		u.SetAnnotations(a)
		return u
	}
	for _, tc := range []struct {
		name  string
		isvc  *unstructured.Unstructured
		mode  Mode
		known bool
	}{
		{"none", nil, ModeKnative, false},
		{"status Serverless over the annotation", withStatus("Serverless"), ModeKnative, true},
		{"status RawDeployment", withStatus("RawDeployment"), ModeStandard, true},
		{"annotation", deployed(t, ""), ModeStandard, true},
		{"spec.canary alone", noAnnotation(standardCanarySpec), ModeStandard, true},
		{"nothing says", noAnnotation(""), ModeKnative, false},
	} {
		mode, known := ModeOf(tc.isvc)
		if mode != tc.mode || known != tc.known {
			t.Errorf("%s: ModeOf = %s, %v; want %s, %v", tc.name, mode, known, tc.mode, tc.known)
		}
		if got := CanaryFor(mode).Mode(); got != mode {
			t.Errorf("%s: CanaryFor(%s).Mode() = %s", tc.name, mode, got)
		}
	}
	for in, want := range map[string]Mode{"Standard": ModeStandard, "RawDeployment": ModeStandard, "Serverless": ModeKnative, "": ModeKnative, "ModelMesh": ModeKnative} {
		if got := ParseMode(in); got != want {
			t.Errorf("ParseMode(%q) = %s, want %s", in, got, want)
		}
	}
}

// A Knative-mode canary is the predictor's canaryTrafficPercent over the deployed service,
// compared with the deployed model (or, for a canary of a canary, the baseline).
func TestKnativeCanaryStart(t *testing.T) {
	cur := deployed(t, "")
	cur.SetAnnotations(map[string]string{"kaptain.dev/model-uri": "s3://kaptain/m/1", AnnotationDeploymentMode: "Serverless"})
	s := Serve{Name: "mnist", ModelURI: "s3://kaptain/m/2"}
	if note := CanaryFor(ModeKnative).Start(&s, cur, 30, "rev"); note != "" || s.CanaryName != "" || s.Stable != nil {
		t.Errorf("knative canary: note %q, name %q, stable %v", note, s.CanaryName, s.Stable)
	}
	obj, err := InferenceService(testModel("tensorflow"), s)
	if err != nil {
		t.Fatal(err)
	}
	if p := CanaryShare(obj); p == nil || *p != 30 || obj.GetAnnotations()["kaptain.dev/previous-model-uri"] != "s3://kaptain/m/1" {
		t.Fatalf("rendered: share %v, annotations %v", p, obj.GetAnnotations())
	}
	// A canary of that canary keeps the first baseline.
	obj.SetAnnotations(map[string]string{"kaptain.dev/model-uri": "s3://kaptain/m/2", "kaptain.dev/previous-model-uri": "s3://kaptain/m/1", AnnotationDeploymentMode: "Serverless"})
	s2 := Serve{Name: "mnist", ModelURI: "s3://kaptain/m/3"}
	CanaryFor(ModeKnative).Start(&s2, obj, 10, "rev2")
	if s2.PreviousModelURI != "s3://kaptain/m/1" || *s2.CanaryTrafficPercent != 10 {
		t.Errorf("canary of a canary: baseline %s, share %d", s2.PreviousModelURI, *s2.CanaryTrafficPercent)
	}
}
