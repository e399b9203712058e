package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/describe"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
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
	return o.inv.Describe(ctx, out, obj)
}
