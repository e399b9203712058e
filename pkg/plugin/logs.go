package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/logs"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// LogsOptions prints the logs of a training job's replicas.
type LogsOptions struct {
	deps *Deps

	Follow  bool
	Tail    int64
	Replica string
	Kind    string

	args []string
	name string
	inv  *inventory.Inventory
}

// NewCmdLogs returns kubectl kaptain logs.
func NewCmdLogs(d *Deps) *cobra.Command {
	o := &LogsOptions{deps: d, Tail: -1}
	cmd := &cobra.Command{
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeNames(d, "jobs"), cobra.ShellCompDirectiveNoFileComp
		},
		Use:   "logs JOB [-f] [--tail N] [--replica worker-1]",
		Short: "Print the logs of a training job's replicas, each line prefixed with its replica",
		Long: `Print the logs of every replica of a TFJob or PyTorchJob, each line prefixed with the
replica it comes from ([worker-1], [master-0]). With -f, follow them until the job finishes,
attaching to replicas as they start or restart.`,
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
	f.StringVar(&o.Kind, "kind", "", "The job's kind, tfjob or pytorchjob, when both exist with the name.")
	return cmd
}

// Complete reads the namespace and makes the clients; it contacts nothing.
func (o *LogsOptions) Complete(f cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.args = args
	var err error
	o.inv, err = newInventory(f)
	return err
}

// Validate checks the flags.
func (o *LogsOptions) Validate() error {
	if len(o.args) != 1 {
		return sdkerr.New(sdkerr.Usage, "logs needs the name of one training job; 'kubectl get tfjobs,pytorchjobs' lists them")
	}
	o.name = o.args[0]
	if o.Kind != "" && o.Kind != "tfjob" && o.Kind != "pytorchjob" {
		return sdkerr.New(sdkerr.Usage, "--kind %q is not supported; use tfjob or pytorchjob", o.Kind)
	}
	if o.Tail < -1 {
		return sdkerr.New(sdkerr.Usage, "--tail must be -1 (all) or more, got %d", o.Tail)
	}
	return nil
}

// Run prints the logs, following them with -f.
func (o *LogsOptions) Run(ctx context.Context) error {
	found, err := o.find(ctx)
	if err != nil {
		return err
	}
	job, pods := found.Obj, o.inv.Kube.CoreV1()
	s := &logs.Streamer{Pods: pods, Out: o.deps.Streams.Out, Container: found.Container, Follow: o.Follow, Prefix: workload.ReplicaName}
	if o.Tail >= 0 {
		s.Tail = &o.Tail
	}
	selector := found.PodSelector(job)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The pods there now, a replica at a time without -f. With -f they stream together, and
	// the wait below attaches those that appear or restart; it ends at once for a finished
	// job, maybe before its pods are seen, hence this list first.
	list, err := pods.Pods(o.inv.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("listing the pods of %s: %w", job.GetName(), err)
	}
	items := list.Items
	slices.SortFunc(items, func(a, b corev1.Pod) int { return strings.Compare(workload.ReplicaName(&a), workload.ReplicaName(&b)) })
	shown := 0
	for i := range items {
		if o.Replica != "" && workload.ReplicaName(&items[i]) != o.Replica {
			continue
		}
		s.Attach(ctx, &items[i])
		if !o.Follow {
			s.Wait()
		}
		shown++
	}
	if !o.Follow {
		if shown == 0 {
			o.deps.progress().Printf("no replica pods of %s%s yet", job.GetName(), replicaSuffix(o.Replica))
		}
		return nil
	}
	waiter := &run.Waiter{Client: o.inv.Dynamic, Pods: pods}
	_, err = waiter.Wait(ctx, run.Watch{
		Resource: found.Mapping.Resource, Namespace: o.inv.Namespace, Name: job.GetName(), PodSelector: selector,
		Done: func(obj *unstructured.Unstructured) (bool, error) { return workload.StateOf(obj).Finished(), nil },
		OnPod: func(pod *corev1.Pod) error {
			if o.Replica == "" || workload.ReplicaName(pod) == o.Replica {
				s.Attach(ctx, pod)
			}
			return nil
		},
	})
	run.EndStreams(s, err, cancel, o.deps.progress())
	if errors.Is(err, context.Canceled) {
		return nil // Ctrl-C ends following, as with kubectl logs -f
	}
	return err
}

// find returns the training job named o.name, as TFJob or PyTorchJob.
func (o *LogsOptions) find(ctx context.Context) (inventory.Object, error) {
	kinds, _ := inventory.KindsOf(inventory.Jobs)
	served, err := o.inv.Serve(inventory.Only(kinds, o.Kind), nil)
	if err != nil {
		return inventory.Object{}, err
	}
	found, err := o.inv.Find(ctx, served, o.name)
	if err != nil {
		return inventory.Object{}, err
	}
	if len(found) == 0 {
		return inventory.Object{}, fmt.Errorf("no TFJob or PyTorchJob named %s in namespace %s", o.name, o.inv.Namespace)
	}
	return found[0], nil
}

func replicaSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " matching --replica " + r
}
