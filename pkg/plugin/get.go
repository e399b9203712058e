package plugin

import (
	"strings"

	"github.com/spf13/cobra"
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
	o := get.NewGetOptions("kubectl kaptain", d.Streams)
	cmd := &cobra.Command{
		ValidArgsFunction: completeGroupThenName(d, "jobs", "experiments", "inferenceservices", "builds", "all"),
		Use:               "get jobs|experiments|inferenceservices|builds|all [NAME] [-o wide|yaml|json|name|jsonpath=...|custom-columns=...] [-l selector] [-A] [-w]",
		Short:             "List the jobs, experiments and inference services kaptain made (the SDK's list_*)",
		Long: `List what kaptain made, with the columns the cluster's CRDs define. jobs covers TFJobs and
PyTorchJobs; all covers jobs, experiments and inference services. A kind whose CRD the
cluster lacks is skipped with a warning. Without NAME only objects labelled
app.kubernetes.io/managed-by=kubectl-kaptain are listed.`,
		Example: `  kubectl kaptain get jobs
  kubectl kaptain get all -A -o wide
  kubectl kaptain get inferenceservices -l kaptain.dev/model=dev-mnist-14fbf217 -w
  kubectl kaptain get jobs dev-mnist-14fbf217-train-6f1c2b -o yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return sdkerr.New(sdkerr.Usage, "get needs jobs, experiments, inferenceservices or all, and optionally a NAME")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kinds, err := inventory.KindsOf(args[0])
			if err != nil {
				return err
			}
			inv, err := newInventory(d)
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
				found, err := inv.Find(cmd.Context(), served, args[1])
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
				if o.LabelSelector != "" {
					selector += "," + o.LabelSelector
				}
				o.LabelSelector = selector
				// Human output of several kinds with the same columns (jobs): one table with a
				// KIND column.
				format := cmdutil.GetFlagString(cmd, "output")
				if len(served) > 1 && (format == "" || format == "wide") && !o.Watch && !o.WatchOnly && o.FieldSelector == "" && !cmd.Flags().Changed("sort-by") {
					table, ok, err := jobsTable(d, served, selector, o.AllNamespaces, o.ChunkSize)
					if err != nil {
						return err
					}
					if ok {
						return printJobsTable(d, table, o.AllNamespaces, cmdutil.GetFlagBool(cmd, "no-headers"), format == "wide")
					}
				}
			}
			o.ServerPrint = true
			if err := o.Complete(d.Factory, cmd, getArgs); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return sdkerr.Wrap(sdkerr.Usage, err, "")
			}
			return o.Run(d.Factory, getArgs)
		},
	}
	o.PrintFlags.AddFlags(cmd)
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "After listing, watch for changes.")
	cmd.Flags().BoolVar(&o.WatchOnly, "watch-only", false, "Watch for changes without listing first.")
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "List across all namespaces.")
	cmd.Flags().StringVar(&o.FieldSelector, "field-selector", "", "Selector (field query) to filter on.")
	cmdutil.AddChunkSizeFlag(cmd, &o.ChunkSize)
	cmdutil.AddLabelSelectorFlagVar(cmd, &o.LabelSelector)
	cmd.Flags().Bool("server-print", true, "Have the server return the table (CRD printer columns).")
	return cmd
}

// resourceArg names a served kind's resource for kubectl get: "tfjobs.v1.kubeflow.org".
func resourceArg(s inventory.Served) string {
	r := s.Mapping.Resource
	return r.Resource + "." + r.Version + "." + r.Group
}
