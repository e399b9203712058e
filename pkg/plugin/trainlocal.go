package plugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/local"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// validateLocal checks a local run's replicas and arguments; it is pure.
func (o *TrainOptions) validateLocal() error {
	if err := validateLocalWorkers(o.Workers, o.model.Spec.Framework); err != nil {
		return err
	}
	return o.checkArgs()
}

// runLocal runs the main file here as the job's replicas would run it and reports what it
// saved. The model's history is not changed: a local run made no image and no cluster object.
func (o *TrainOptions) runLocal(ctx context.Context) error {
	m, progress := o.model, o.deps.progress()
	r, err := o.Local.prepare(ctx, o.deps, m)
	if err != nil {
		return err
	}
	upload, err := r.uploadPath("trained", o.revision)
	if err != nil {
		return err
	}
	procs, err := r.processes(o.Workers, o.params, o.args, workload.PhaseTraining, upload)
	if err != nil {
		return sdkerr.Wrap(sdkerr.Usage, err, "")
	}
	dir, remove, err := r.workdir()
	if err != nil {
		return err
	}
	defer remove()
	progress.Printf("running %s here as %s, in a copy of the image's %s; each gets %s", m.Spec.MainFile, replicas(o.Workers), files(len(r.inputs.Files)), emulation(m.Spec.Framework))
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	runner := local.Runner{Dir: dir, Out: o.deps.Streams.Out}
	if err := localError(ctx, runner.Run(ctx, procs), "training"); err != nil {
		return err
	}
	hyper := "no hyperparameters"
	if len(o.params) > 0 {
		hyper = "hyperparameters " + strings.Join(workload.Arguments(o.params, nil), " ")
	}
	what := ""
	if !r.s3 {
		what = " (it saved " + saved(upload) + ")"
	}
	progress.Printf("trained model %s here, revision %s, %s; the code was told to save it to %s%s; a local run is not recorded in the model's history",
		m.Spec.ID, o.revision, hyper, upload, what)
	return nil
}

// replicas is "1 process" or "N processes, one per replica".
func replicas(n int) string {
	if n == 1 {
		return "1 process"
	}
	return fmt.Sprintf("%d processes, one per replica", n)
}

// files is "1 file" or "N files".
func files(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}

// emulation says what each process is given in place of the cluster's replicas.
func emulation(framework string) string { return local.Emulated()[framework] }
