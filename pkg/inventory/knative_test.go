package inventory

import (
	"context"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

func knativeObj(kind, name, isvc string, ready any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.knative.dev/v1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{labelInferenceService: isvc}},
	}}
	if c, ok := ready.(map[string]any); ok {
		_ = unstructured.SetNestedSlice(u.Object, []any{c}, "status", "conditions")
	}
	return u
}

// The Knative objects of a service are its own (by KServe's label), Service, Route, then
// Revisions by name, each with its Ready condition's reason when it is not Ready; a cluster
// without Knative has none.
func TestKnativeObjects(t *testing.T) {
	failed := map[string]any{"type": "Ready", "status": "False", "reason": "ContainerMissing", "message": "Unable to fetch image \"x.invalid/s:1\""}
	readyCond := map[string]any{"type": "Ready", "status": "True"}
	objs := []runtime.Object{
		knativeObj("Revision", "m-predictor-00002", "m", failed),
		knativeObj("Revision", "m-predictor-00001", "m", readyCond),
		knativeObj("Route", "m-predictor", "m", map[string]any{"type": "Ready", "status": "Unknown"}),
		knativeObj("Service", "m-predictor", "m", readyCond),
		knativeObj("Service", "other-predictor", "other", readyCond),
	}
	listKinds := map[schema.GroupVersionResource]string{}
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, k := range knativeKinds {
		gvk := schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1", Kind: k}
		mapper.Add(gvk, meta.RESTScopeNamespace)
		plural, _ := meta.UnsafeGuessKindToResource(gvk)
		listKinds[plural] = k + "List"
	}
	inv := &Inventory{Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, objs...), Mapper: mapper, Namespace: ns}
	isvc := &unstructured.Unstructured{}
	isvc.SetName("m")
	isvc.SetNamespace(ns)
	got, err := inv.KnativeObjects(context.Background(), isvc)
	if err != nil {
		t.Fatal(err)
	}
	want := []KnativeObject{
		{Kind: "Service", Name: "m-predictor", Ready: true},
		{Kind: "Route", Name: "m-predictor"},
		{Kind: "Revision", Name: "m-predictor-00001", Ready: true},
		{Kind: "Revision", Name: "m-predictor-00002", Problem: `ContainerMissing: Unable to fetch image "x.invalid/s:1"`},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if s := got[3].String(); s != `NotReady (ContainerMissing: Unable to fetch image "x.invalid/s:1")` {
		t.Errorf("a failed Revision shows %q", s)
	}
	if s := got[1].String(); s != "NotReady" {
		t.Errorf("a Route not ready yet shows %q", s)
	}

	inv.Mapper = meta.NewDefaultRESTMapper(nil)
	if got, err := inv.KnativeObjects(context.Background(), isvc); err != nil || got != nil {
		t.Errorf("without Knative: %v, %v; want none", got, err)
	}
}
