package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// ModelOptions are what the model subcommands share: the model file, output format and the
// record store.
type ModelOptions struct {
	deps     *Deps
	Filename string
	Output   string

	model *model.Model
	store *track.Store
}

// NewCmdModel returns kubectl kaptain model and its subcommands.
func NewCmdModel(d *Deps) *cobra.Command {
	o := &ModelOptions{deps: d, Filename: "kaptain.yaml"}
	cmd := &cobra.Command{
		Use:   "model meta|history|log-data|log-metrics",
		Short: "Show and add to the model's tracked revisions, metrics and data sets",
		Long: `Every train, tune and deploy records a revision of the model in the cluster (a ConfigMap
named kaptain-model-<name>), with its hyperparameters, image, model URI and workload. These
commands show the record and add metrics and data sets to the current revision.`,
		Example: `  kubectl kaptain model meta -o yaml
  kubectl kaptain model history
  kubectl kaptain model log-metrics --type validation accuracy=0.97 loss=0.08
  kubectl kaptain model log-data mnist s3://datasets/mnist --feature pixels --version 2`,
	}
	cmd.PersistentFlags().StringVarP(&o.Filename, "filename", "f", o.Filename, "The model's kaptain.yaml.")
	cmd.AddCommand(newCmdModelMeta(o), newCmdModelHistory(o), newCmdModelLogData(o), newCmdModelLogMetrics(o))
	return cmd
}

// complete loads the model and makes the store.
func (o *ModelOptions) complete() error {
	m, err := model.LoadFile(o.Filename)
	if err != nil {
		return err
	}
	o.model = m
	ns, _, err := o.deps.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	cs, err := o.deps.Factory.KubernetesClientSet()
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	o.store = newStore(o.deps, cs.CoreV1(), ns, m)
	return nil
}

func newStore(d *Deps, cms corev1client.ConfigMapsGetter, ns string, m *model.Model) *track.Store {
	return &track.Store{
		ConfigMaps: cms, Namespace: ns,
		Labels: map[string]string{model.LabelManagedBy: model.ManagedByValue, model.LabelModel: m.KubeName()}, Annotations: m.Annotations(),
		NewRevision: d.NewRevision, Now: time.Now,
	}
}

func validateOutput(output string, allowed ...string) error {
	if !slices.Contains(allowed, output) {
		return sdkerr.New(sdkerr.Usage, "--output %q is not supported; use %s", output, strings.Join(allowed[1:], " or "))
	}
	return nil
}

// printData writes v as YAML or JSON.
func printData(w io.Writer, format string, v any) error {
	var data []byte
	var err error
	if format == "json" {
		data, err = json.MarshalIndent(v, "", "    ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encoding output: %w", err)
	}
	_, err = w.Write(data)
	return err
}

// Meta is the SDK's ModelMeta: a copy of the model's properties, with its tracked state.
type Meta struct {
	model.Spec
	State    track.State `json:"state"`
	Revision string      `json:"revision,omitempty"`
	ModelURI string      `json:"modelUri,omitempty"`
	Updated  *time.Time  `json:"updated,omitempty"`
}

func newCmdModelMeta(o *ModelOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "meta [-o yaml|json]",
		Short:   "Print the model's properties, state, revision and hyperparameters",
		Example: "  kubectl kaptain model meta -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(o.Output, "", "yaml", "json"); err != nil {
				return err
			}
			if err := o.complete(); err != nil {
				return err
			}
			s := o.model.Spec
			meta := Meta{Spec: s, State: track.Untrained}
			rec, err := o.store.Get(cmd.Context(), s.ID, o.model.KubeName())
			switch {
			case err == nil:
				meta.State, meta.Revision, meta.Updated = rec.State, rec.Revision, &rec.Updated
				if rec.Hyperparameters != nil {
					meta.Hyperparameters = rec.Hyperparameters
				}
				meta.ModelURI = rec.LatestModelURI()
			case !isNotTracked(err):
				return err
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
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: yaml or json.")
	return cmd
}

