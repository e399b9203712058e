package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// ServeFlags are the flags of deploy, promote, rollback and undeploy that concern waiting.
type ServeFlags struct {
	Wait    bool
	Timeout time.Duration
}

// DefaultServeTimeout bounds the wait for an inference service to become ready.
const DefaultServeTimeout = 10 * time.Minute

func (f *ServeFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.Wait, "wait", true, "Wait until the service is ready, printing its conditions.")
	cmd.Flags().DurationVar(&f.Timeout, "timeout", DefaultServeTimeout, "How long to wait for the service to be ready.")
}

// serving is what the serving commands share once completed: the model, its service's name
// and API, and the service as it is now in the cluster (nil if not deployed).
type serving struct {
	deps     *Deps
	action   *actionContext
	model    *model.Model
	name     string
	gvk      schema.GroupVersionKind
	resource schema.GroupVersionResource
	current  *unstructured.Unstructured
}

// ServiceName is the InferenceService name of a model: its Kubernetes name.
func ServiceName(m *model.Model) string { return m.KubeName() }

// completeServing loads the model and, unless this is a client dry run, finds which
// InferenceService API the cluster serves (serving.kserve.io, else the legacy
// serving.kubeflow.org) and the model's current service.
func completeServing(ctx context.Context, cmd *cobra.Command, d *Deps, flags *ActionFlags) (*serving, error) {
	m, err := flags.loadModel()
	if err != nil {
		return nil, err
	}
	ac, err := flags.complete(cmd, d, workload.KindInferenceService)
	if err != nil {
		return nil, err
	}
	s := &serving{deps: d, action: ac, model: m, name: ServiceName(m),
		gvk: schema.FromAPIVersionAndKind(workload.KServeGroupVersion, workload.KindInferenceService)}
	if ac.dryRun == cmdutil.DryRunClient {
		return s, nil
	}
	mapper, err := d.Factory.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	var mapping *meta.RESTMapping
	for _, gv := range []string{workload.KServeGroupVersion, workload.LegacyKServeGroupVersion} {
		gvk := schema.FromAPIVersionAndKind(gv, workload.KindInferenceService)
		mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil {
			s.gvk = gvk
			break
		}
		if !meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("finding the InferenceService API: %w", err)
		}
	}
	if mapping == nil {
		return nil, sdkerr.New(sdkerr.ModelDeployment, "the cluster serves no InferenceService (serving.kserve.io or serving.kubeflow.org): install KServe (kserve/kserve) in the cluster")
	}
	s.resource = mapping.Resource
	client, err := d.Factory.DynamicClient()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	current, err := client.Resource(s.resource).Namespace(ac.namespace).Get(ctx, s.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading inferenceservice %s: %w", s.name, err)
	default:
		if current.GetLabels()[render.LabelManagedBy] != render.ManagedByValue {
			return nil, sdkerr.New(sdkerr.ModelDeployment, "inferenceservice %s exists and was not made by kubectl kaptain; it is left alone", s.name)
		}
		s.current = current
	}
	return s, nil
}

// currentURIs returns the deployed model URI and the one before a canary, from the service's
// annotations.
func (s *serving) currentURIs() (uri, previous string) {
	if s.current == nil {
		return "", ""
	}
	a := s.current.GetAnnotations()
	return a[workload.AnnotationModelURI], a[workload.AnnotationPreviousModelURI]
}

// canary returns the canary's traffic percent, or nil without a canary.
func (s *serving) canary() *int64 {
	if s.current == nil {
		return nil
	}
	p, found, _ := unstructured.NestedInt64(s.current.Object, "spec", "predictor", "canaryTrafficPercent")
	_, previous := s.currentURIs()
	if !found || previous == "" {
		return nil
	}
	return &p
}

// objects renders the service with its storage Secret and ServiceAccount when S3 credentials
// are configured.
func (s *serving) objects(ctx context.Context, sv workload.Serve) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	st := s.model.Spec.Config.Storage
	data, err := config.S3SecretData(ctx, config.S3Settings{Endpoint: st.Endpoint, Region: st.Region, ForcePathStyle: st.ForcePathStyle, SignatureVersion: st.SignatureVersion, Offline: s.action.dryRun == cmdutil.DryRunClient})
	switch {
	case err == nil:
		name := s.name + "-storage"
		secret, err := workload.StorageSecret(name, data)
		if err != nil {
			return nil, err
		}
		sa, err := workload.ServiceAccount(name, name)
		if err != nil {
			return nil, err
		}
		objs = append(objs, secret, sa)
		sv.ServiceAccount = name
	case errors.Is(err, config.ErrNoS3Credentials):
		if s.action.dryRun == cmdutil.DryRunNone {
			s.deps.progress().Printf("warning: %v; the model server gets no storage credentials", err)
		}
	default:
		return nil, err
	}
	sv.Name, sv.APIVersion = s.name, s.gvk.GroupVersion().String()
	isvc, err := workload.InferenceService(s.model, sv)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.UnsupportedModelDeployment, err, "")
	}
	return append(objs, isvc), nil
}

