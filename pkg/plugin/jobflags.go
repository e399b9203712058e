package plugin

import (
	"cmp"
	"context"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/platform"
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
	Placement   PlacementFlags
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
	f.StringVar(&j.TrainingAPI, "training-api", "", "The training API: v1 (the Training Operator's TFJob, PyTorchJob) or v2 (Kubeflow Trainer's TrainJob); default spec.training.api, else a pytorch model takes TrainJob when the cluster serves it (a client dry run: v1), jax, xgboost and mlx always.")
	f.StringVar(&j.Runtime, "runtime", "", "The TrainJob's runtime, e.g. deepspeed-distributed: a ClusterTrainingRuntime NAME, or trainingruntime/NAME in the namespace (default spec.training.runtime, else "+model.DefaultTrainingRuntime+" for pytorch, the runtime labelled trainer.kubeflow.org/framework=<framework> for jax, xgboost and mlx). Implies --training-api v2.")
	f.StringVar(&j.Queue, "queue", "", "The Kueue LocalQueue to submit the job to (the kueue.x-k8s.io/queue-name label; default spec.training.queue).")
	j.Resources.addFlags(cmd, what)
	j.Placement.addFlags(cmd, what)
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

// validate checks the replicas, resources and build flags, and the training choice they make
// with kaptain.yaml; it is pure.
func (j *JobFlags) validate() error {
	if j.Workers < 1 {
		return sdkerr.New(sdkerr.Usage, "--workers must be 1 or more, got %d", j.Workers)
	}
	if j.Workers > math.MaxInt32 {
		return sdkerr.New(sdkerr.Usage, "--workers must be at most %d (a replica count is an int32), got %d", math.MaxInt32, j.Workers)
	}
	if err := model.ValidateTrainingAPI(j.TrainingAPI); err != nil {
		return sdkerr.New(sdkerr.Usage, "--training-api %v", err)
	}
	if j.Queue != "" {
		if err := model.ValidateQueue(j.Queue); err != nil {
			return sdkerr.New(sdkerr.Usage, "--queue %v", err)
		}
	}
	if err := j.choice().Validate(); err != nil {
		return err
	}
	if err := j.Resources.validate(); err != nil {
		return err
	}
	if err := j.Placement.validate(); err != nil {
		return err
	}
	return j.BuildFirst.validate()
}

// choice is what decides the job's training kind.
func (j *JobFlags) choice() platform.TrainingChoice {
	return platform.TrainingChoice{Framework: j.framework, API: j.api, Runtime: j.runtime}
}

// patchKind is the kind JSON 6902 patches are read for, before the kind is chosen: the one a
// client dry run would render.
func (j *JobFlags) patchKind() string {
	if k, _, err := j.choice().Offline(); err == nil {
		return k.GVK().Kind
	}
	return workload.KindTFJob
}

// kind chooses the training kind once: without the cluster for a client dry run (a note on
// stderr says where the cluster may choose otherwise), else from what the cluster serves;
// cl is the cluster it was chosen on (nil for a client dry run).
func (j *JobFlags) kind(ctx context.Context, ac actionOptions) (workload.TrainingKind, *platform.Cluster, error) {
	progress := ac.deps.progress()
	if ac.mode.Offline() {
		kind, note, err := j.choice().Offline()
		if err != nil {
			return nil, nil, err
		}
		if note != "" {
			progress.Printf("%s", note)
		}
		return kind, nil, nil
	}
	inv, err := ac.session.inventory()
	if err != nil {
		return nil, nil, err
	}
	cl := inv.Cluster()
	kind, err := cl.ChooseTraining(ctx, j.choice(), progress.Printf)
	if err != nil {
		return nil, nil, err
	}
	return kind, cl, nil
}
