package inventory

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// The credentials kubectl kaptain makes for its workloads.
var (
	Secrets         = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	ServiceAccounts = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
)

// Credential is a Secret or ServiceAccount kubectl kaptain made, and whether any workload
// still uses it.
type Credential struct {
	Resource schema.GroupVersionResource
	Obj      *unstructured.Unstructured
	Stale    bool
}

// Credentials returns the Secrets and ServiceAccounts kubectl kaptain made, ServiceAccounts
// first. One is stale when no live owner holds it and no workload (of the served kinds)
// names it.
func (inv *Inventory) Credentials(ctx context.Context, served []Served) ([]Credential, error) {
	workloads, err := inv.List(ctx, served)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, w := range workloads {
		referencedNames(w.Obj.Object, used)
	}
	var out []Credential
	// ServiceAccounts first: a used one makes its Secrets used.
	for _, gvr := range []schema.GroupVersionResource{ServiceAccounts, Secrets} {
		items, err := inv.listCredentials(ctx, gvr)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		for _, obj := range items {
			live, err := inv.ownerAlive(ctx, obj)
			if err != nil {
				return nil, err
			}
			inUse := live || used[obj.GetName()]
			if inUse && gvr == ServiceAccounts {
				referencedNames(obj.Object, used)
			}
			out = append(out, Credential{Resource: gvr, Obj: obj, Stale: !inUse})
		}
	}
	return out, nil
}

// listCredentials lists the managed objects of gvr; Secrets by their metadata only when the
// inventory can.
func (inv *Inventory) listCredentials(ctx context.Context, gvr schema.GroupVersionResource) ([]*unstructured.Unstructured, error) {
	opts := metav1.ListOptions{LabelSelector: model.ManagedSelector}
	var out []*unstructured.Unstructured
	if gvr == Secrets && inv.Metadata != nil {
		list, err := inv.Metadata.Resource(gvr).Namespace(inv.Namespace).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			obj := &unstructured.Unstructured{Object: map[string]any{}}
			obj.SetAPIVersion("v1")
			obj.SetKind("Secret")
			meta := list.Items[i].ObjectMeta
			obj.SetName(meta.Name)
			obj.SetNamespace(meta.Namespace)
			obj.SetUID(meta.UID)
			obj.SetLabels(meta.Labels)
			obj.SetOwnerReferences(meta.OwnerReferences)
			obj.SetCreationTimestamp(meta.CreationTimestamp)
			out = append(out, obj)
		}
		return out, nil
	}
	list, err := inv.Dynamic.Resource(gvr).Namespace(inv.Namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// referencedNames adds the Secret and ServiceAccount names an object refers to: every
// secretRef / secretKeyRef name, secretName, serviceAccountName, and a ServiceAccount's secrets.
func referencedNames(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch k {
			case "secretRef", "secretKeyRef":
				if m, ok := val.(map[string]any); ok {
					if n, ok := m["name"].(string); ok {
						into[n] = true
					}
				}
			case "secretName", "serviceAccountName":
				if n, ok := val.(string); ok {
					into[n] = true
				}
			case "secrets":
				if items, ok := val.([]any); ok {
					for _, item := range items {
						if m, ok := item.(map[string]any); ok {
							if n, ok := m["name"].(string); ok {
								into[n] = true
							}
						}
					}
				}
			}
			referencedNames(val, into)
		}
	case []any:
		for _, item := range x {
			referencedNames(item, into)
		}
	}
}

// ownerAlive reports whether one of obj's owners still exists with the same UID.
func (inv *Inventory) ownerAlive(ctx context.Context, obj *unstructured.Unstructured) (bool, error) {
	for _, ref := range obj.GetOwnerReferences() {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			continue
		}
		m, err := inv.Mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
		if err != nil {
			continue // the owner's kind is not even served
		}
		owner, err := inv.Dynamic.Resource(m.Resource).Namespace(obj.GetNamespace()).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if owner.GetUID() == ref.UID {
			return true, nil
		}
	}
	return false, nil
}
