package plugin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// DefaultBackoffLimit is how many container restarts fail a training job: the Training
// Operator's runPolicy.backoffLimit. The seed gives none; a few retries survive a flaky node.
const DefaultBackoffLimit = 3

// DefaultTrainTimeout bounds the wait for a training job. The seed names the SDK's default
// (constants.DEFAULT_TIMEOUT_SECONDS) without its value; a day lets real trainings finish.
const DefaultTrainTimeout = 24 * time.Hour

// DefaultPendingTimeout bounds how long a replica may wait for a node a cluster autoscaler is
// adding: new nodes usually join within a few minutes.
const DefaultPendingTimeout = 15 * time.Minute

// JobFlags are the flags of train and tune that shape the training job (each trial's, for
// tune): replicas, their resources, further arguments, the training API, runtime and queue,
// and --build.
type JobFlags struct {
	Workers     int
	Args        []string
	TrainingAPI string
	Runtime     string
	Queue       string
	Resources   ResourceFlags
	BuildFirst  buildFirst

	args map[string]string
	// api, runtime and queue are the flags over kaptain.yaml's spec.training; api is empty
	// when the cluster chooses.
	api, runtime, queue string
	framework           string
}

// addFlags binds the flags; what names the replicas they size, e.g. "each replica".
func (j *JobFlags) addFlags(cmd *cobra.Command, workers, what string) {
	f := cmd.Flags()
	f.StringArrayVar(&j.Args, "arg", nil, "A further argument to the main file as name=value. Repeatable.")
	f.IntVar(&j.Workers, "workers", j.Workers, workers)
	f.StringVar(&j.TrainingAPI, "training-api", "", "The training API: v1 (the Training Operator's TFJob, PyTorchJob) or v2 (Kubeflow Trainer's TrainJob); default spec.training.api, else a pytorch model takes TrainJob when the cluster serves it (a client dry run: v1).")
	f.StringVar(&j.Runtime, "runtime", "", "The TrainJob's runtime: a ClusterTrainingRuntime NAME, or trainingruntime/NAME in the namespace (default spec.training.runtime, else "+model.DefaultTrainingRuntime+").")
	f.StringVar(&j.Queue, "queue", "", "The Kueue LocalQueue to submit the job to (the kueue.x-k8s.io/queue-name label; default spec.training.queue).")
	j.Resources.addFlags(cmd, what)
	j.BuildFirst.addFlags(cmd)
}

// complete loads the model and reads the build settings and --arg values.
func (j *JobFlags) complete(cmd *cobra.Command, d *Deps, action *ActionFlags) (*model.Model, error) {
	j.Resources.complete(cmd)
	m, err := action.loadModel()
	if err != nil {
		return nil, err
	}
	if err := j.BuildFirst.complete(cmd, d, m); err != nil {
		return nil, err
	}
	j.args, err = config.ParseKeyValues("--arg", j.Args)
	t := m.Spec.Training
	j.api, j.runtime, j.queue = cmp.Or(j.TrainingAPI, t.API), cmp.Or(j.Runtime, t.Runtime), cmp.Or(j.Queue, t.Queue)
	j.framework = m.Spec.Framework
	return m, err
}

// validate checks the replicas, resources and build flags; it is pure.
func (j *JobFlags) validate() error {
	if j.Workers < 1 {
		return sdkerr.New(sdkerr.Usage, "--workers must be 1 or more, got %d", j.Workers)
	}
	if err := model.ValidateTrainingAPI(j.TrainingAPI); err != nil {
		return sdkerr.New(sdkerr.Usage, "--training-api %v", err)
	}
	if j.Runtime != "" {
		if _, _, err := model.ParseRuntime(j.Runtime); err != nil {
			return sdkerr.New(sdkerr.Usage, "--runtime %v", err)
		}
	}
	if j.Queue != "" {
		if err := model.ValidateQueue(j.Queue); err != nil {
			return sdkerr.New(sdkerr.Usage, "--queue %v", err)
		}
	}
	if j.api == model.TrainingAPIV1 && j.Runtime != "" {
		return sdkerr.New(sdkerr.Usage, "--runtime names a TrainJob's runtime; it needs --training-api v2, not v1")
	}
	if j.api == model.TrainingAPIV2 && j.framework == "tensorflow" && j.runtime == "" {
		return sdkerr.New(sdkerr.Usage, "Kubeflow Trainer v2 has no TensorFlow runtime: name a runtime of your own with --runtime, or train a tensorflow model with --training-api v1 (TFJob)")
	}
	if err := j.Resources.validate(); err != nil {
		return err
	}
	return j.BuildFirst.validate()
}

