package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

// ModelFlags are what the model subcommands share: the model file.
type ModelFlags struct {
	Filename string
}

// NewCmdModel returns kubectl kaptain model and its subcommands.
func NewCmdModel(d *Deps) *cobra.Command {
	flags := &ModelFlags{Filename: "kaptain.yaml"}
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
	cmd.PersistentFlags().StringVarP(&flags.Filename, "filename", "f", flags.Filename, "The model's kaptain.yaml.")
	cmd.AddCommand(NewCmdModelMeta(d, flags), NewCmdModelHistory(d, flags), NewCmdModelLogData(d, flags), NewCmdModelLogMetrics(d, flags))
	return cmd
}

// modelRecord is a model and its record's store, completed from the flags.
type modelRecord struct {
	model *model.Model
	store *track.Store
}

// complete loads the model and makes the store; it contacts nothing.
func (f *ModelFlags) complete(d *Deps, factory cmdutil.Factory) (modelRecord, error) {
	m, err := model.LoadFile(f.Filename)
	if err != nil {
		return modelRecord{}, err
	}
	ns, _, err := factory.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return modelRecord{}, fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	cs, err := factory.KubernetesClientSet()
	if err != nil {
		return modelRecord{}, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return modelRecord{model: m, store: newStore(d, cs.CoreV1(), ns, m)}, nil
}

// get reads the record; nil without error when the model has none yet.
func (r modelRecord) get(ctx context.Context) (*track.Record, error) {
	rec, err := r.store.Get(ctx, r.model.Spec.ID, r.model.KubeName())
	if errors.Is(err, track.ErrNotTracked) {
		return nil, nil
	}
	return rec, err
}

// update changes the record with fn.
func (r modelRecord) update(ctx context.Context, fn func(*track.Record) error) (*track.Record, error) {
	return r.store.Update(ctx, r.model.Spec.ID, r.model.KubeName(), fn)
}
