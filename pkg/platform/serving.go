package platform

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

// InferenceService finds the cluster's InferenceService API (serving.kserve.io) and the
// service named name. A cluster that serves only KFServing's legacy serving.kubeflow.org is
// refused with the reason: its v1beta1 predictor has no spec.predictor.model, which every
// service kubectl kaptain makes uses. A service of that name that kubectl kaptain did not make
// is an error: it is left alone.
func (cl *Cluster) InferenceService(ctx context.Context, name string) (*Service, error) {
	served := func(gv string) (*Service, error) {
		gvk := schema.FromAPIVersionAndKind(gv, workload.KindInferenceService)
		mapping, err := cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("finding the InferenceService API: %w", err)
		}
		return &Service{GVK: gvk, Mapping: mapping}, nil
	}
	s, err := served(workload.KServeGroupVersion)
	if err != nil {
		return nil, err
	}
	if s == nil {
		legacy, err := served(workload.LegacyKServeGroupVersion)
		if err != nil {
			return nil, err
		}
		if legacy != nil {
			return nil, sdkerr.New(sdkerr.ModelDeployment, "the cluster serves InferenceService only as serving.kubeflow.org, KFServing's API (v0.6 and before), whose predictor has no spec.predictor.model: kubectl kaptain serves with KServe v0.8 or later (serving.kserve.io); upgrade KServe")
		}
		return nil, sdkerr.New(sdkerr.ModelDeployment, "the cluster serves no InferenceService (serving.kserve.io): install KServe (kserve/kserve) in the cluster")
	}
	current, err := cl.Dynamic.Resource(s.Mapping.Resource).Namespace(cl.Namespace).Get(ctx, name, metav1.GetOptions{})
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
func (cl *Cluster) PodStates(ctx context.Context, title, selector string) string {
	pods, err := cl.Kube.CoreV1().Pods(cl.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
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

// DeploymentMode is the mode a model's service runs in, the name it was given there (KServe
// accepts RawDeployment for Standard, Serverless for Knative) and where that was read: the
// current service's own word (workload.ModeNameOf: KServe's status, else its deploymentMode
// annotation), else kaptain.yaml's spec.serving.deploymentMode (asked), else the cluster's
// default (KServe's inferenceservice-config ConfigMap), else Knative mode, KServe's own default.
func (cl *Cluster) DeploymentMode(ctx context.Context, current *unstructured.Unstructured, asked string) (mode workload.Mode, name, source string) {
	if n := workload.ModeNameOf(current); n != "" {
		return workload.ParseMode(n), n, "inferenceservice " + current.GetName()
	}
	if asked != "" {
		return workload.ParseMode(asked), asked, "spec.serving.deploymentMode"
	}
	fallback := string(workload.ModeKnative)
	cm, err := cl.Kube.CoreV1().ConfigMaps(kserveNamespace).Get(ctx, kserveConfigMap, metav1.GetOptions{})
	if err != nil {
		return workload.ModeKnative, fallback, "KServe's default"
	}
	var deploy struct {
		DefaultDeploymentMode string `json:"defaultDeploymentMode"`
	}
	if json.Unmarshal([]byte(cm.Data["deploy"]), &deploy) != nil || deploy.DefaultDeploymentMode == "" {
		return workload.ModeKnative, fallback, "KServe's default"
	}
	n := deploy.DefaultDeploymentMode
	return workload.ParseMode(n), n, "the cluster's default (configmap " + kserveNamespace + "/" + kserveConfigMap + ")"
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
