package plugin

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/cmd/get"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// NewCmdGet returns kubectl kaptain get: kubectl get over the managed kinds, with the
// server's tables (the CRDs' printer columns), every kubectl output format, chunked lists
// and --watch.
func NewCmdGet(d *Deps) *cobra.Command {
	o := &GetOptions{deps: d, get: get.NewGetOptions("kubectl kaptain", d.Streams)}
	cmd := &cobra.Command{
		ValidArgsFunction: completeGroupThenName(d, "jobs", "experiments", "inferenceservices", "builds", "all"),
		Use:               "get jobs|experiments|inferenceservices|builds|all [NAME] [-o wide|yaml|json|name|jsonpath=...|custom-columns=...] [-l selector] [-A] [-w]",
		Short:             "List the jobs, experiments and inference services kaptain made (Kaptain SDK: list_*)",
		Long: `List what kaptain made, with the columns the cluster's CRDs define. jobs covers TFJobs and
PyTorchJobs; all covers jobs, experiments and inference services. A kind whose CRD the
cluster lacks is skipped with a warning. Without NAME only objects labelled
app.kubernetes.io/managed-by=kubectl-kaptain are listed.`,
		Example: `  kubectl kaptain get jobs
  kubectl kaptain get all -A -o wide
  kubectl kaptain get inferenceservices -l kaptain.dev/model=dev-mnist-14fbf217 -w
  kubectl kaptain get jobs dev-mnist-14fbf217-train-6f1c2b -o yaml`,
		RunE: runWith(d, o),
	}
	g := o.get
	g.PrintFlags.AddFlags(cmd)
	cmd.Flags().BoolVarP(&g.Watch, "watch", "w", false, "After listing, watch for changes.")
	cmd.Flags().BoolVar(&g.WatchOnly, "watch-only", false, "Watch for changes without listing first.")
	cmd.Flags().BoolVarP(&g.AllNamespaces, "all-namespaces", "A", false, "List across all namespaces.")
	cmd.Flags().StringVar(&g.FieldSelector, "field-selector", "", "Selector (field query) to filter on.")
	cmdutil.AddChunkSizeFlag(cmd, &g.ChunkSize)
	cmdutil.AddLabelSelectorFlagVar(cmd, &g.LabelSelector)
	cmd.Flags().Bool("server-print", true, "Have the server return the table (CRD printer columns).")
	return cmd
}

// resourceArg names a served kind's resource for kubectl get: "tfjobs.v1.kubeflow.org".
func resourceArg(s inventory.Served) string {
	r := s.Mapping.Resource
	return r.Resource + "." + r.Version + "." + r.Group
}

// GetOptions lists what kaptain made through kubectl's get, over the managed kinds.
type GetOptions struct {
	deps *Deps
	get  *get.GetOptions

	clusterArgs
	factory cmdutil.Factory
	cmd     *cobra.Command
}

// Complete keeps the command line and makes the clients; it contacts nothing.
func (o *GetOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.factory, o.cmd = f, cmd
	return o.clusterArgs.Complete(f, cmd, args)
}

// Validate checks the arguments.
func (o *GetOptions) Validate() error {
	if len(o.args) < 1 || len(o.args) > 2 {
		return sdkerr.New(sdkerr.Usage, "get needs jobs, experiments, inferenceservices or all, and optionally a NAME")
	}
	_, err := inventory.KindsOf(o.args[0])
	return err
}

// Run finds the kinds the cluster serves (and, with NAME, those that have it) and lists them
// with kubectl's get: server-side tables, chunks, watch.
func (o *GetOptions) Run(ctx context.Context) error {
	d, cmd, args, inv, g := o.deps, o.cmd, o.args, o.inv, o.get
	kinds, err := inventory.KindsOf(args[0])
	if err != nil {
		return err
	}
	served, err := inv.Serve(kinds, inventory.Warn(d.progress().Printf))
	if err != nil {
		return err
	}
	if len(served) == 0 {
		return sdkerr.New(sdkerr.WorkloadDeployment, "the cluster serves none of the kinds of %s", args[0])
	}
	var resources []string
	for _, s := range served {
		resources = append(resources, resourceArg(s))
	}
	getArgs := []string{strings.Join(resources, ",")}
	if len(args) == 2 {
		// One object by name: look it up in each kind, and show it from the kinds
		// that have it.
		found, err := inv.Find(ctx, served, args[1])
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return sdkerr.New(sdkerr.Unknown, "no %s named %s", inventory.Names(kinds), args[1])
		}
		var withName []string
		for _, f := range found {
			withName = append(withName, resourceArg(f.Served))
		}
		getArgs = []string{strings.Join(withName, ","), args[1]}
	} else {
		selector := model.ManagedSelector
		if g.LabelSelector != "" {
			selector += "," + g.LabelSelector
		}
		g.LabelSelector = selector
		// Human output of several kinds with the same columns (jobs): one table with a
		// KIND column; -o wide of a kind with columns of its own (an experiment's best
		// objective) adds them.
		format := cmdutil.GetFlagString(cmd, "output")
		ours := len(served) > 1 && (format == "" || format == "wide") || format == "wide" && slices.ContainsFunc(served, func(s inventory.Served) bool { return len(s.Wide) > 0 })
		if ours && !g.Watch && !g.WatchOnly && g.FieldSelector == "" && !cmd.Flags().Changed("sort-by") {
			table, ok, err := inv.Table(o.factory.NewBuilder, served, selector, g.AllNamespaces, format == "wide", g.ChunkSize)
			if err != nil {
				return err
			}
			if ok {
				return printJobsTable(d, inv.Namespace, table, g.AllNamespaces, cmdutil.GetFlagBool(cmd, "no-headers"), format == "wide")
			}
		}
	}
	g.ServerPrint = true
	if err := g.Complete(o.factory, cmd, getArgs); err != nil {
		return err
	}
	if err := g.Validate(); err != nil {
		return sdkerr.Wrap(sdkerr.Usage, err, "")
	}
	return g.Run(o.factory, getArgs)
}

// printJobsTable prints the merged table as kubectl's human printer does.
func printJobsTable(d *Deps, ns string, table *metav1.Table, allNamespaces, noHeaders, wide bool) error {
	if len(table.Rows) == 0 {
		if allNamespaces {
			d.progress().Printf("No resources found")
		} else {
			d.progress().Printf("No resources found in %s namespace.", ns)
		}
		return nil
	}
	return printers.NewTablePrinter(printers.PrintOptions{NoHeaders: noHeaders, Wide: wide, WithNamespace: allNamespaces}).PrintObj(table, d.Streams.Out)
}
