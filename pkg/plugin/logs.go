package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/logs"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/term"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// LogsOptions prints the logs of a training job's replicas.
type LogsOptions struct {
	clusterArgs
	deps *Deps

	Follow  bool
	Tail    int64
	Replica string
	Kind    string
}

// NewCmdLogs returns kubectl kaptain logs.
func NewCmdLogs(d *Deps) *cobra.Command {
	o := &LogsOptions{deps: d, Tail: -1}
	cmd := &cobra.Command{
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeNames(d, "jobs"), cobra.ShellCompDirectiveNoFileComp
		},
		Use:   "logs JOB [-f] [--tail N] [--replica worker-1] [--kind tfjob|pytorchjob|trainjob]",
		Short: "Print the logs of a training job's replicas, each line prefixed with its replica",
		Long: `Print the logs of every replica of a training job (TFJob, PyTorchJob or TrainJob) that
runs the model's code, each line prefixed with the replica it comes from ([worker-1],
[master-0], [node-1]; on an MPI runtime the launcher, [launcher-0], which gathers every
node's output). With -f, follow them until the job finishes, attaching to replicas as they
start or restart.

On a terminal, control characters in the output are shown escaped (ESC as ^[) rather than
obeyed; piped or redirected, the containers' bytes are written as they are.`,
		Example: `  # All replicas' logs so far
  kubectl kaptain logs dev-mnist-14fbf217-train-6f1c2b

  # Follow the second worker, from its last 20 lines
  kubectl kaptain logs dev-mnist-14fbf217-train-6f1c2b -f --tail 20 --replica worker-1`,
		RunE: runWith(d, o),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "Follow the logs until the job finishes.")
	f.Int64Var(&o.Tail, "tail", o.Tail, "Lines of recent logs to show per replica; -1 shows all.")
	f.StringVar(&o.Replica, "replica", "", "Only this replica, e.g. worker-1 or master-0.")
	f.StringVar(&o.Kind, "kind", "", "The job's kind when jobs of several kinds have the name: tfjob, pytorchjob or trainjob.")
	return cmd
}

// Validate checks the flags.
func (o *LogsOptions) Validate() error {
	if len(o.args) != 1 {
		return sdkerr.New(sdkerr.Usage, "logs needs the name of one training job; 'kubectl kaptain get jobs' lists them")
	}
	jobs, _ := inventory.KindsOf(inventory.Jobs)
	if _, err := inventory.Only(jobs, o.Kind); err != nil {
		return err
	}
	if o.Tail < -1 {
		return sdkerr.New(sdkerr.Usage, "--tail must be -1 (all) or more, got %d", o.Tail)
	}
	return nil
}

// Run prints the logs, following them with -f.
func (o *LogsOptions) Run(ctx context.Context) error {
	job, err := o.find(ctx)
	if err != nil {
		return err
	}
	// A container's bytes as they are on a pipe or in a file; escaped on a terminal.
	out := o.deps.Streams.Out
	if !term.IsTerminal(out) {
		out = term.Raw(out)
	}
	shown, err := o.stream(ctx, job, out)
	if err == nil && shown == 0 && !o.Follow {
		o.deps.progress().Printf("no replica pods of %s%s yet", job.Obj.GetName(), replicaSuffix(o.Replica))
	}
	return err
}

// find returns the training job named o.args[0], of the kind --kind names when it is given.
func (o *LogsOptions) find(ctx context.Context) (inventory.Object, error) {
	jobs, _ := inventory.KindsOf(inventory.Jobs)
	kinds, err := inventory.Only(jobs, o.Kind)
	if err != nil {
		return inventory.Object{}, err
	}
	served, err := o.inv.Serve(kinds, nil)
	if err != nil {
		return inventory.Object{}, err
	}
	return o.inv.FindUnique(ctx, served, o.args[0])
}

func replicaSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " matching --replica " + r
}

// stream prints the logs of a training job's replicas to out, each line prefixed with its
// replica, and returns how many replicas it showed. Without -f it prints what there is,
// a replica at a time; with -f the replicas stream together until the job finishes,
// and Ctrl-C ends the following quietly, as with kubectl logs -f.
func (o *LogsOptions) stream(ctx context.Context, job inventory.Object, out io.Writer) (int, error) {
	inv, p := o.inv, o.deps.progress()
	var tail *int64
	if o.Tail >= 0 {
		tail = &o.Tail
	}
	pods := inv.Kube.CoreV1()
	s := &logs.Streamer{Pods: pods, Out: out, Container: job.Container, Follow: o.Follow, Prefix: workload.ReplicaName, Tail: tail}
	selector := job.PodSelector(job.Obj)
	if job.LogPods != nil {
		selector = job.LogPods(job.Obj)
	}
	wanted := func(pod *corev1.Pod) bool { return o.Replica == "" || workload.ReplicaName(pod) == o.Replica }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The pods there now. The wait below attaches those that appear or restart; it ends at
	// once for a finished job, maybe before its pods are seen, hence this list first.
	list, err := pods.Pods(inv.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, fmt.Errorf("listing the pods of %s: %w", job.Obj.GetName(), err)
	}
	items := list.Items
	slices.SortFunc(items, func(a, b corev1.Pod) int { return strings.Compare(workload.ReplicaName(&a), workload.ReplicaName(&b)) })
	shown := 0
	for i := range items {
		if !wanted(&items[i]) {
			continue
		}
		s.Attach(ctx, &items[i])
		if !o.Follow {
			s.Wait()
		}
		shown++
	}
	if !o.Follow {
		return shown, nil
	}
	_, err = (&run.Waiter{Client: inv.Dynamic, Pods: pods}).Wait(ctx, run.Watch{
		Resource: job.Mapping.Resource, Namespace: inv.Namespace, Name: job.Obj.GetName(), PodSelector: selector,
		Done: func(obj *unstructured.Unstructured) (bool, error) { return job.Finished(obj), nil },
		OnPod: func(pod *corev1.Pod) error {
			if wanted(pod) {
				s.Attach(ctx, pod)
			}
			return nil
		},
	})
	run.EndStreams(s, err, cancel, p)
	if errors.Is(err, context.Canceled) {
		return shown, nil
	}
	return shown, err
}
