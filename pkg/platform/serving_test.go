package platform

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// A cluster that serves InferenceService only in KFServing's legacy group is refused with the
// reason (its predictor has no spec.predictor.model), one that serves none with what to
// install, and KServe's group is found.
func TestInferenceServiceAPI(t *testing.T) {
	for _, tc := range []struct {
		name   string
		served []string
		want   string
	}{
		{"KServe", []string{"serving.kserve.io/v1beta1", "serving.kubeflow.org/v1beta1"}, ""},
		{"KFServing only", []string{"serving.kubeflow.org/v1beta1"}, "only as serving.kubeflow.org, KFServing's API"},
		{"none", nil, "install KServe"},
	} {
		cl := &Cluster{Dynamic: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()), Namespace: ns}
		mapper := meta.NewDefaultRESTMapper(nil)
		for _, gv := range tc.served {
			mapper.Add(schema.FromAPIVersionAndKind(gv, "InferenceService"), meta.RESTScopeNamespace)
		}
		cl.Mapper = mapper
		s, err := cl.InferenceService(context.Background(), "mnist")
		switch {
		case tc.want == "" && (err != nil || s.GVK.Group != "serving.kserve.io"):
			t.Errorf("%s: %v, %v; want serving.kserve.io", tc.name, s, err)
		case tc.want != "" && (err == nil || sdkerr.ClassOf(err) != sdkerr.ModelDeployment || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want ModelDeployment with %q", tc.name, err, tc.want)
		}
	}
}
