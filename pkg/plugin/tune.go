package plugin

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/utils/ptr"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run/waitfor"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// TuneOptions tunes the model's hyperparameters with a Katib Experiment.
type TuneOptions struct {
	deps   *Deps
	Action *ActionFlags

	Params            []string
	Objectives        []string
	Goal              float64
	ObjectiveType     string
	Trials            int
	ParallelTrials    int
	FailedTrials      int
	Algorithm         string
	AlgorithmSettings []string
	EarlyStopping     string
	EarlyStoppingSets []string
	JobFlags
	Local            LocalFlags
	DeleteExperiment bool
	TTL              int
	Timeout          time.Duration
	PendingTimeout   time.Duration
	Wait             bool

	model    *model.Model
	action   actionOptions
	tune     workload.Tune
	output   string
	deleteEx bool
	revision string
}

// NewCmdTune returns kubectl kaptain tune.
func NewCmdTune(d *Deps) *cobra.Command {
	o := &TuneOptions{deps: d, Action: NewActionFlags(), Trials: 16, ParallelTrials: 2, FailedTrials: 4, Algorithm: "random", ObjectiveType: "maximize", JobFlags: JobFlags{Workers: 2}, Timeout: DefaultTrainTimeout, PendingTimeout: DefaultPendingTimeout, Wait: true}
	cmd := &cobra.Command{
		Use:   "tune --param name=TYPE:... --objective METRIC [--algorithm random] [--trials 16]",
		Short: "Tune the model's hyperparameters with a Katib Experiment and print the best ones",
		Long: `Search hyperparameters with Katib: every trial is the job train renders (a TrainJob,
TFJob or PyTorchJob, chosen as train chooses it), with the searched values as --name=value arguments, and its name=value output lines
as metrics. When the experiment ends, the best trial's hyperparameters are printed and become
the model's hyperparameters (its record's state is then tuned).

Domains: double:MIN:MAX[:STEP], int:MIN:MAX[:STEP], discrete:V1,V2,... (numbers),
categorical:A,B,... (strings). Algorithms: random, grid, bayesianoptimization, tpe,
multivariate-tpe, cmaes, sobol, hyperband, pbt; --algorithm-setting name=value passes their
settings. --early-stopping medianstop stops a trial whose objective trails the median of
the succeeded ones (Katib's medianstop, settings min_trials_required and start_step).
Defaults come from kaptain.yaml's tune section.

Katib runs experiments only in namespaces labelled
katib.kubeflow.org/metrics-collector-injection=enabled; tune checks that first. While
waiting, a suggestion or trial pod that cannot run (unschedulable, its image not pulled)
and a first round of trials that report no metrics end the wait (exit code 11).

With --local the trials run here instead, as local processes (see train --local), up to
--parallel-trials at once, their metrics read from the primary replica's output as Katib's
StdOut collector reads them, their suggestions from the library Katib's goptuna service uses
(random, tpe, cmaes, sobol). The best hyperparameters are printed; the model's history is
not changed.`,
		Example: `  # Try the search here first: six trials as local processes, two at a time
  kubectl kaptain tune --local --param lr=double:0.01:0.5 --objective accuracy --trials 6

  kubectl kaptain tune --param lr=double:0.001:0.1 --param momentum=discrete:0.5,0.9,0.99 \
    --objective accuracy --goal 0.99 --trials 12 --parallel-trials 3

  # Stop trials that trail the median once 4 trials succeeded
  kubectl kaptain tune --param lr=double:0.001:0.1 --objective accuracy --trials 20 \
    --early-stopping medianstop --early-stopping-setting min_trials_required=4

  # A grid over a stepped space, removing the experiment at the end
  kubectl kaptain tune --algorithm grid --param lr=double:0.01:0.05:0.01 --param epochs=int:1:3 \
    --objective accuracy --trials 15 --delete-experiment`,
		Args: cobra.NoArgs,
		RunE: runWith(d, o),
	}
	o.Action.AddFlags(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&o.Params, "param", nil, "A searched hyperparameter: name=double:MIN:MAX[:STEP], name=int:MIN:MAX[:STEP], name=discrete:V,... or name=categorical:A,... Repeatable.")
	f.StringArrayVar(&o.Objectives, "objective", nil, "A metric the code prints as name=value; the first is the objective. Repeatable.")
	f.Float64Var(&o.Goal, "goal", 0, "Stop when the objective reaches this value.")
	f.StringVar(&o.ObjectiveType, "objective-type", o.ObjectiveType, "maximize or minimize the objective.")
	f.IntVar(&o.Trials, "trials", o.Trials, "Maximum number of trials.")
	f.IntVar(&o.ParallelTrials, "parallel-trials", o.ParallelTrials, "Trials run at once.")
	f.IntVar(&o.FailedTrials, "failed-trials", o.FailedTrials, "Failed trials after which the experiment stops.")
	f.StringVar(&o.Algorithm, "algorithm", o.Algorithm, "Search algorithm: "+strings.Join(workload.Algorithms(), ", ")+".")
	f.StringArrayVar(&o.AlgorithmSettings, "algorithm-setting", nil, "An algorithm setting as name=value. Repeatable.")
	f.StringVar(&o.EarlyStopping, "early-stopping", "", "Stop trials that trail the median of the finished ones: "+workload.EarlyStoppingMedian+" ("+workload.EarlyStoppingNone+" turns off kaptain.yaml's).")
	f.StringArrayVar(&o.EarlyStoppingSets, "early-stopping-setting", nil, "An early stopping setting as name=value: min_trials_required=N (default 3), start_step=N (default 4). Repeatable.")
	o.JobFlags.addFlags(cmd, "Replicas of each trial's job.", "each replica of each trial")
	f.BoolVar(&o.DeleteExperiment, "delete-experiment", false, "Delete the experiment when it finished (default from "+config.EnvDeleteExperiment+").")
	f.IntVar(&o.TTL, "ttl-seconds-after-finished", 0, "Remove each trial's finished job after so many seconds.")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the experiment.")
	f.DurationVar(&o.PendingTimeout, "pending-timeout", o.PendingTimeout, "How long a pod may stay unschedulable while a cluster autoscaler adds a node for it (0: until --timeout); a trial's pod also waits while another trial runs. Otherwise an unschedulable pod ends the wait at once.")
	f.BoolVar(&o.Wait, "wait", o.Wait, "Wait for the experiment and print the best hyperparameters.")
	o.Local.addFlags(cmd)
	return cmd
}

