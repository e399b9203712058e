package plugin

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/utils/ptr"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/platform"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run/waitfor"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// TrainOptions renders and applies a model's distributed training job.
type TrainOptions struct {
	deps   *Deps
	Action *ActionFlags

	Hyperparameters []string
	JobFlags
	Local LocalFlags

	TTLSecondsAfterFinished     int
	BackoffLimit                int
	ForceCleanup                bool
	Timeout                     time.Duration
	PendingTimeout              time.Duration
	Wait                        bool
	Verbose                     bool
	ttlSet, backoffSet          bool
	forceCleanupSet, verboseSet bool

	// Filled by Complete.
	model        *model.Model
	action       actionOptions
	params       map[string]any
	ttl          *int
	forceCleanup bool
	verbose      bool
	revision     string
}

// NewCmdTrain returns kubectl kaptain train.
func NewCmdTrain(d *Deps) *cobra.Command {
	o := &TrainOptions{deps: d, Action: NewActionFlags(), JobFlags: JobFlags{Workers: 2}, BackoffLimit: DefaultBackoffLimit, Timeout: DefaultTrainTimeout, PendingTimeout: DefaultPendingTimeout, Wait: true}
	cmd := &cobra.Command{
		Use:   "train [-f kaptain.yaml] [-p name=value]... [--workers N] [--dry-run=none|client|server] [-o yaml|json|name]",
		Short: "Train the model distributed, as a TrainJob (Kubeflow Trainer), TFJob or PyTorchJob",
		Long: `Train the model described by kaptain.yaml on the cluster.

A pytorch model becomes a Kubeflow Trainer TrainJob of N nodes where the cluster serves
TrainJob (on torch-distributed, or the runtime --runtime names, e.g. deepspeed-distributed),
else a PyTorchJob with a Master and N-1 Workers. A tensorflow model becomes a TFJob with N
Worker replicas (Trainer has no TensorFlow runtime). A jax, xgboost or mlx model becomes a
TrainJob on the runtime labelled trainer.kubeflow.org/framework with its name. A TrainJob
starts the main file as its runtime's ML policy says: torchrun (torch), mpirun from the
launcher on every node (mpi: deepspeed, mlx; every node runs the model's image), or directly
with Trainer's variables (jax, xgboost).

Hyperparameters (the kaptain.yaml hyperparameters map, overridden by -p) reach the main file
as --name=value arguments, followed by --arg values. The code learns where to save the trained
model from TRAINED_MODEL_UPLOAD_PATH and MODEL_LIFECYCLE_PHASE.

Resources are given either simply (--cpu, --memory, --gpus: request equals limit) or in
detail (--cpu-request, --cpu-limit, --memory-request, --memory-limit, --gpu-limit), not both.

With --dry-run=client nothing leaves this machine: the manifests are printed.

With --local the code runs here instead, as it would in the job: the main file in a temporary
copy of the files the image would hold, with the same arguments and environment, --workers
processes with the variables each replica would get (TF_CONFIG, torchrun's, Trainer's), their
output prefixed [worker-N]. TRAINED_MODEL_UPLOAD_PATH is a directory under the user cache
(--upload). Nothing is built, pushed or created, and the model's history is not changed.`,
		Example: `  # Run the training code here first, as two replicas would run it
  kubectl kaptain train --local -p lr=0.1 --workers 2

  # Print the training job for kaptain.yaml without contacting the cluster
  kubectl kaptain train --dry-run=client -o yaml

  # Check it against the cluster's API server, then create it
  kubectl kaptain train --dry-run=server
  kubectl kaptain train -p lr=0.01 -p epochs=5 --workers 3 --cpu 1 --memory 2Gi

  # A pytorch model with DeepSpeed, launched by MPI on three nodes
  kubectl kaptain train --runtime deepspeed-distributed --workers 3

  # Add tolerations without forking: a strategic merge patch of the job
  kubectl kaptain train --patch gpu-tolerations.yaml --gpus 1`,
		Args: cobra.NoArgs,
		RunE: runWith(d, o),
	}
	o.Action.AddFlags(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&o.Hyperparameters, "hyperparameter", "p", nil, "A hyperparameter as name=value, passed to the main file as --name=value; overrides kaptain.yaml. Repeatable.")
	o.addFlags(cmd, "Number of replicas: a TrainJob's nodes, TFJob Workers, or PyTorchJob Master plus Workers.", "each replica")
	f.IntVar(&o.BackoffLimit, "backoff-limit", o.BackoffLimit, "Fail the job once its containers restarted this many times in all (a crashing script would otherwise restart forever).")
	f.IntVar(&o.TTLSecondsAfterFinished, "ttl-seconds-after-finished", 0, "Remove the finished job after so many seconds (default from "+config.EnvTTLSecondsAfterFinished+"; unset keeps it).")
	f.BoolVar(&o.ForceCleanup, "force-cleanup", false, "Delete the job once it finished, ignoring the TTL (default from "+config.EnvForceCleanup+").")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the job to finish (e.g. 30m, 2h).")
	f.DurationVar(&o.PendingTimeout, "pending-timeout", o.PendingTimeout, "How long a replica may stay unschedulable while a cluster autoscaler adds a node for it (0: until --timeout); without a scale-up, an unschedulable replica ends the wait at once.")
	f.BoolVar(&o.Wait, "wait", o.Wait, "Wait for the job to finish, printing its progress; --wait=false returns once it is created.")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "Stream every replica's logs, prefixed with the replica (default from "+config.EnvVerbose+").")
	o.Local.addFlags(cmd)
	return cmd
}

