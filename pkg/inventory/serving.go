package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/openapi"

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

// KServe's inferenceservice-config ConfigMap, whose "deploy" key holds the cluster's default
// deployment mode.
const (
	kserveNamespace = "kserve"
	kserveConfigMap = "inferenceservice-config"
)

// DeploymentMode is the mode a model's service runs in, and where that was read: the current
// service's serving.kserve.io/deploymentMode annotation, else kaptain.yaml's
// spec.serving.deploymentMode (asked), else the cluster's default (KServe's
// inferenceservice-config ConfigMap). "" when nothing readable says.
func (inv *Inventory) DeploymentMode(ctx context.Context, current *unstructured.Unstructured, asked string) (mode, source string) {
	if current != nil {
		if m := current.GetAnnotations()[workload.AnnotationDeploymentMode]; m != "" {
			return m, "inferenceservice " + current.GetName()
		}
	}
	if asked != "" {
		return asked, "spec.serving.deploymentMode"
	}
	cm, err := inv.Kube.CoreV1().ConfigMaps(kserveNamespace).Get(ctx, kserveConfigMap, metav1.GetOptions{})
	if err != nil {
		return "", ""
	}
	var deploy struct {
		DefaultDeploymentMode string `json:"defaultDeploymentMode"`
	}
	if json.Unmarshal([]byte(cm.Data["deploy"]), &deploy) != nil || deploy.DefaultDeploymentMode == "" {
		return "", ""
	}
	return deploy.DefaultDeploymentMode, "the cluster's default (configmap " + kserveNamespace + "/" + kserveConfigMap + ")"
}

// ServesStandardCanary reports whether the cluster's InferenceService has spec.canary, the
// canaries of Standard (RawDeployment) mode that KServe v0.20 added, from the API server's
// OpenAPI v3 document of gv (which any authenticated user may read).
func ServesStandardCanary(client openapi.Client, gv schema.GroupVersion) (bool, error) {
	paths, err := client.Paths()
	if err != nil {
		return false, fmt.Errorf("reading the API server's OpenAPI paths: %w", err)
	}
	p, ok := paths["apis/"+gv.Group+"/"+gv.Version]
	if !ok {
		return false, nil
	}
	data, err := p.Schema("application/json")
	if err != nil {
		return false, fmt.Errorf("reading the OpenAPI schema of %s: %w", gv, err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				GVK        []map[string]string `json:"x-kubernetes-group-version-kind"`
				Properties map[string]struct {
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return false, fmt.Errorf("reading the OpenAPI schema of %s: %w", gv, err)
	}
	for _, s := range doc.Components.Schemas {
		for _, gvk := range s.GVK {
			if gvk["kind"] == workload.KindInferenceService && gvk["group"] == gv.Group {
				_, canary := s.Properties["spec"].Properties["canary"]
				return canary, nil
			}
		}
	}
	return false, fmt.Errorf("the OpenAPI schema of %s has no InferenceService", gv)
}