// Complete merges flags over kaptain.yaml's tune section and parses the search space.
func (o *TuneOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	fs := cmd.Flags()
	o.Local.complete(cmd, "param", "objective", "goal", "objective-type", "trials", "parallel-trials", "failed-trials",
		"algorithm", "algorithm-setting", "early-stopping", "arg", "workers", "timeout", "output")
	if err := o.Local.validate(); err != nil {
		return err
	}
	m, err := o.JobFlags.complete(cmd, o.deps, o.Action)
	if err != nil {
		return err
	}
	o.model = m
	var over workload.TuneOverrides
	if fs.Changed("algorithm") {
		over.Algorithm = &o.Algorithm
	}
	for flag, dst := range map[string]**int{"trials": &over.Trials, "parallel-trials": &over.ParallelTrials, "failed-trials": &over.FailedTrials} {
		if fs.Changed(flag) {
			v, _ := fs.GetInt(flag)
			*dst = &v
		}
	}
	if fs.Changed("algorithm-setting") {
		if over.AlgorithmSettings, err = config.ParseKeyValues("--algorithm-setting", o.AlgorithmSettings); err != nil {
			return err
		}
	}
	if fs.Changed("early-stopping") {
		over.EarlyStopping = &o.EarlyStopping
	}
	if fs.Changed("early-stopping-setting") {
		if over.EarlyStoppingSettings, err = config.ParseKeyValues("--early-stopping-setting", o.EarlyStoppingSets); err != nil {
			return err
		}
	}
	if fs.Changed("objective-type") {
		over.ObjectiveType = &o.ObjectiveType
	}
	if fs.Changed("goal") {
		over.Goal = &o.Goal
	}
	over.Params, over.Objectives = o.Params, o.Objectives
	tune, fixed, err := workload.TuneOf(m, over, workload.Tune{
		Search:        workload.Search{Algorithm: o.Algorithm, Trials: o.Trials, ParallelTrials: o.ParallelTrials, FailedTrials: o.FailedTrials},
		ObjectiveType: o.ObjectiveType,
	})
	if err != nil {
		return err
	}
	var ttl *int32
	if fs.Changed("ttl-seconds-after-finished") {
		v := int32(min(max(o.TTL, 0), 1<<31-1))
		ttl = &v
	}
	var deleteFlag *bool
	if fs.Changed("delete-experiment") {
		deleteFlag = &o.DeleteExperiment
	}
	if o.deleteEx, err = o.deps.Env.Bool(deleteFlag, config.EnvDeleteExperiment, false); err != nil {
		return err
	}
	o.revision = o.deps.NewRevision()
	tune.Name, tune.Revision = m.JobName(model.ActionTune, o.revision), o.revision
	tune.Train = workload.Train{Hyperparameters: fixed, Args: o.JobFlags.args, Workers: o.Workers, Resources: o.Resources.resources(), Placement: o.Placement.placement(), TTLSecondsAfterFinished: ttl, BackoffLimit: ptr.To(int32(DefaultBackoffLimit))}
	o.tune = tune
	if o.Action.PrintFlags.OutputFormat != nil {
		o.output = *o.Action.PrintFlags.OutputFormat
	}
	if o.Local.Local {
		return nil
	}
	if o.action, err = o.Action.complete(f, cmd, o.deps, m, workload.KindExperiment); err != nil {
		return err
	}
	if o.action.mode.Applies() {
		// Without a dry run, -o formats the best hyperparameters; the experiment is named on stderr.
		o.action = o.action.namesOnly(o.deps.Streams.ErrOut)
	}
	return nil
}

