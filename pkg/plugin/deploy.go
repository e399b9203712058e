package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/platform"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/storage"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// DeployOptions deploys the model as a KServe InferenceService, or changes its canary.
type DeployOptions struct {
	deps   *Deps
	Action *ActionFlags
	Serve  ServeFlags

	ModelURI             string
	Autoscale            int64
	Resources            ResourceFlags
	Placement            PlacementFlags
	Replace              bool
	CanaryTrafficPercent int64
	SkipModelCheck       bool

	canarySet bool
	serving   *serving
	revision  string
}

// NewCmdDeploy returns kubectl kaptain deploy.
func NewCmdDeploy(d *Deps) *cobra.Command {
	o := &DeployOptions{deps: d, Action: NewActionFlags(), Autoscale: 2}
	cmd := &cobra.Command{
		Use:   "deploy [-f kaptain.yaml] [--model-uri s3://...] [--canary-traffic-percent P] [--replace]",
		Short: "Serve the model with KServe, or send part of the traffic to a canary",
		Long: `Deploy the model as a KServe InferenceService named after it, whose predictor serves the
framework's model format from --model-uri (default: the model's latest trained location,
from its record). kaptain.yaml's serving settings choose the runtime, protocol version,
minimum and maximum replicas and the deployment mode (Serverless or RawDeployment);
--autoscale is the target concurrency per replica.

Before anything is created, the storage URI is listed (with the model's S3 settings) and
checked against what the framework's KServe runtime loads, e.g. TensorFlow Serving a
<version>/saved_model.pb; --skip-model-check skips it.

An existing deployment is replaced only with --replace. With --canary-traffic-percent, an
existing deployment keeps serving and the new model gets that share of the traffic; then
'promote' sends it all the traffic and 'rollback' returns to the previous model.`,
		Example: `  # Serve the latest trained model and wait until it is ready
  kubectl kaptain deploy

  # Send 30% of the traffic to another model, then all of it
  kubectl kaptain deploy --canary-traffic-percent 30 --model-uri s3://kaptain/models/dev/mnist/trained/7b93
  kubectl kaptain promote`,
		Args: cobra.NoArgs,
		RunE: runWith(d, o),
	}
	o.Action.AddFlags(cmd)
	o.Serve.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.ModelURI, "model-uri", "", "The saved model to serve (default: the model's latest trained location).")
	f.Int64Var(&o.Autoscale, "autoscale", o.Autoscale, "Target concurrency per replica.")
	o.Resources.addFlags(cmd, "the predictor")
	o.Placement.addFlags(cmd, "the predictor")
	f.BoolVar(&o.Replace, "replace", false, "Replace the model's existing deployment.")
	f.Int64Var(&o.CanaryTrafficPercent, "canary-traffic-percent", 0, "Deploy as a canary of the existing deployment with this share of the traffic (1-99).")
	f.BoolVar(&o.SkipModelCheck, "skip-model-check", false, "Deploy without first checking that the storage URI holds what the model server loads (for layouts the check cannot see).")
	return cmd
}

// Complete loads the model and finds its current deployment.
func (o *DeployOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	fs := cmd.Flags()
	o.canarySet = fs.Changed("canary-traffic-percent")
	o.Resources.complete(cmd)
	s, err := completeServing(cmd.Context(), f, cmd, o.deps, o.Action)
	if err != nil {
		return err
	}
	o.serving = s
	o.revision = o.deps.NewRevision()
	return nil
}

