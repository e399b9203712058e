package inventory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// KnativeObject is one of the Knative Serving objects KServe makes for a Knative-mode
// service (the seeds' list: a Knative Service, its Route, and a Revision per deployment), and
// whether Knative says it is Ready.
type KnativeObject struct {
	Kind  string
	Name  string
	Ready bool
	// Problem is the Ready condition's reason and message when it is not True, else "".
	Problem string
}

// String is the object's state as describe shows it: Ready, or NotReady with the reason.
func (k KnativeObject) String() string {
	if k.Ready {
		return "Ready"
	}
	if k.Problem == "" {
		return "NotReady"
	}
	return "NotReady (" + k.Problem + ")"
}

// knativeKinds are the kinds KnativeObjects lists, in the order it returns them.
var knativeKinds = []string{"Service", "Route", "Revision"}

// labelInferenceService is the label KServe puts on everything it makes for a service, which
// Knative copies from the Knative Service to its Route and Revisions.
const labelInferenceService = "serving.kserve.io/inferenceservice"

// KnativeObjects lists the Knative Service, Route and Revisions KServe made for isvc, in that
// order (Revisions by name); none when the cluster does not serve Knative's kinds (Standard
// mode only).
func (inv *Inventory) KnativeObjects(ctx context.Context, isvc *unstructured.Unstructured) ([]KnativeObject, error) {
	var out []KnativeObject
	for _, kind := range knativeKinds {
		m, err := inv.Mapper.RESTMapping(schema.GroupKind{Group: "serving.knative.dev", Kind: kind}, "v1")
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("finding Knative's %s: %w", kind, err)
		}
		list, err := inv.Dynamic.Resource(m.Resource).Namespace(isvc.GetNamespace()).List(ctx,
			metav1.ListOptions{LabelSelector: labelInferenceService + "=" + isvc.GetName()})
		if err != nil {
			return nil, fmt.Errorf("listing the Knative %ss of %s: %w", strings.ToLower(kind), isvc.GetName(), err)
		}
		items := list.Items
		slices.SortFunc(items, func(a, b unstructured.Unstructured) int { return cmp.Compare(a.GetName(), b.GetName()) })
		for i := range items {
			out = append(out, knativeObject(kind, &items[i]))
		}
	}
	return out, nil
}

// knativeObject reads a Knative object's Ready condition.
func knativeObject(kind string, obj *unstructured.Unstructured) KnativeObject {
	k := KnativeObject{Kind: kind, Name: obj.GetName()}
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		cond, _ := c.(map[string]any)
		if cond["type"] != "Ready" {
			continue
		}
		if cond["status"] == "True" {
			k.Ready = true
			return k
		}
		reason, _ := cond["reason"].(string)
		message, _ := cond["message"].(string)
		k.Problem = strings.TrimPrefix(reason+": "+message, ": ")
		k.Problem = strings.TrimSuffix(k.Problem, ": ")
	}
	return k
}
