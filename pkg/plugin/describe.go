package plugin

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/describe"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// DescribeOptions describes one workload as kubectl does, plus what kaptain knows of it.
type DescribeOptions struct {
	deps *Deps

	clusterArgs
	config *rest.Config
	Kind   string
}

// NewCmdDescribe returns kubectl kaptain describe.
func NewCmdDescribe(d *Deps) *cobra.Command {
	o := &DescribeOptions{deps: d}
	cmd := &cobra.Command{
		ValidArgsFunction: completeGroupThenName(d, "job", "experiment", "inferenceservice", "build"),
		Use:               "describe job|experiment|inferenceservice|build NAME [--kind KIND]",
		Short:             "Describe a workload with kubectl's describer and its events, plus what kaptain knows of it",
		Long: `Describe a job, experiment or inference service as kubectl describe does (fields and
events), followed by a Kaptain section: a job's replicas and their pods, an experiment's best
trial, a service's URL and traffic split.`,
		Example: `  kubectl kaptain describe job dev-mnist-14fbf217-train-6f1c2b
  kubectl kaptain describe inferenceservice dev-mnist-14fbf217

  # A TrainJob whose name a TFJob shares
  kubectl kaptain describe job dev-mnist-train-6f1c2b --kind trainjob`,
		RunE: runWith(d, o),
	}
	cmd.Flags().StringVar(&o.Kind, "kind", "", "The object's kind when objects of several kinds have NAME, e.g. tfjob, pytorchjob or trainjob.")
	return cmd
}

// Complete keeps the arguments and makes the clients; it contacts nothing.
func (o *DescribeOptions) Complete(f cmdutil.Factory, _ *cobra.Command, args []string) error {
	err := o.clusterArgs.Complete(f, nil, args)
	if err != nil {
		return err
	}
	o.config, err = f.ToRESTConfig()
	return err
}

// Validate checks the arguments.
func (o *DescribeOptions) Validate() error {
	if len(o.args) != 2 {
		return sdkerr.New(sdkerr.Usage, "describe needs job, experiment, inferenceservice or build and a NAME")
	}
	kinds, err := inventory.KindsOf(o.args[0])
	if err != nil {
		return err
	}
	_, err = inventory.Only(kinds, o.Kind)
	return err
}

// Run prints kubectl's description and the Kaptain section.
func (o *DescribeOptions) Run(ctx context.Context) error {
	kinds, _ := inventory.KindsOf(o.args[0])
	kinds, err := inventory.Only(kinds, o.Kind)
	if err != nil {
		return err
	}
	name := o.args[1]
	served, err := o.inv.Serve(kinds, inventory.Warn(o.deps.progress().Printf))
	if err != nil {
		return err
	}
	obj, err := o.inv.FindUnique(ctx, served, name)
	if err != nil {
		return err
	}
	describer, ok := describe.GenericDescriberFor(obj.Mapping, o.config)
	if !ok {
		return fmt.Errorf("no describer for %s", obj.Mapping.Resource.Resource)
	}
	text, err := describer.Describe(o.inv.Namespace, name, describe.DescriberSettings{ShowEvents: true, ChunkSize: 500})
	if err != nil {
		return err
	}
	out := o.deps.Streams.Out
	fmt.Fprint(out, text)
	fmt.Fprintln(out, "Kaptain:")
	return describeKaptain(ctx, out, o.inv, obj)
}