// Validate checks the flags against each other and the deployment's state. It changes nothing.
func (o *DeployOptions) Validate() error {
	m := o.serving.model
	if _, ok := workload.ServedFormat(m); !ok {
		return sdkerr.New(sdkerr.UnsupportedModelDeployment, "framework %q cannot be served by KServe; set spec.serving.modelFormat to the format the trainer saves", m.Spec.Framework)
	}
	if err := o.Resources.validate(); err != nil {
		return err
	}
	if err := o.Placement.validate(); err != nil {
		return err
	}
	if o.Autoscale < 1 {
		return sdkerr.New(sdkerr.Usage, "--autoscale must be 1 or more, got %d", o.Autoscale)
	}
	if o.canarySet && (o.CanaryTrafficPercent < 1 || o.CanaryTrafficPercent > 99) {
		return sdkerr.New(sdkerr.Usage, "--canary-traffic-percent must be between 1 and 99; 'kubectl kaptain promote' sends all the traffic to the canary")
	}
	if o.canarySet && o.Replace {
		return sdkerr.New(sdkerr.Usage, "--canary-traffic-percent and --replace cannot be combined")
	}
	clientDryRun := o.serving.action.mode.Offline()
	if clientDryRun && o.ModelURI == "" {
		return sdkerr.New(sdkerr.Usage, "--dry-run=client needs --model-uri: the latest trained location is read from the cluster")
	}
	if clientDryRun && o.canarySet && workload.ParseMode(m.Spec.Serving.DeploymentMode) == workload.ModeStandard {
		return sdkerr.New(sdkerr.Usage, "--dry-run=client cannot show a Standard-mode canary: it is made from the deployed predictor, which is read from the cluster; use --dry-run=server")
	}
	if clientDryRun {
		return nil
	}
	if o.ModelURI != "" {
		if _, _, err := model.ParseStorageURI(o.ModelURI); err != nil {
			return sdkerr.New(sdkerr.Usage, "--model-uri: %v", err)
		}
	}
	switch {
	case o.canarySet && o.serving.current == nil:
		return sdkerr.New(sdkerr.ModelDeployment, "model %s is not deployed, so it has no traffic to share with a canary; run 'kubectl kaptain deploy' first", m.Spec.ID)
	case !o.canarySet && o.serving.current != nil && !o.Replace:
		return sdkerr.New(sdkerr.ModelDeployment, "model %s is already deployed as inferenceservice %s; add --replace to replace it, or --canary-traffic-percent to try the new model on part of the traffic", m.Spec.ID, o.serving.name)
	}
	return nil
}

// Run renders, applies and waits for the service.
func (o *DeployOptions) Run(ctx context.Context) error {
	s := o.serving
	uri, err := o.modelURI(ctx)
	if err != nil {
		return err
	}
	sv := workload.Serve{ModelURI: uri, Autoscale: o.Autoscale, Resources: o.Resources.resources(), Placement: o.Placement.placement(), PredictorName: workload.PredictorName(s.current)}
	action := "deploy"
	var canary workload.CanaryStrategy
	switch {
	case o.canarySet && s.action.mode.Offline():
		// Offline: kaptain.yaml's mode, which Validate checked is not Standard.
		canary = workload.CanaryFor(workload.ParseMode(s.model.Spec.Serving.DeploymentMode))
	case o.canarySet:
		if canary, err = o.canaryStrategy(ctx); err != nil {
			return err
		}
	}
	if !o.SkipModelCheck && !s.action.mode.Offline() {
		if err := o.checkModel(ctx, uri); err != nil {
			return err
		}
	}
	if canary != nil {
		if note := canary.Start(&sv, s.current, o.CanaryTrafficPercent, o.revision); note != "" {
			o.deps.progress().Printf("note: %s", note)
		}
		action = "canary"
	}
	objs, err := s.objects(ctx, sv)
	if err != nil {
		return err
	}
	if host, long := workload.PredictorHost(s.name, s.action.namespace); long && !s.action.mode.ServerSide() {
		o.deps.progress().Printf("warning: KServe's default host name label %s is %d characters, over DNS's 63: unless the cluster's domainTemplate differs, the service will not become ready; use a shorter namespace", host, len(host))
	}
	isvc := objs[len(objs)-1]
	a := s.action.action(s.model, o.revision, action, objs,
		&render.OwnerLinks{APIVersion: isvc.GetAPIVersion(), Kind: isvc.GetKind(), Name: s.name, OwnedKinds: []string{"Secret", "ServiceAccount"}})
	entry := track.Action{Name: "deploy", Revision: o.revision, ModelURI: uri, Image: s.model.Spec.Image}
	// A deployment is recorded once its wait ended, or when it was refused.
	return s.run(ctx, a, o.Serve, entry, func(out *run.Outcome) bool { return out.Waited || out.Err != nil })
}