// Validate checks the search before anything is created.
func (o *TuneOptions) Validate() error {
	if !slices.Contains(model.TrainableFrameworks(), o.model.Spec.Framework) {
		return sdkerr.New(sdkerr.ModelValidation, "%s: spec.framework %q cannot be tuned; tune supports %s",
			o.model.Path, o.model.Spec.Framework, strings.Join(model.TrainableFrameworks(), " and "))
	}
	if o.Local.Local {
		if err := o.validateLocal(); err != nil {
			return err
		}
	} else if err := o.JobFlags.validate(); err != nil {
		return err
	}
	if len(o.tune.Objectives) == 0 {
		return sdkerr.New(sdkerr.Usage, "tune needs --objective METRIC (a name=value line the code prints), or tune.objectives in kaptain.yaml")
	}
	for _, obj := range o.tune.Objectives {
		if strings.TrimSpace(obj) == "" || strings.ContainsAny(obj, "= \t") {
			return sdkerr.New(sdkerr.Usage, "--objective %q is not a metric name; use the name the code prints as name=value", obj)
		}
	}
	if o.tune.ObjectiveType != "maximize" && o.tune.ObjectiveType != "minimize" {
		return sdkerr.New(sdkerr.Usage, "--objective-type %q is not supported; use maximize or minimize", o.tune.ObjectiveType)
	}
	if o.Timeout <= 0 {
		return sdkerr.New(sdkerr.Usage, "--timeout must be positive")
	}
	if o.PendingTimeout < 0 {
		return sdkerr.New(sdkerr.Usage, "--pending-timeout must be 0 or more, got %s", o.PendingTimeout)
	}
	if (o.Local.Local || o.action.mode.Applies() && o.Wait) && o.output != "" && o.output != "yaml" && o.output != "json" {
		return sdkerr.New(sdkerr.Usage, "--output %q: the best hyperparameters print as a table, yaml or json", o.output)
	}
	return o.tune.Search.Validate()
}