// describeKaptain writes what kubectl kaptain knows of an object beyond its fields: its model and
// revision, a job's replicas and their pods, an experiment's best trial, a service's URL and
// traffic split.
func describeKaptain(ctx context.Context, out io.Writer, inv *inventory.Inventory, o inventory.Object) error {
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	defer w.Flush()
	obj := o.Obj
	fmt.Fprintf(w, "  Model:\t%s\n", orNone(obj.GetAnnotations()[model.AnnotationModelID]))
	fmt.Fprintf(w, "  Revision:\t%s\n", orNone(obj.GetLabels()[model.LabelRevision]))
	switch o.Group {
	case inventory.Jobs:
		st := workload.StateOf(obj)
		fmt.Fprintf(w, "  State:\t%s\n", st)
		pods, err := inv.Kube.CoreV1().Pods(obj.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: o.PodSelector(obj)})
		if err != nil {
			return fmt.Errorf("listing the pods of %s: %w", obj.GetName(), err)
		}
		fmt.Fprintf(w, "  Replicas:\t%d (%d active, %d succeeded, %d failed)\n", st.Total, st.Active, st.Succeeded, st.Failed)
		items := pods.Items
		slices.SortFunc(items, func(a, b corev1.Pod) int { return strings.Compare(workload.ReplicaName(&a), workload.ReplicaName(&b)) })
		if len(items) == 0 {
			fmt.Fprintf(w, "  Pods:\t<none>\n")
		}
		for i := range items {
			p := &items[i]
			state := string(p.Status.Phase)
			if reason, msg, bad := workload.PodProblem(p); bad {
				state += " (" + reason + ": " + msg + ")"
			}
			fmt.Fprintf(w, "  Pod %s:\t%s on %s: %s\n", workload.ReplicaName(p), p.Name, orNone(p.Spec.NodeName), state)
		}
	case inventory.Experiments:
		st := workload.ExperimentStateOf(obj)
		fmt.Fprintf(w, "  State:\t%s\n", st.Phase)
		if st.BestTrial == "" {
			fmt.Fprintf(w, "  Best trial:\t<none yet>\n")
		} else {
			fmt.Fprintf(w, "  Best trial:\t%s\n", st.BestTrial)
		}
		for _, k := range slices.Sorted(maps.Keys(st.BestParams)) {
			fmt.Fprintf(w, "  Parameter %s:\t%s\n", k, st.BestParams[k])
		}
		for _, k := range slices.Sorted(maps.Keys(st.BestMetrics)) {
			fmt.Fprintf(w, "  Metric %s:\t%s\n", k, st.BestMetrics[k])
		}
		fmt.Fprintf(w, "  Trials:\t%d (%d succeeded, %d failed, %d running, at most %d)\n", st.Trials, st.Succeeded, st.Failed, st.Running, st.Max)
	case inventory.InferenceServices:
		st := workload.ServiceStateOf(obj)
		fmt.Fprintf(w, "  URL:\t%s\n", orNone(st.URL))
		fmt.Fprintf(w, "  State:\t%s\n", st)
		if _, name, source := inv.Cluster().DeploymentMode(ctx, obj, ""); strings.HasPrefix(source, "inferenceservice ") {
			fmt.Fprintf(w, "  Mode:\t%s\n", name)
		} else {
			fmt.Fprintf(w, "  Mode:\t%s (%s)\n", name, source)
		}
		uri := obj.GetAnnotations()[model.AnnotationModelURI]
		previous := obj.GetAnnotations()[model.AnnotationPreviousModelURI]
		if pct := workload.CanaryShare(obj); pct != nil {
			fmt.Fprintf(w, "  Traffic:\t%d%% to %s (canary), %d%% to %s\n", *pct, uri, 100-*pct, previous)
		} else {
			fmt.Fprintf(w, "  Traffic:\t100%% to %s\n", orNone(uri))
		}
		traffic, _, _ := unstructured.NestedSlice(obj.Object, "status", "components", "predictor", "traffic")
		for _, t := range traffic {
			if m, ok := t.(map[string]any); ok {
				fmt.Fprintf(w, "  Revision %v:\t%v%%\n", m["revisionName"], m["percent"])
			}
		}
		// In Knative mode, what KServe made in Knative: its Service, Route and Revisions.
		knative, err := inv.KnativeObjects(ctx, obj)
		if err != nil {
			return err
		}
		for _, k := range knative {
			fmt.Fprintf(w, "  Knative %s:\t%s (%s)\n", k.Kind, k.Name, k)
		}
	case inventory.Builds:
		st := workload.BuildStateOf(obj)
		fmt.Fprintf(w, "  State:\t%s\n", st)
		if st.Failed {
			fmt.Fprintf(w, "  Failure:\t%s\n", cmp.Or(st.Message, st.Reason))
		}
	}
	return nil
}