// apply renders and applies (or prints) objs, then waits for the service to be ready.
func (s *serving) apply(ctx context.Context, objs []*unstructured.Unstructured, action, revision string, f ServeFlags) error {
	isvc := objs[len(objs)-1]
	_, err := s.action.run(ctx, objs, render.Options{
		Labels:      ModelLabels(s.model, revision, action),
		Annotations: map[string]string{render.AnnotationModelID: s.model.Spec.ID},
		Owner:       &render.OwnerLinks{APIVersion: isvc.GetAPIVersion(), Kind: isvc.GetKind(), Name: s.name, OwnedKinds: []string{"Secret", "ServiceAccount"}},
	})
	if err != nil || s.action.dryRun != cmdutil.DryRunNone || !f.Wait {
		return err
	}
	return s.wait(ctx, f.Timeout)
}

// wait watches the service until it is ready for its current spec, a condition turns False,
// or the timeout passes.
func (s *serving) wait(ctx context.Context, timeout time.Duration) error {
	client, err := s.deps.Factory.DynamicClient()
	if err != nil {
		return err
	}
	ref := "inferenceservice." + s.gvk.Group + "/" + s.name
	progress := s.deps.progress()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	final, err := (&apply.Waiter{Client: client}).Wait(ctx, apply.Watch{
		Resource: s.resource, Namespace: s.action.namespace, Name: s.name,
		Done: func(obj *unstructured.Unstructured) (bool, error) {
			st := workload.ServiceStateOf(obj)
			if line := st.String(); line != last {
				progress.Printf("%s %s", ref, line)
				last = line
			}
			if st.Failed && st.Settled {
				return false, sdkerr.New(sdkerr.ModelDeployment, "%s is not ready: %s: %s%s", ref, st.Reason, st.Message, s.podStates(ctx))
			}
			return st.Ready && st.Settled, nil
		},
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		state := "no status"
		if final != nil {
			state = workload.ServiceStateOf(final).String()
		}
		return sdkerr.New(sdkerr.ModelDeployment, "timed out after %s waiting for %s to be ready (last state: %s)%s", timeout, ref, state, s.podStates(context.WithoutCancel(ctx)))
	case err != nil:
		return err
	}
	progress.Printf("%s is ready: %s", ref, workload.ServiceStateOf(final).URL)
	return nil
}

// podStates describes the predictor's pods, for error messages.
func (s *serving) podStates(ctx context.Context) string {
	cs, err := s.deps.Factory.KubernetesClientSet()
	if err != nil {
		return ""
	}
	pods, err := cs.CoreV1().Pods(s.action.namespace).List(ctx, metav1.ListOptions{LabelSelector: workload.LabelInferenceService + "=" + s.name})
	if err != nil {
		return ""
	}
	if len(pods.Items) == 0 {
		return "\npredictor pods: none"
	}
	var b strings.Builder
	b.WriteString("\npredictor pods:")
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

// record adds a deployment to the model's record, warning on failure.
func (s *serving) record(ctx context.Context, a track.Action) {
	recordAction(ctx, s.deps, s.action.namespace, s.model, a)
}

// requireCanary checks that the model is deployed with a canary, naming the command.
func (s *serving) requireCanary(command string) error {
	if s.action.dryRun == cmdutil.DryRunClient {
		return sdkerr.New(sdkerr.Usage, "%s reads the deployment from the cluster; use --dry-run=server", command)
	}
	if s.current == nil {
		return sdkerr.New(sdkerr.ModelDeployment, "model %s is not deployed; nothing to %s", s.model.Spec.ID, command)
	}
	if s.canary() == nil {
		return sdkerr.New(sdkerr.ModelDeployment, "inferenceservice %s has no canary to %s; 'kubectl kaptain deploy --canary-traffic-percent P' makes one", s.name, command)
	}
	return nil
}

// reapply applies the current service again with its model URI set to uri and without a
// canary, keeping everything else (resources, autoscaling) as deployed.
func (s *serving) reapply(ctx context.Context, uri, action string, f ServeFlags) error {
	cur := s.current
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": cur.GetAPIVersion(), "kind": cur.GetKind()}}
	obj.SetName(cur.GetName())
	obj.SetNamespace(cur.GetNamespace())
	annotations := cur.GetAnnotations()
	delete(annotations, workload.AnnotationPreviousModelURI)
	delete(annotations, "kubectl.kubernetes.io/last-applied-configuration")
	annotations[workload.AnnotationModelURI] = uri
	obj.SetAnnotations(annotations)
	labels := cur.GetLabels()
	labels[render.LabelAction] = action
	obj.SetLabels(labels)
	spec, _, _ := unstructured.NestedMap(cur.Object, "spec")
	obj.Object["spec"] = spec
	unstructured.RemoveNestedField(obj.Object, "spec", "predictor", "canaryTrafficPercent")
	if err := unstructured.SetNestedField(obj.Object, uri, "spec", "predictor", "model", "storageUri"); err != nil {
		return err
	}
	if _, err := s.action.run(ctx, []*unstructured.Unstructured{obj}, render.Options{}); err != nil {
		return err
	}
	if s.action.dryRun != cmdutil.DryRunNone || !f.Wait {
		return nil
	}
	return s.wait(ctx, f.Timeout)
}
