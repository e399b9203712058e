package plugin

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Meta is the SDK's ModelMeta: a copy of the model's properties, with its tracked state.
type Meta struct {
	model.Spec
	State    track.State `json:"state"`
	Revision string      `json:"revision,omitempty"`
	ModelURI string      `json:"modelUri,omitempty"`
	Updated  *time.Time  `json:"updated,omitempty"`
}

// ModelMetaOptions prints the model's properties with its tracked state.
type ModelMetaOptions struct {
	deps   *Deps
	flags  *ModelFlags
	Output string

	record modelRecord
}

// NewCmdModelMeta returns kubectl kaptain model meta.
func NewCmdModelMeta(d *Deps, flags *ModelFlags) *cobra.Command {
	o := &ModelMetaOptions{deps: d, flags: flags}
	cmd := &cobra.Command{
		Use:     "meta [-o yaml|json]",
		Short:   "Print the model's properties, state, revision and hyperparameters",
		Example: "  kubectl kaptain model meta -o json",
		Args:    cobra.NoArgs,
		RunE:    runWith(d, o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: yaml or json.")
	return cmd
}

// Complete loads the model and makes the record's store.
func (o *ModelMetaOptions) Complete(f cmdutil.Factory, _ *cobra.Command, _ []string) (err error) {
	o.record, err = o.flags.complete(o.deps, f)
	return err
}

// Validate checks the output format.
func (o *ModelMetaOptions) Validate() error { return validateOutput(o.Output, "", "yaml", "json") }

// Run prints the model's meta.
func (o *ModelMetaOptions) Run(ctx context.Context) error {
	rec, err := o.record.get(ctx)
	if err != nil {
		return err
	}
	meta := Meta{Spec: o.record.model.Spec, State: track.Untrained}
	if rec != nil {
		meta.State, meta.Revision, meta.Updated = rec.State, rec.Revision, &rec.Updated
		if rec.Hyperparameters != nil {
			meta.Hyperparameters = rec.Hyperparameters
		}
		meta.ModelURI = rec.LatestModelURI()
	}
	if o.Output != "" {
		return printData(o.deps.Streams.Out, o.Output, meta)
	}
	w := tabwriter.NewWriter(o.deps.Streams.Out, 0, 8, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"ID", meta.ID}, {"Name", meta.Name}, {"Version", meta.Version},
		{"Framework", meta.Framework + " " + meta.FrameworkVersion}, {"Image", meta.Image},
		{"State", string(meta.State)}, {"Revision", orNone(meta.Revision)},
		{"Hyperparameters", orNone(strings.Join(workload.Arguments(meta.Hyperparameters, nil), " "))},
		{"Model URI", orNone(meta.ModelURI)},
	} {
		fmt.Fprintf(w, "%s:\t%s\n", kv[0], kv[1])
	}
	return w.Flush()
}