func newCmdModelHistory(o *ModelOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "history [-o yaml|json]",
		Short:   "List the model's revisions, newest last",
		Example: "  kubectl kaptain model history",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(o.Output, "", "yaml", "json"); err != nil {
				return err
			}
			if err := o.complete(); err != nil {
				return err
			}
			rec, err := o.store.Get(cmd.Context(), o.model.Spec.ID, o.model.KubeName())
			if isNotTracked(err) {
				return sdkerr.Wrap(sdkerr.ModelValidation, err, "no history")
			}
			if err != nil {
				return err
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
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: yaml or json.")
	return cmd
}

func newCmdModelLogData(o *ModelOptions) *cobra.Command {
	var d track.DataSet
	cmd := &cobra.Command{
		Use:     "log-data NAME URI [--description TEXT] [--feature F]... [--version V]",
		Short:   "Record a data set used by the current revision",
		Example: "  kubectl kaptain model log-data mnist s3://datasets/mnist --description 'MNIST digits' --feature pixels --version 2",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 || strings.TrimSpace(args[0]) == "" || strings.TrimSpace(args[1]) == "" {
				return sdkerr.New(sdkerr.Usage, "log-data needs a NAME and a URI")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(d.Description) > 4096 || len(args[0]) > 253 || len(args[1]) > 2048 || len(d.Features) > 100 {
				return sdkerr.New(sdkerr.Usage, "log-data: a NAME of at most 253 characters, a URI of at most 2048, a --description of at most 4096 and at most 100 --feature, please")
			}
			if err := o.complete(); err != nil {
				return err
			}
			d.Name, d.URI, d.Time = args[0], args[1], time.Now().UTC()
			rec, err := o.store.Update(cmd.Context(), o.model.Spec.ID, o.model.KubeName(), func(r *track.Record) error {
				r.LogData(d)
				return nil
			})
			if err != nil {
				return err
			}
			o.deps.progress().Printf("data set %s recorded for model %s, revision %s", d.Name, o.model.Spec.ID, rec.Revision)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&d.Description, "description", "", "What the data set is.")
	f.StringArrayVar(&d.Features, "feature", nil, "A feature used. Repeatable.")
	f.StringVar(&d.Version, "version", "", "The data set's version.")
	return cmd
}

func newCmdModelLogMetrics(o *ModelOptions) *cobra.Command {
	var m track.Metrics
	cmd := &cobra.Command{
		Use:     "log-metrics --type training|testing|validation|production NAME=VALUE... [--uri URI]",
		Short:   "Record evaluation metrics of the current revision",
		Example: "  kubectl kaptain model log-metrics --type testing accuracy=0.95 auc=0.975",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return sdkerr.New(sdkerr.Usage, "log-metrics needs at least one NAME=VALUE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(track.MetricsTypes, m.Type) {
				return sdkerr.New(sdkerr.UnsupportedMetricsType, "--type %q is not supported; use one of %s", m.Type, strings.Join(track.MetricsTypes, ", "))
			}
			pairs, err := config.ParseKeyValues("metric", args)
			if err != nil {
				return err
			}
			m.Values = map[string]float64{}
			for _, k := range slices.Sorted(maps.Keys(pairs)) {
				v, err := strconv.ParseFloat(pairs[k], 64)
				if err != nil {
					return sdkerr.New(sdkerr.Usage, "metric %s=%q is not a number", k, pairs[k])
				}
				m.Values[k] = v
			}
			if err := o.complete(); err != nil {
				return err
			}
			m.Time = time.Now().UTC()
			rec, err := o.store.Update(cmd.Context(), o.model.Spec.ID, o.model.KubeName(), func(r *track.Record) error { return r.LogMetrics(m) })
			if err != nil {
				return err
			}
			o.deps.progress().Printf("%d %s metrics recorded for model %s, revision %s", len(m.Values), m.Type, o.model.Spec.ID, rec.Revision)
			return nil
		},
	}
	cmd.Flags().StringVar(&m.Type, "type", "", "Metrics type: "+strings.Join(track.MetricsTypes, ", ")+".")
	cmd.Flags().StringVar(&m.URI, "uri", "", "Where the metrics come from, e.g. a log directory.")
	return cmd
}

// recordAction adds a finished action to the model's record. A failure to record is a
// warning: the action itself is done.
func recordAction(ctx context.Context, d *Deps, ns string, m *model.Model, a track.Action) {
	cs, err := d.Factory.KubernetesClientSet()
	if err == nil {
		_, err = newStore(d, cs.CoreV1(), ns, m).Update(context.WithoutCancel(ctx), m.Spec.ID, m.KubeName(), func(r *track.Record) error {
			r.Apply(a, time.Now().UTC())
			return nil
		})
	}
	if err != nil {
		d.progress().Printf("warning: the model's record was not updated: %v", err)
	}
}

func isNotTracked(err error) bool { return errors.Is(err, track.ErrNotTracked) }

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