// Complete loads the model, parses name=value flags and resolves settings. It reads
// kaptain.yaml, patch files and kubeconfig, and contacts nothing.
func (o *TrainOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	fs := cmd.Flags()
	o.Local.complete(cmd, "hyperparameter", "arg", "workers", "timeout", "verbose")
	if err := o.Local.validate(); err != nil {
		return err
	}
	o.ttlSet = fs.Changed("ttl-seconds-after-finished")
	o.forceCleanupSet, o.verboseSet = fs.Changed("force-cleanup"), fs.Changed("verbose")
	m, err := o.complete(cmd, o.deps, o.Action)
	if err != nil {
		return err
	}
	o.model = m
	params, err := config.ParseKeyValues("--hyperparameter", o.Hyperparameters)
	if err != nil {
		return err
	}
	o.params = maps.Clone(m.Spec.Hyperparameters)
	if o.params == nil {
		o.params = map[string]any{}
	}
	for k, v := range params {
		if model.NonFinite(v) {
			return sdkerr.New(sdkerr.Usage, "--hyperparameter %s=%q reads as a number that is not finite, as the trainer would parse it; give a finite number", k, v)
		}
		o.params[k] = v
	}
	var ttlFlag *int
	if o.ttlSet {
		ttlFlag = &o.TTLSecondsAfterFinished
	}
	if o.ttl, err = o.deps.Env.Int(ttlFlag, config.EnvTTLSecondsAfterFinished, nil); err != nil {
		return err
	}
	if o.forceCleanup, err = o.deps.Env.Bool(flagValue(o.forceCleanupSet, o.ForceCleanup), config.EnvForceCleanup, false); err != nil {
		return err
	}
	if o.verbose, err = o.deps.Env.Bool(flagValue(o.verboseSet, o.Verbose), config.EnvVerbose, false); err != nil {
		return err
	}
	o.backoffSet = fs.Changed("backoff-limit")
	o.revision = o.deps.NewRevision()
	if o.Local.Local {
		return nil
	}
	if o.action, err = o.Action.complete(f, cmd, o.deps, m, o.patchKind()); err != nil {
		return err
	}
	return nil
}

// Validate checks the options against each other and the model. It is pure.
func (o *TrainOptions) Validate() error {
	if !slices.Contains(model.TrainableFrameworks(), o.model.Spec.Framework) {
		return sdkerr.New(sdkerr.ModelValidation, "%s: spec.framework %q cannot be trained; train supports %s",
			o.model.Path, o.model.Spec.Framework, strings.Join(model.TrainableFrameworks(), ", "))
	}
	if o.Timeout <= 0 {
		return sdkerr.New(sdkerr.Usage, "--timeout must be positive, got %s", o.Timeout)
	}
	if o.Local.Local {
		return o.validateLocal()
	}
	if err := o.JobFlags.validate(); err != nil {
		return err
	}
	if o.PendingTimeout < 0 {
		return sdkerr.New(sdkerr.Usage, "--pending-timeout must be 0 or more, got %s", o.PendingTimeout)
	}
	if o.BackoffLimit < 0 {
		return sdkerr.New(sdkerr.Usage, "--backoff-limit must be 0 or more, got %d", o.BackoffLimit)
	}
	if o.ttlSet && o.TTLSecondsAfterFinished < 0 {
		return sdkerr.New(sdkerr.Usage, "--ttl-seconds-after-finished must be 0 or more, got %d", o.TTLSecondsAfterFinished)
	}
	if kind, _, err := o.choice().Offline(); err == nil {
		// Refused before anything is created where the choice does not wait for the cluster.
		if err := o.checkSettings(kind); err != nil {
			return err
		}
	}
	return o.checkArgs()
}

// checkArgs refuses an --arg that is also a hyperparameter.
func (o *TrainOptions) checkArgs() error {
	for _, k := range slices.Sorted(maps.Keys(o.args)) {
		if _, clash := o.params[k]; clash {
			return sdkerr.New(sdkerr.Usage, "--arg %s is also a hyperparameter; pass it once, with -p", k)
		}
	}
	return nil
}

// checkSettings refuses a setting asked for that the kind has no field for.
func (o *TrainOptions) checkSettings(kind workload.TrainingKind) error {
	if o.backoffSet && !kind.Supports(workload.SettingBackoffLimit) {
		return sdkerr.New(sdkerr.Usage, "--backoff-limit sets the Training Operator's runPolicy.backoffLimit (v1); a %s has none: its runtime's JobSet failurePolicy says how often it restarts", kind.GVK().Kind)
	}
	return nil
}

