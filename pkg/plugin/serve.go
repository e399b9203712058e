package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run/waitfor"
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
	action   actionOptions
	model    *model.Model
	name     string
	gvk      schema.GroupVersionKind
	resource schema.GroupVersionResource
	current  *unstructured.Unstructured
	inv      *inventory.Inventory
}

// completeServing loads the model and, unless this is a client dry run, finds the
// InferenceService API the cluster serves and the model's current service.
func completeServing(ctx context.Context, f cmdutil.Factory, cmd *cobra.Command, d *Deps, flags *ActionFlags) (*serving, error) {
	m, err := flags.loadModel()
	if err != nil {
		return nil, err
	}
	ac, err := flags.complete(f, cmd, d, m, workload.KindInferenceService)
	if err != nil {
		return nil, err
	}
	s := &serving{deps: d, action: ac, model: m, name: m.KubeName(),
		gvk: schema.FromAPIVersionAndKind(workload.KServeGroupVersion, workload.KindInferenceService)}
	if ac.mode.Offline() {
		return s, nil
	}
	if s.inv, err = ac.session.inventory(); err != nil {
		return nil, err
	}
	svc, err := s.inv.Cluster().InferenceService(ctx, s.name)
	if err != nil {
		return nil, err
	}
	s.gvk, s.resource, s.current = svc.GVK, svc.Mapping.Resource, svc.Current
	return s, nil
}

// objects renders the service with its storage Secret and ServiceAccount when S3 credentials
// are configured.
func (s *serving) objects(ctx context.Context, sv workload.Serve) ([]*unstructured.Unstructured, error) {
	data, err := s.action.s3SecretData(ctx, s.model, "the model server")
	if err != nil {
		return nil, err
	}
	sv.Name = s.name
	objs, err := workload.ServingObjects(s.model, sv, data)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.UnsupportedModelDeployment, err, "")
	}
	return objs, nil
}

// ref names the service as kubectl does.
func (s *serving) ref() string { return run.Ref(s.gvk, s.name) }

// run applies (or prints) a, waiting for the service to be ready when f says so, and
// records entry with the outcome's error when record says so.
func (s *serving) run(ctx context.Context, a run.Action, f ServeFlags, entry track.Action, record func(*run.Outcome) bool) error {
	if f.Wait {
		a.Wait = waitfor.Service(s.gvk, s.name, f.Timeout)
		a.Wait.Explain = s.podStates
	}
	// Ctrl-C removes a service this run created, with its credentials; a deployed service
	// that this run changed keeps what it now references.
	a.KeepOnInterrupt = s.current != nil
	a.Record = func(out *run.Outcome) *track.Action {
		if !record(out) {
			return nil
		}
		entry.Err, entry.Workload = out.Err, s.ref()
		return &entry
	}
	out, err := s.action.run(ctx, a)
	if err == nil && out != nil && out.Waited {
		s.deps.progress().Printf("%s is ready: %s", s.ref(), workload.ServiceStateOf(out.Final).URL)
	}
	return err
}

// podStates describes the predictor's pods, for error messages; a client dry run has none.
func (s *serving) podStates(ctx context.Context) string {
	if s.action.mode.Offline() {
		return ""
	}
	return s.inv.Cluster().PodStates(ctx, "predictor pods", workload.LabelInferenceService+"="+s.name)
}

// requireCanary checks that the model is deployed with a canary, naming the command.
func (s *serving) requireCanary(command string) error {
	if s.action.mode.Offline() {
		return sdkerr.New(sdkerr.Usage, "%s reads the deployment from the cluster; use --dry-run=server", command)
	}
	if s.current == nil {
		return sdkerr.New(sdkerr.ModelDeployment, "model %s is not deployed; nothing to %s", s.model.Spec.ID, command)
	}
	if workload.CanaryShare(s.current) == nil {
		return sdkerr.New(sdkerr.ModelDeployment, "inferenceservice %s has no canary to %s; 'kubectl kaptain deploy --canary-traffic-percent P' makes one", s.name, command)
	}
	return nil
}
