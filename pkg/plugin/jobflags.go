package plugin

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// DefaultBackoffLimit is how many container restarts fail a training job: the Training
// Operator's runPolicy.backoffLimit. The seed gives none; a few retries survive a flaky node.
const DefaultBackoffLimit = 3

// DefaultTrainTimeout bounds the wait for a training job. The seed names the SDK's default
// (constants.DEFAULT_TIMEOUT_SECONDS) without its value; a day lets real trainings finish.
const DefaultTrainTimeout = 24 * time.Hour

// JobFlags are the flags of train and tune that shape the training job (each trial's, for
// tune): replicas, their resources, further arguments and --build.
type JobFlags struct {
	Workers    int
	Args       []string
	Resources  ResourceFlags
	BuildFirst buildFirst

	args map[string]string
}

// addFlags binds the flags; what names the replicas they size, e.g. "each replica".
func (j *JobFlags) addFlags(cmd *cobra.Command, workers, what string) {
	f := cmd.Flags()
	f.StringArrayVar(&j.Args, "arg", nil, "A further argument to the main file as name=value. Repeatable.")
	f.IntVar(&j.Workers, "workers", j.Workers, workers)
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
	return m, err
}

// validate checks the replicas, resources and build flags; it is pure.
func (j *JobFlags) validate() error {
	if j.Workers < 1 {
		return sdkerr.New(sdkerr.Usage, "--workers must be 1 or more, got %d", j.Workers)
	}
	if err := j.Resources.validate(); err != nil {
		return err
	}
	return j.BuildFirst.validate()
}