// canaryStrategy is the canary of the deployed service's mode, and refuses one that would not
// split the traffic: in Standard (RawDeployment) mode on a KServe older than v0.20,
// canaryTrafficPercent is read by nobody, and the new model would take all of it. Nothing has
// been changed when it refuses.
func (o *DeployOptions) canaryStrategy(ctx context.Context) (workload.CanaryStrategy, error) {
	s := o.serving
	mode, name, source := s.inv.Cluster().DeploymentMode(ctx, s.current, s.model.Spec.Serving.DeploymentMode)
	if mode != workload.ModeStandard {
		return workload.CanaryFor(mode), nil
	}
	oa, err := s.action.session.openAPI()
	if err != nil {
		return nil, err
	}
	standardCanary, err := platform.ServesStandardCanary(oa, s.gvk.GroupVersion())
	if err != nil {
		return nil, err
	}
	if standardCanary {
		return workload.CanaryFor(mode), nil
	}
	return nil, sdkerr.New(sdkerr.ModelDeployment, "inferenceservice %s runs in %s mode (from %s), and this KServe has no canary in that mode (spec.canary came with KServe v0.20): canaryTrafficPercent would be ignored and the new model would take all the traffic; nothing was changed. Upgrade KServe to v0.20 or later, deploy the new model with --replace, or use Knative (Serverless) mode, whose canaryTrafficPercent splits the traffic",
		s.name, name, source)
}

// modelCheckTimeout bounds the listing of the storage URI.
const modelCheckTimeout = 30 * time.Second

// checkModel lists the storage URI and checks it against what the framework's runtime loads.
// A mismatch is the model's fault (ModelValidation); storage that cannot be listed, the
// deployment's (ModelDeployment). A runtime of the model's own is not checked.
func (o *DeployOptions) checkModel(ctx context.Context, uri string) error {
	m := o.serving.model
	format, _ := workload.ServedFormat(m)
	layout, ok := workload.LayoutOf(format, m.Spec.Serving.Runtime)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, modelCheckTimeout)
	defer cancel()
	const skip = "--skip-model-check deploys without checking"
	store, err := storage.New(ctx, s3Settings(m, false))
	if err != nil {
		return sdkerr.New(sdkerr.ModelDeployment, "cannot check the model at %s: %v; %s", uri, err, skip)
	}
	keys, err := store.List(ctx, uri, 1000)
	if err != nil {
		return sdkerr.New(sdkerr.ModelDeployment, "cannot check the model: %v; %s", err, skip)
	}
	if err := layout.Check(uri, keys); err != nil {
		return sdkerr.New(sdkerr.ModelValidation, "%v; nothing was changed (%s)", err, skip)
	}
	return nil
}

// modelURI is --model-uri, or the latest trained location from the model's record.
func (o *DeployOptions) modelURI(ctx context.Context) (string, error) {
	if o.ModelURI != "" {
		return o.ModelURI, nil
	}
	s := o.serving
	store := newStore(o.deps, s.inv.Kube.CoreV1(), s.action.namespace, s.model)
	uri, err := store.LatestModelURI(ctx, s.model.Spec.ID, s.model.KubeName(), model.ActionTrain, model.ActionTune)
	if err != nil {
		return "", err
	}
	if uri != "" {
		if err := s.model.CheckStoredURI(uri); err != nil {
			return "", sdkerr.New(sdkerr.ModelValidation, "the record of model %s names a model URI kaptain did not write: %v; pass --model-uri, or train again", s.model.Spec.ID, err)
		}
		return uri, nil
	}
	return "", sdkerr.New(sdkerr.ModelValidation, "model %s has no trained revision to deploy; train it first or pass --model-uri", s.model.Spec.ID)
}