// Run renders and applies the experiment, waits for it and prints the best hyperparameters.
func (o *TuneOptions) Run(ctx context.Context) error {
	if o.Local.Local {
		return o.runLocal(ctx)
	}
	m, ac := o.model, o.action
	kind, cl, err := o.JobFlags.kind(ctx, ac)
	if err != nil {
		return err
	}
	if cl != nil {
		// Checked before the build: Katib's webhook would refuse the experiment.
		if err := cl.KatibNamespace(ctx); err != nil {
			return err
		}
	}
	image, err := o.BuildFirst.image(ctx, ac, o.revision, false)
	if err != nil {
		return err
	}
	o.tune.Train.Image = image
	// Katib names each trial <experiment>-<8 characters>; the job's pods and Services add theirs.
	o.tune.Kind = kind
	o.tune.Name = m.JobNameWithin(model.ActionTune, o.revision, workload.MaxExperimentName(kind.MaxName(o.Workers)))
	o.tune.Train.Queue, o.tune.Train.Standalone = o.queue, ac.mode.ServerSide()
	secret, err := ac.storageSecret(ctx, m, o.tune.Name+"-storage")
	if err != nil {
		return err
	}
	var objs []*unstructured.Unstructured
	if secret != nil {
		objs = append(objs, secret)
		o.tune.Train.StorageSecret, o.tune.Train.StorageKeys = secret.GetName(), secretKeys(secret)
	}
	exp, companions, err := workload.Experiment(m, o.tune)
	if err != nil {
		return err
	}
	ref := run.Ref(exp.GroupVersionKind(), exp.GetName())
	a := ac.action(m, o.revision, model.ActionTune, append(append(objs, companions...), exp),
		&render.OwnerLinks{APIVersion: exp.GetAPIVersion(), Kind: exp.GetKind(), Name: exp.GetName(), OwnedKinds: []string{"Secret", model.KindTrainingRuntime}})
	if o.Wait {
		a.Wait = waitfor.Experiment(exp.GroupVersionKind(), exp.GetName(), o.Timeout)
		if cl != nil {
			// The suggestion's pods and the trials' carry the experiment's labels.
			a.Wait.Pods = waitfor.TrialPods(cl, labels.SelectorFromSet(m.Labels(o.revision, model.ActionTune)).String(), o.PendingTimeout)
		}
		if o.deleteEx {
			a.Remove = run.Removal{When: run.WhenFinished, Reason: "--delete-experiment", What: ref}
		} else {
			// The kept experiment's trials have ended: its S3 credentials need not stay.
			a.Remove = run.Removal{OnceDone: []string{"Secret"}}
		}
		a.Record = func(out *run.Outcome) *track.Action {
			if !out.Ended() {
				return nil
			}
			st := workload.ExperimentStateOf(out.Final)
			best := map[string]any{}
			for k, v := range st.BestParams {
				best[k] = v
			}
			return &track.Action{Name: model.ActionTune, Revision: o.revision, Err: out.Err, Hyperparameters: best, Results: st.BestMetrics,
				Image: cmp.Or(image, m.Spec.Image), ModelURI: m.TunedURI(o.revision, st.BestTrial), Workload: ref}
		}
	}
	out, err := ac.run(ctx, a)
	if err != nil || !ac.mode.Applies() || !o.Wait {
		return err
	}
	st := workload.ExperimentStateOf(out.Final)
	ranking := o.clusterRanking(ctx, ac, exp.GetName())
	return o.printBest(st, ranking, m.TunedURI(o.revision, st.BestTrial), "the hyperparameters are now the model's (revision "+o.revision+")")
}