// Run renders the job (and a Secret with S3 credentials when there are any), prints or
// applies it, and waits for it to finish.
func (o *TrainOptions) Run(ctx context.Context) error {
	if o.Local.Local {
		return o.runLocal(ctx)
	}
	m, ac := o.model, o.action
	progress := o.deps.progress()
	var ttl *int32
	if o.ttl != nil {
		v := int32(min(*o.ttl, 1<<31-1)) //nolint:gosec // min keeps it in int32; Validate refuses a negative one
		ttl = &v
	}
	kind, cl, err := o.JobFlags.kind(ctx, ac)
	if err != nil {
		return err
	}
	// The patches were read for the kind a client dry run renders; JSON 6902 ones apply to
	// the kind chosen.
	if ac, err = ac.forKind(kind.GVK().Kind); err != nil {
		return err
	}
	if err := o.checkSettings(kind); err != nil {
		return err
	}
	name := m.JobNameWithin(model.ActionTrain, o.revision, kind.MaxName(o.Workers))
	var objs []*unstructured.Unstructured
	secretName := ""
	secret, err := ac.storageSecret(ctx, m, name+"-storage")
	if err != nil {
		return err
	}
	if secret != nil {
		objs = append(objs, secret)
		secretName = secret.GetName()
	}
	image, err := o.BuildFirst.image(ctx, ac, o.revision, o.verbose)
	if err != nil {
		return err
	}
	job, companions, err := kind.Build(m, workload.Train{
		Name:                    name,
		Image:                   image,
		Revision:                o.revision,
		Hyperparameters:         o.params,
		Args:                    o.args,
		Workers:                 o.Workers,
		Resources:               o.Resources.resources(),
		Placement:               o.Placement.placement(),
		TTLSecondsAfterFinished: ttl,
		BackoffLimit:            ptr.To(int32(min(o.BackoffLimit, 1<<31-1))), //nolint:gosec // min keeps it in int32
		StorageSecret:           secretName,
		StorageKeys:             secretKeys(secret),
		Queue:                   o.queue,
		Standalone:              ac.mode.ServerSide(),
	})
	if err != nil {
		return sdkerr.Wrap(sdkerr.ModelValidation, err, "")
	}
	objs = append(append(objs, companions...), job)
	if ac.mode.Applies() && image == "" {
		progress.Printf("using image %s as given in kaptain.yaml (--build builds it first)", m.Spec.Image)
	}
	gvk := job.GroupVersionKind()
	ref := run.Ref(gvk, name)
	modelURI := m.TrainedURI(o.revision)
	a := ac.action(m, o.revision, model.ActionTrain, objs,
		&render.OwnerLinks{APIVersion: job.GetAPIVersion(), Kind: job.GetKind(), Name: name, OwnedKinds: []string{"Secret", model.KindTrainingRuntime}})
	if o.queue != "" {
		a.Accept = platform.QueueHeld
	}
	if o.Wait {
		a.Wait = waitfor.Training(kind, name, o.Timeout)
		if o.queue != "" && cl != nil {
			a.Wait.Detail = func(ctx context.Context, job *unstructured.Unstructured, _ run.State) string {
				return cl.QueueDetail(ctx, job)
			}
			a.Wait.TimeoutSays = cl.QueuedTimeout(name)
		}
		if cl != nil {
			a.Wait.Pods.Tolerate = cl.PendingTolerance(o.PendingTimeout)
		}
		if o.verbose {
			a.Wait.Pods.Logs = o.deps.Streams.ErrOut
		}
		switch {
		case o.forceCleanup:
			a.Remove = run.Removal{When: run.WhenFinished, Reason: "--force-cleanup"}
		case !kind.Supports(workload.SettingTTL) && ttl != nil && *ttl == 0:
			// A kind without a TTL: a waiting train honours 0 itself, clean honours the rest.
			a.Remove = run.Removal{When: run.WhenFinished, Reason: "--ttl-seconds-after-finished=0"}
		default:
			// The kept job's pods have ended: its S3 credentials need not stay at rest.
			a.Remove = run.Removal{OnceDone: []string{"Secret"}}
		}
		a.Record = func(out *run.Outcome) *track.Action {
			if !out.Waited || out.TimedOut { // a job that timed out keeps running
				return nil
			}
			return &track.Action{Name: model.ActionTrain, Revision: o.revision, Err: out.Err, Hyperparameters: o.params,
				Image: cmp.Or(image, m.Spec.Image), ModelURI: modelURI, Workload: ref}
		}
	}
	if _, err := ac.run(ctx, a); err != nil || !ac.mode.Applies() {
		return err
	}
	if !o.Wait {
		progress.Printf("%s submitted; follow it with 'kubectl kaptain logs %s -f'", ref, name)
		return nil
	}
	hyper := "no hyperparameters"
	if len(o.params) > 0 {
		hyper = "hyperparameters " + strings.Join(workload.Arguments(o.params, nil), " ")
	}
	progress.Printf("trained model %s, revision %s, %s; the code was told to save it to %s", m.Spec.ID, o.revision, hyper, modelURI)
	return nil
}
