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
}

// NewCmdDescribe returns kubectl kaptain describe.
func NewCmdDescribe(d *Deps) *cobra.Command {
	o := &DescribeOptions{deps: d}
	return &cobra.Command{
		ValidArgsFunction: completeGroupThenName(d, "job", "experiment", "inferenceservice", "build"),
		Use:               "describe job|experiment|inferenceservice|build NAME",
		Short:             "Describe a workload with kubectl's describer and its events, plus what kaptain knows of it",
		Long: `Describe a job, experiment or inference service as kubectl describe does (fields and
events), followed by a Kaptain section: a job's replicas and their pods, an experiment's best
trial, a service's URL and traffic split.`,
		Example: `  kubectl kaptain describe job dev-mnist-14fbf217-train-6f1c2b
  kubectl kaptain describe inferenceservice dev-mnist-14fbf217`,
		RunE: runWith(d, o),
	}
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
		return sdkerr.New(sdkerr.Usage, "describe needs job, experiment or inferenceservice and a NAME")
	}
	_, err := inventory.KindsOf(o.args[0])
	return err
}

// Run prints kubectl's description and the Kaptain section.
func (o *DescribeOptions) Run(ctx context.Context) error {
	kinds, _ := inventory.KindsOf(o.args[0])
	name := o.args[1]
	served, err := o.inv.Serve(kinds, inventory.Warn(o.deps.progress().Printf))
	if err != nil {
		return err
	}
	found, err := o.inv.Find(ctx, served, name)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return sdkerr.New(sdkerr.Unknown, "no %s named %s in namespace %s", inventory.Names(kinds), name, o.inv.Namespace)
	}
	obj := found[0]
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
