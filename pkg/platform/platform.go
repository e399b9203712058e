// Package platform reads what a cluster serves for kubectl kaptain: its training APIs and
// Trainer's runtimes, KServe's API and serving modes, Kueue's queues, Katib's namespace
// label and node autoscalers. It reads; it never makes or changes anything.
package platform

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Cluster reads what one namespace of a cluster serves.
type Cluster struct {
	Dynamic   dynamic.Interface
	Kube      kubernetes.Interface
	Mapper    meta.RESTMapper
	Namespace string
}

// serves reports whether the cluster serves a kind.
func (cl *Cluster) serves(gvk schema.GroupVersionKind) (bool, error) {
	_, err := cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("finding the resource of %s: %w", gvk.Kind, err)
	}
	return true, nil
}
