package plugin

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

// ModelLogDataOptions records a data set used by the current revision.
type ModelLogDataOptions struct {
	deps  *Deps
	flags *ModelFlags
	Data  track.DataSet

	args   []string
	record modelRecord
}

// NewCmdModelLogData returns kubectl kaptain model log-data.
func NewCmdModelLogData(d *Deps, flags *ModelFlags) *cobra.Command {
	o := &ModelLogDataOptions{deps: d, flags: flags}
	cmd := &cobra.Command{
		Use:     "log-data NAME URI [--description TEXT] [--feature F]... [--version V]",
		Short:   "Record a data set used by the current revision",
		Example: "  kubectl kaptain model log-data mnist s3://datasets/mnist --description 'MNIST digits' --feature pixels --version 2",
		RunE:    runWith(d, o),
	}
	f := cmd.Flags()
	f.StringVar(&o.Data.Description, "description", "", "What the data set is.")
	f.StringArrayVar(&o.Data.Features, "feature", nil, "A feature used. Repeatable.")
	f.StringVar(&o.Data.Version, "version", "", "The data set's version.")
	return cmd
}

// Complete keeps the arguments, loads the model and makes the record's store.
func (o *ModelLogDataOptions) Complete(f cmdutil.Factory, _ *cobra.Command, args []string) (err error) {
	o.args = args
	o.record, err = o.flags.complete(o.deps, f)
	return err
}

// Validate checks the name, URI and sizes.
func (o *ModelLogDataOptions) Validate() error {
	if len(o.args) != 2 || strings.TrimSpace(o.args[0]) == "" || strings.TrimSpace(o.args[1]) == "" {
		return sdkerr.New(sdkerr.Usage, "log-data needs a NAME and a URI")
	}
	if len(o.Data.Description) > 4096 || len(o.args[0]) > 253 || len(o.args[1]) > 2048 || len(o.Data.Features) > 100 {
		return sdkerr.New(sdkerr.Usage, "log-data: a NAME of at most 253 characters, a URI of at most 2048, a --description of at most 4096 and at most 100 --feature, please")
	}
	return nil
}

// Run adds the data set to the record.
func (o *ModelLogDataOptions) Run(ctx context.Context) error {
	d := o.Data
	d.Name, d.URI, d.Time = o.args[0], o.args[1], time.Now().UTC()
	rec, err := o.record.update(ctx, func(r *track.Record) error {
		r.LogData(d)
		return nil
	})
	if err != nil {
		return err
	}
	o.deps.progress().Printf("data set %s recorded for model %s, revision %s", d.Name, o.record.model.Spec.ID, rec.Revision)
	return nil
}