// patchKind is the kind JSON 6902 patches are read for, before the API is chosen: the one
// asked for, else the Training Operator's.
func (j *JobFlags) patchKind() string { return jobTarget{api: j.api}.kind(j.framework) }

// jobTarget is what a training job is rendered as: the training API and, for v2, the runtime;
// inv is the cluster it was resolved on (nil for a client dry run).
type jobTarget struct {
	api     string
	runtime workload.Runtime
	inv     *inventory.Inventory
}

// kind is the job's kind for the model's framework.
func (t jobTarget) kind(framework string) string {
	switch {
	case t.api == model.TrainingAPIV2:
		return workload.KindTrainJob
	case framework == "pytorch":
		return workload.KindPyTorchJob
	}
	return workload.KindTFJob
}

// job renders the training job of the target.
func (t jobTarget) job(m *model.Model, train workload.Train) (*unstructured.Unstructured, error) {
	if t.api == model.TrainingAPIV2 {
		return workload.TrainJob(m, train, t.runtime)
	}
	return workload.TrainingJob(m, train)
}

// target resolves the training API and runtime. The API asked for (flag, then kaptain.yaml)
// wins; otherwise a client dry run, which contacts nothing, renders v1, and anything else asks
// the cluster what it serves. A v2 target's runtime must exist: its framework label says
// whether the trainer runs under torchrun. The JSON 6902 patches follow the chosen kind.
func (j *JobFlags) target(ctx context.Context, ac *actionContext, m *model.Model) (jobTarget, error) {
	t := jobTarget{api: j.api}
	kind, name, err := model.ParseRuntime(cmp.Or(j.runtime, model.DefaultTrainingRuntime))
	if err != nil {
		return t, sdkerr.New(sdkerr.Usage, "--runtime %v", err)
	}
	t.runtime = workload.Runtime{Kind: kind, Name: name, Torch: name == model.DefaultTrainingRuntime && kind == model.KindClusterTrainingRuntime}
	if ac.dryRun == cmdutil.DryRunClient {
		if t.api == "" {
			t.api = model.TrainingAPIV1
		}
		ac.retargetPatches(j.patchKind(), t.kind(m.Spec.Framework))
		return t, nil
	}
	c, err := ac.connect(m)
	if err != nil {
		return t, err
	}
	cs, err := ac.factory.KubernetesClientSet()
	if err != nil {
		return t, fmt.Errorf("connecting to the cluster: %w", err)
	}
	inv := &inventory.Inventory{Dynamic: c.Dynamic, Kube: cs, Mapper: c.Mapper, Namespace: ac.namespace}
	t.inv = inv
	v1, v2, err := inv.TrainingAPIs(m.Spec.Framework)
	if err != nil {
		return t, err
	}
	if t.api, err = inventory.ChooseTrainingAPI(m.Spec.Framework, t.api, j.runtime != "", v1, v2); err != nil {
		return t, err
	}
	ac.retargetPatches(j.patchKind(), t.kind(m.Spec.Framework))
	if t.api != model.TrainingAPIV2 {
		return t, nil
	}
	if !v2 {
		gvk := schema.FromAPIVersionAndKind(workload.TrainerGroupVersion, workload.KindTrainJob)
		return t, sdkerr.New(sdkerr.WorkloadDeployment, "the cluster does not serve %s (%s): %s", gvk.Kind, gvk.GroupVersion(), apply.MissingOperatorHint(gvk))
	}
	framework, err := inv.TrainingRuntime(ctx, kind, name)
	var unreadable *inventory.RuntimeUnreadableError
	if errors.As(err, &unreadable) {
		ac.deps.progress().Printf("warning: %v; creating the TrainJob without checking its runtime (docs/rbac.yaml's kubectl-kaptain-runtimes role grants the read)", err)
		return t, nil
	}
	if err != nil {
		return t, err
	}
	t.runtime.Torch = framework == workload.RuntimeFrameworkTorch
	return t, nil
}
