package plugin

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// TrainOptions renders and applies a model's distributed training job.
type TrainOptions struct {
	deps   *Deps
	Action *ActionFlags

	Hyperparameters []string
	Args            []string
	Workers         int

	CPU, Memory                    string
	GPUs                           int
	CPURequest, CPULimit           string
	MemoryRequest, MemoryLimit     string
	GPULimit                       int
	TTLSecondsAfterFinished        int
	ttlSet, simpleSet, advancedSet bool

	// Filled by Complete.
	model    *model.Model
	action   *actionContext
	params   map[string]any
	args     map[string]string
	ttl      *int
	revision string
}

// NewCmdTrain returns kubectl kaptain train.
func NewCmdTrain(d *Deps) *cobra.Command {
	o := &TrainOptions{deps: d, Action: NewActionFlags(), Workers: 2}
	cmd := &cobra.Command{
		Use:   "train [-f kaptain.yaml] [-p name=value]... [--workers N] [--dry-run=none|client|server] [-o yaml|json|name]",
		Short: "Train the model distributed, as a TFJob (tensorflow) or PyTorchJob (pytorch)",
		Long: `Train the model described by kaptain.yaml on the cluster.

A tensorflow model becomes a TFJob with N Worker replicas; a pytorch model a PyTorchJob with a
Master and N-1 Workers. Hyperparameters (the kaptain.yaml hyperparameters map, overridden by
-p) reach the main file as --name=value arguments, followed by --arg values. The code learns
where to save the trained model from TRAINED_MODEL_UPLOAD_PATH and MODEL_LIFECYCLE_PHASE.

Resources are given either simply (--cpu, --memory, --gpus: request equals limit) or in
detail (--cpu-request, --cpu-limit, --memory-request, --memory-limit, --gpu-limit), not both.

With --dry-run=client nothing leaves this machine: the manifests are printed.`,
		Example: `  # Print the training job for kaptain.yaml without contacting the cluster
  kubectl kaptain train --dry-run=client -o yaml

  # Check it against the cluster's API server, then create it
  kubectl kaptain train --dry-run=server
  kubectl kaptain train -p lr=0.01 -p epochs=5 --workers 3 --cpu 1 --memory 2Gi

  # Add tolerations without forking: a strategic merge patch of the TFJob
  kubectl kaptain train --patch gpu-tolerations.yaml --gpus 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	o.Action.AddFlags(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&o.Hyperparameters, "hyperparameter", "p", nil, "A hyperparameter as name=value, passed to the main file as --name=value; overrides kaptain.yaml. Repeatable.")
	f.StringArrayVar(&o.Args, "arg", nil, "A further argument to the main file as name=value. Repeatable.")
	f.IntVar(&o.Workers, "workers", o.Workers, "Number of replicas: TFJob Workers, or PyTorchJob Master plus Workers.")
	f.StringVar(&o.CPU, "cpu", "", "CPU of each replica, request and limit (e.g. 1, 500m).")
	f.StringVar(&o.Memory, "memory", "", "Memory of each replica, request and limit (e.g. 2Gi).")
	f.IntVar(&o.GPUs, "gpus", 0, "GPUs (nvidia.com/gpu) of each replica.")
	f.StringVar(&o.CPURequest, "cpu-request", "", "CPU request of each replica (advanced resources).")
	f.StringVar(&o.CPULimit, "cpu-limit", "", "CPU limit of each replica (advanced resources).")
	f.StringVar(&o.MemoryRequest, "memory-request", "", "Memory request of each replica (advanced resources).")
	f.StringVar(&o.MemoryLimit, "memory-limit", "", "Memory limit of each replica (advanced resources).")
	f.IntVar(&o.GPULimit, "gpu-limit", 0, "GPU limit of each replica (advanced resources).")
	f.IntVar(&o.TTLSecondsAfterFinished, "ttl-seconds-after-finished", 0, "Remove the finished job after so many seconds (default from "+config.EnvTTLSecondsAfterFinished+"; unset keeps it).")
	return cmd
}

// Complete loads the model, parses name=value flags and resolves settings. It reads
// kaptain.yaml, patch files and kubeconfig, and contacts nothing.
func (o *TrainOptions) Complete(cmd *cobra.Command) error {
	fs := cmd.Flags()
	o.ttlSet = fs.Changed("ttl-seconds-after-finished")
	o.simpleSet = fs.Changed("cpu") || fs.Changed("memory") || fs.Changed("gpus")
	o.advancedSet = fs.Changed("cpu-request") || fs.Changed("cpu-limit") || fs.Changed("memory-request") || fs.Changed("memory-limit") || fs.Changed("gpu-limit")
	m, err := o.Action.loadModel()
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
		o.params[k] = v
	}
	if o.args, err = config.ParseKeyValues("--arg", o.Args); err != nil {
		return err
	}
	var ttlFlag *int
	if o.ttlSet {
		ttlFlag = &o.TTLSecondsAfterFinished
	}
	if o.ttl, err = o.deps.Env.Int(ttlFlag, config.EnvTTLSecondsAfterFinished, nil); err != nil {
		return err
	}
	kind := workload.KindTFJob
	if m.Spec.Framework == "pytorch" {
		kind = workload.KindPyTorchJob
	}
	if o.action, err = o.Action.complete(cmd, o.deps, kind); err != nil {
		return err
	}
	o.revision = o.deps.NewRevision()
	return nil
}

// Validate checks the options against each other and the model. It is pure.
func (o *TrainOptions) Validate() error {
	if !slices.Contains(model.TrainableFrameworks(), o.model.Spec.Framework) {
		return sdkerr.New(sdkerr.ModelValidation, "%s: spec.framework %q cannot be trained; train supports %s",
			o.model.Path, o.model.Spec.Framework, strings.Join(model.TrainableFrameworks(), " and "))
	}
	if o.Workers < 1 {
		return sdkerr.New(sdkerr.Usage, "--workers must be 1 or more, got %d", o.Workers)
	}
	if o.simpleSet && o.advancedSet {
		return sdkerr.New(sdkerr.Usage, "--cpu, --memory and --gpus cannot be combined with --cpu-request, --cpu-limit, --memory-request, --memory-limit or --gpu-limit; use one kind")
	}
	if o.GPUs < 0 || o.GPULimit < 0 {
		return sdkerr.New(sdkerr.Usage, "--gpus and --gpu-limit must be 0 or more")
	}
	if o.ttlSet && o.TTLSecondsAfterFinished < 0 {
		return sdkerr.New(sdkerr.Usage, "--ttl-seconds-after-finished must be 0 or more, got %d", o.TTLSecondsAfterFinished)
	}
	for _, q := range []struct{ flag, v string }{
		{"--cpu", o.CPU}, {"--memory", o.Memory}, {"--cpu-request", o.CPURequest}, {"--cpu-limit", o.CPULimit},
		{"--memory-request", o.MemoryRequest}, {"--memory-limit", o.MemoryLimit},
	} {
		if q.v == "" {
			continue
		}
		if _, err := resource.ParseQuantity(q.v); err != nil {
			return sdkerr.New(sdkerr.Usage, "%s %q is not a resource quantity such as 500m, 2 or 4Gi", q.flag, q.v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.args)) {
		if _, clash := o.params[k]; clash {
			return sdkerr.New(sdkerr.Usage, "--arg %s is also a hyperparameter; pass it once, with -p", k)
		}
	}
	return nil
}

// resources returns the per-replica resources from the simple or the advanced flags.
func (o *TrainOptions) resources() workload.Resources {
	if o.simpleSet {
		return workload.Resources{CPURequest: o.CPU, CPULimit: o.CPU, MemoryRequest: o.Memory, MemoryLimit: o.Memory, GPULimit: o.GPUs}
	}
	return workload.Resources{CPURequest: o.CPURequest, CPULimit: o.CPULimit, MemoryRequest: o.MemoryRequest, MemoryLimit: o.MemoryLimit, GPULimit: o.GPULimit}
}

// JobName is the training job's name: the model's Kubernetes name, "train" and the first six
// characters of the revision.
func JobName(m *model.Model, revision string) string {
	return fmt.Sprintf("%s-train-%s", m.KubeName(), shortRevision(revision))
}

func shortRevision(r string) string {
	r = strings.ReplaceAll(strings.ToLower(r), "-", "")
	if len(r) > 6 {
		r = r[:6]
	}
	return r
}

// Run renders the job and prints or applies it.
func (o *TrainOptions) Run(cmd *cobra.Command) error {
	m := o.model
	var ttl *int32
	if o.ttl != nil {
		v := int32(min(*o.ttl, 1<<31-1))
		ttl = &v
	}
	job, err := workload.TrainingJob(m, workload.Train{
		Name:                    JobName(m, o.revision),
		Revision:                o.revision,
		Hyperparameters:         o.params,
		Args:                    o.args,
		Workers:                 o.Workers,
		Resources:               o.resources(),
		TTLSecondsAfterFinished: ttl,
	})
	if err != nil {
		return sdkerr.Wrap(sdkerr.ModelValidation, err, "")
	}
	results, err := o.action.run(cmd.Context(), []*unstructured.Unstructured{job}, render.Options{
		Labels:      ModelLabels(m, o.revision, "train"),
		Annotations: map[string]string{render.AnnotationModelID: m.Spec.ID},
	})
	if err != nil {
		return err
	}
	if o.action.dryRun == cmdutil.DryRunNone && len(results) > 0 {
		o.deps.progress().Printf("training job %s submitted; follow it with 'kubectl get %s %s -w'",
			job.GetName(), strings.ToLower(job.GetKind()), job.GetName())
	}
	return nil
}

// ModelLabels are the labels of everything an action makes for a model: managed-by, model,
// revision, action, and the model's own labels.
func ModelLabels(m *model.Model, revision, action string) map[string]string {
	labels := maps.Clone(m.Spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[render.LabelManagedBy] = render.ManagedByValue
	labels[render.LabelModel] = m.KubeName()
	labels[render.LabelRevision] = revision
	labels[render.LabelAction] = action
	return labels
}
