package plugin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
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
		Use:   "history [-o wide|yaml|json]",
		Short: "List the model's revisions, newest last",
		Long: `List the model's revisions, newest last: each action, when it ran, how it ended and the
workload it made; the current revision is marked *. -o wide adds each revision's
hyperparameters, its results (a tune's best trial's metrics), the metrics logged for it
(type:name=value) and its data sets.`,
		Example: `  kubectl kaptain model history

  # With each revision's hyperparameters, results, metrics and data sets
  kubectl kaptain model history -o wide`,
		Args: cobra.NoArgs,
		RunE: runWith(d, o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: wide, yaml or json.")
	return cmd
}

// Complete loads the model and makes the record's store.
func (o *ModelHistoryOptions) Complete(f cmdutil.Factory, _ *cobra.Command, _ []string) (err error) {
	o.record, err = o.flags.complete(o.deps, f)
	return err
}

// Validate checks the output format.
func (o *ModelHistoryOptions) Validate() error {
	return validateOutput(o.Output, "", "wide", "yaml", "json")
}

// Run prints the history.
func (o *ModelHistoryOptions) Run(ctx context.Context) error {
	rec, err := o.record.get(ctx)
	if err != nil {
		return err
	}
	if rec == nil {
		return sdkerr.New(sdkerr.ModelValidation, "no history: model %s is not tracked yet in namespace %s", o.record.model.Spec.ID, o.record.store.Namespace)
	}
	if o.Output == "yaml" || o.Output == "json" {
		return printData(o.deps.Streams.Out, o.Output, rec)
	}
	return printHistory(o.deps.Streams.Out, rec, o.Output == "wide")
}

// printHistory writes the record's entries as a table; wide shows the hyperparameters,
// results, metrics and data sets themselves, not their counts.
func printHistory(out io.Writer, rec *track.Record, wide bool) error {
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	if wide {
		fmt.Fprintln(w, "REVISION\tACTION\tTIME\tRESULT\tWORKLOAD\tHYPERPARAMETERS\tRESULTS\tMETRICS\tDATA SETS")
	} else {
		fmt.Fprintln(w, "REVISION\tACTION\tTIME\tRESULT\tWORKLOAD\tMETRICS\tDATA SETS")
	}
	for _, e := range rec.History {
		result := "ok"
		if !e.Succeeded {
			result = "failed"
		}
		current := ""
		if e.Revision == rec.Revision && e.Succeeded {
			current = " *"
		}
		if wide {
			fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Revision, current, e.Action, e.Time.Format(time.RFC3339), result, orNone(e.Workload),
				orNone(hyperparameterList(e.Hyperparameters)), orNone(metricsLine(e.Results)), orNone(loggedMetrics(e.Metrics)), orNone(dataSetList(e.DataSets)))
			continue
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\t%s\t%d\t%d\n", e.Revision, current, e.Action, e.Time.Format(time.RFC3339), result, orNone(e.Workload), len(e.Metrics), len(e.DataSets))
	}
	if rec.Trimmed > 0 {
		fmt.Fprintf(w, "(%d older entries trimmed)\n", rec.Trimmed)
	}
	return w.Flush()
}

// hyperparameterList is "name=value ..." in name order.
func hyperparameterList(h map[string]any) string {
	parts := make([]string, 0, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, h[k]))
	}
	return strings.Join(parts, " ")
}

// loggedMetrics is the metrics logged for a revision, "type:name=value ..." in the order logged.
func loggedMetrics(ms []track.Metrics) string {
	var parts []string
	for _, m := range ms {
		for _, k := range slices.Sorted(maps.Keys(m.Values)) {
			parts = append(parts, m.Type+":"+k+"="+strconv.FormatFloat(m.Values[k], 'g', -1, 64))
		}
	}
	return strings.Join(parts, " ")
}

// dataSetList is the data sets logged for a revision, "name@version" (or name) each.
func dataSetList(ds []track.DataSet) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		name := d.Name
		if d.Version != "" {
			name += "@" + d.Version
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, " ")
}
