package inventory

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Service is a model's InferenceService: the API the cluster serves it with and, when it is
// deployed, its current version.
type Service struct {
	GVK     schema.GroupVersionKind
	Mapping *meta.RESTMapping
	// Current is nil when the model is not deployed.
	Current *unstructured.Unstructured
}

// InferenceService finds which InferenceService API the cluster serves (serving.kserve.io,
// else the legacy serving.kubeflow.org) and the service named name. A service of that name
// that kubectl kaptain did not make is an error: it is left alone.
func (inv *Inventory) InferenceService(ctx context.Context, name string) (*Service, error) {
	var s *Service
	for _, gv := range []string{workload.KServeGroupVersion, workload.LegacyKServeGroupVersion} {
		gvk := schema.FromAPIVersionAndKind(gv, workload.KindInferenceService)
		mapping, err := inv.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil {
			s = &Service{GVK: gvk, Mapping: mapping}
			break
		}
		if !meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("finding the InferenceService API: %w", err)
		}
	}
	if s == nil {
		return nil, sdkerr.New(sdkerr.ModelDeployment, "the cluster serves no InferenceService (serving.kserve.io or serving.kubeflow.org): install KServe (kserve/kserve) in the cluster")
	}
	current, err := inv.Dynamic.Resource(s.Mapping.Resource).Namespace(inv.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading inferenceservice %s: %w", name, err)
	case !model.IsManaged(current.GetLabels()):
		return nil, sdkerr.New(sdkerr.ModelDeployment, "inferenceservice %s exists and was not made by kubectl kaptain; it is left alone", name)
	default:
		s.Current = current
	}
	return s, nil
}

// PodStates describes the pods a selector selects, a line each ("  name: Pending, kserve-container
// ImagePullBackOff"), after a title, for error messages; "" when they cannot be listed.
func (inv *Inventory) PodStates(ctx context.Context, title, selector string) string {
	pods, err := inv.Kube.CoreV1().Pods(inv.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return ""
	}
	if len(pods.Items) == 0 {
		return "\n" + title + ": none"
	}
	var b strings.Builder
	b.WriteString("\n" + title + ":")
	for i := range pods.Items {
		p := &pods.Items[i]
		state := string(p.Status.Phase)
		if reason, msg, bad := workload.PodProblem(p); bad {
			state = reason + ": " + msg
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				state += ", " + cs.Name + " " + w.Reason
			}
		}
		fmt.Fprintf(&b, "\n  %s: %s", p.Name, state)
	}
	return b.String()
}
