package plugin

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	"k8s.io/kubectl/pkg/scheme"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// servingCluster is kubectl's test factory with a mapper that knows KServe's InferenceService,
// as a cluster with KServe serves it, and a fake dynamic client holding objs.
type servingCluster struct {
	*cmdtesting.TestFactory
	mapper meta.RESTMapper
}

// ToRESTMapper is the mapper of the served kinds.
func (c servingCluster) ToRESTMapper() (meta.RESTMapper, error) { return c.mapper, nil }

var isvcGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

// onlineOn puts h on a cluster that serves InferenceServices and holds objs.
func onlineOn(t *testing.T, h *harness, objs ...*unstructured.Unstructured) *harness {
	t.Helper()
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"}, meta.RESTScopeNamespace)
	var runtimeObjs []runtime.Object
	for _, o := range objs {
		runtimeObjs = append(runtimeObjs, o)
	}
	h.tf.FakeDynamicClient = fakedynamic.NewSimpleDynamicClientWithCustomListKinds(scheme.Scheme,
		map[schema.GroupVersionResource]string{isvcGVR: "InferenceServiceList"}, runtimeObjs...)
	h.deps.Factory = servingCluster{TestFactory: h.tf, mapper: mapper}
	return h
}

// service is the example model's InferenceService in namespace test, without a canary, made
// by kubectl kaptain when managed.
func service(t *testing.T, h *harness, managed bool) *unstructured.Unstructured {
	t.Helper()
	m, err := model.LoadFile(h.dir + "/kaptain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	predictor := map[string]any{"model": map[string]any{"storageUri": "s3://kaptain/m/1", "modelFormat": map[string]any{"name": "tensorflow"}}}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
		"metadata": map[string]any{"name": m.KubeName(), "namespace": "test", "uid": "u-1"},
		"spec":     map[string]any{"predictor": predictor},
	}}
	if managed {
		obj.SetLabels(map[string]string{model.LabelManagedBy: model.ManagedByValue, model.LabelModel: m.KubeName()})
	}
	return obj
}

// verbs are the dynamic client's calls, "get inferenceservices" and so on.
func verbs(h *harness) []string {
	var out []string
	for _, a := range h.tf.FakeDynamicClient.Actions() {
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

// TestServingCommandsReadTheClusterFirst runs the serving commands' online paths: what the
// cluster holds decides, and a refusal changes nothing.
func TestServingCommandsReadTheClusterFirst(t *testing.T) {
	for _, tc := range []struct {
		name              string
		args              []string
		managed, deployed bool
		class             sdkerr.Class
		want              string
	}{
		{"undeploy what is not deployed", []string{"undeploy"}, false, false, sdkerr.ModelDeployment, "is not deployed: there is no inferenceservice"},
		{"undeploy another's service", []string{"undeploy"}, false, true, sdkerr.ModelDeployment, "was not made by kubectl kaptain; it is left alone"},
		{"promote without a canary", []string{"promote"}, true, true, sdkerr.ModelDeployment, "has no canary to promote"},
		{"rollback without a canary", []string{"rollback"}, true, true, sdkerr.ModelDeployment, "has no canary to roll back"},
		{"promote what is not deployed", []string{"promote"}, false, false, sdkerr.ModelDeployment, "is not deployed; nothing to promote"},
		{"deploy over a deployment", []string{"deploy", "--model-uri", "s3://kaptain/m/2"}, true, true, sdkerr.ModelDeployment, "add --replace to replace it"},
		{"canary of nothing", []string{"deploy", "--model-uri", "s3://kaptain/m/2", "--canary-traffic-percent", "10"}, false, false, sdkerr.ModelDeployment, "has no traffic to share with a canary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			var objs []*unstructured.Unstructured
			if tc.deployed {
				objs = append(objs, service(t, h, tc.managed))
			}
			h = onlineOn(t, h, objs...)
			err := h.run(t, tc.args...)
			if err == nil || sdkerr.ClassOf(err) != tc.class || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v: error %v (class %s), want class %s with %q", tc.args, err, sdkerr.ClassOf(err), tc.class, tc.want)
			}
			if got := verbs(h); len(got) != 1 || got[0] != "get inferenceservices" {
				t.Errorf("%v made %v, want one get of the service", tc.args, got)
			}
			if h.out.Len() > 0 {
				t.Errorf("%v printed on stdout:\n%s", tc.args, h.out.String())
			}
		})
	}
}

// TestUndeployDeletesTheService: undeploy deletes the service it read, at its UID, and names
// it as kubectl delete does; a server dry run deletes with dryRun.
func TestUndeployDeletesTheService(t *testing.T) {
	h := newHarness(t)
	svc := service(t, h, true)
	h = onlineOn(t, h, svc)
	if err := h.run(t, "undeploy"); err != nil {
		t.Fatalf("undeploy: %v\n%s", err, h.errOut.String())
	}
	if want := "inferenceservice.serving.kserve.io/" + svc.GetName() + " deleted\n"; h.out.String() != want {
		t.Errorf("stdout = %q, want %q", h.out.String(), want)
	}
	got := verbs(h)
	if len(got) < 2 || got[0] != "get inferenceservices" || got[1] != "delete inferenceservices" {
		t.Errorf("undeploy made %v, want a get then a delete of the service", got)
	}
	if _, err := h.tf.FakeDynamicClient.Resource(isvcGVR).Namespace("test").Get(t.Context(), svc.GetName(), metav1.GetOptions{}); err == nil {
		t.Error("the service is still there")
	}
}
