package inventory

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi/openapitest"
)

func TestServesStandardCanary(t *testing.T) {
	gv := schema.GroupVersion{Group: "serving.kserve.io", Version: "v1beta1"}
	doc := func(specProperties string) []byte {
		return []byte(`{"components": {"schemas": {"io.kserve.serving.v1beta1.InferenceService": {
			"x-kubernetes-group-version-kind": [{"group": "serving.kserve.io", "kind": "InferenceService", "version": "v1beta1"}],
			"properties": {"spec": {"properties": {` + specProperties + `}}}}}}}`)
	}
	if _, err := ServesStandardCanary(&openapitest.FakeClient{PathsMap: map[string]openapi.GroupVersion{
		"apis/serving.kserve.io/v1beta1": openapitest.FakeGroupVersion{GVSpec: []byte(`{"components": {"schemas": {}}}`)}}}, gv); err == nil {
		t.Error("a schema without InferenceService: no error")
	}
	for name, tc := range map[string]struct {
		paths map[string]openapi.GroupVersion
		want  bool
	}{
		"KServe v0.20 (spec.canary)": {map[string]openapi.GroupVersion{"apis/serving.kserve.io/v1beta1": openapitest.FakeGroupVersion{GVSpec: doc(`"predictor": {}, "canary": {"type": "array"}`)}}, true},
		"KServe v0.15":               {map[string]openapi.GroupVersion{"apis/serving.kserve.io/v1beta1": openapitest.FakeGroupVersion{GVSpec: doc(`"predictor": {}`)}}, false},
		"no KServe":                  {map[string]openapi.GroupVersion{"apis/batch/v1": openapitest.FakeGroupVersion{GVSpec: []byte(`{}`)}}, false},
	} {
		got, err := ServesStandardCanary(&openapitest.FakeClient{PathsMap: tc.paths}, gv)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", name, got, err, tc.want)
		}
	}
}
