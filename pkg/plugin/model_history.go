package plugin

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// ModelHistoryOptions lists the model's revisions.
type ModelHistoryOptions struct {
	deps   *Deps
	flags  *ModelFlags
	Output string

	record modelRecord
}

// NewCmdModelHistory returns kubectl kaptain model history.
func NewCmdModelHistory(d *Deps, flags *ModelFlags) *cobra.Command {
	o := &ModelHistoryOptions{deps: d, flags: flags}
	cmd := &cobra.Command{
		Use:     "history [-o yaml|json]",
		Short:   "List the model's revisions, newest last",
		Example: "  kubectl kaptain model history",
		Args:    cobra.NoArgs,
		RunE:    runWith(d, o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: yaml or json.")
	return cmd
}

// Complete loads the model and makes the record's store.
func (o *ModelHistoryOptions) Complete(f cmdutil.Factory, _ *cobra.Command, _ []string) (err error) {
	o.record, err = o.flags.complete(o.deps, f)
	return err
}

// Validate checks the output format.
func (o *ModelHistoryOptions) Validate() error { return validateOutput(o.Output, "", "yaml", "json") }

// Run prints the history.
func (o *ModelHistoryOptions) Run(ctx context.Context) error {
	rec, err := o.record.get(ctx)
	if err != nil {
		return err
	}
	if rec == nil {
		return sdkerr.New(sdkerr.ModelValidation, "no history: model %s is not tracked yet in namespace %s", o.record.model.Spec.ID, o.record.store.Namespace)
	}
	if o.Output != "" {
		return printData(o.deps.Streams.Out, o.Output, rec)
	}
	w := tabwriter.NewWriter(o.deps.Streams.Out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "REVISION\tACTION\tTIME\tRESULT\tWORKLOAD\tMETRICS\tDATA SETS")
	for _, e := range rec.History {
		result := "ok"
		if !e.Succeeded {
			result = "failed"
		}
		current := ""
		if e.Revision == rec.Revision && e.Succeeded {
			current = " *"
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\t%s\t%d\t%d\n", e.Revision, current, e.Action, e.Time.Format(time.RFC3339), result, orNone(e.Workload), len(e.Metrics), len(e.DataSets))
	}
	if rec.Trimmed > 0 {
		fmt.Fprintf(w, "(%d older entries trimmed)\n", rec.Trimmed)
	}
	return w.Flush()
}
