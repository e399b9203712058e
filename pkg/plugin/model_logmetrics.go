package plugin

import (
	"context"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

// ModelLogMetricsOptions records evaluation metrics of the current revision.
type ModelLogMetricsOptions struct {
	deps    *Deps
	flags   *ModelFlags
	Metrics track.Metrics

	args   []string
	record modelRecord
}

// NewCmdModelLogMetrics returns kubectl kaptain model log-metrics.
func NewCmdModelLogMetrics(d *Deps, flags *ModelFlags) *cobra.Command {
	o := &ModelLogMetricsOptions{deps: d, flags: flags}
	cmd := &cobra.Command{
		Use:     "log-metrics --type training|testing|validation|production NAME=VALUE... [--uri URI]",
		Short:   "Record evaluation metrics of the current revision",
		Example: "  kubectl kaptain model log-metrics --type testing accuracy=0.95 auc=0.975",
		RunE:    runWith(d, o),
	}
	cmd.Flags().StringVar(&o.Metrics.Type, "type", "", "Metrics type: "+strings.Join(track.MetricsTypes, ", ")+".")
	cmd.Flags().StringVar(&o.Metrics.URI, "uri", "", "Where the metrics come from, e.g. a log directory.")
	return cmd
}

// Complete keeps the NAME=VALUE arguments, loads the model and makes the record's store.
func (o *ModelLogMetricsOptions) Complete(f cmdutil.Factory, _ *cobra.Command, args []string) (err error) {
	o.args = args
	o.record, err = o.flags.complete(o.deps, f)
	return err
}

// Validate checks the type and parses the values.
func (o *ModelLogMetricsOptions) Validate() error {
	if len(o.args) == 0 {
		return sdkerr.New(sdkerr.Usage, "log-metrics needs at least one NAME=VALUE")
	}
	if !slices.Contains(track.MetricsTypes, o.Metrics.Type) {
		return sdkerr.New(sdkerr.UnsupportedMetricsType, "--type %q is not supported; use one of %s", o.Metrics.Type, strings.Join(track.MetricsTypes, ", "))
	}
	_, err := o.values()
	return err
}

// values parses the NAME=VALUE arguments.
func (o *ModelLogMetricsOptions) values() (map[string]float64, error) {
	pairs, err := config.ParseKeyValues("metric", o.args)
	if err != nil {
		return nil, err
	}
	values := map[string]float64{}
	for _, k := range slices.Sorted(maps.Keys(pairs)) {
		v, err := strconv.ParseFloat(pairs[k], 64)
		if err != nil {
			return nil, sdkerr.New(sdkerr.Usage, "metric %s=%q is not a number", k, pairs[k])
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, sdkerr.New(sdkerr.Usage, "metric %s=%q is not a finite number: the model's record could not keep it", k, pairs[k])
		}
		values[k] = v
	}
	return values, nil
}

// Run adds the metrics to the record.
func (o *ModelLogMetricsOptions) Run(ctx context.Context) error {
	m := o.Metrics
	var err error
	if m.Values, err = o.values(); err != nil {
		return err
	}
	m.Time = time.Now().UTC()
	rec, err := o.record.update(ctx, func(r *track.Record) error { return r.LogMetrics(m) })
	if err != nil {
		return err
	}
	o.deps.progress().Printf("%d %s metrics recorded for model %s, revision %s", len(m.Values), m.Type, o.record.model.Spec.ID, rec.Revision)
	return nil
}
