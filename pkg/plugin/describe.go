package plugin

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/kubectl/pkg/describe"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// NewCmdDescribe returns kubectl kaptain describe.
func NewCmdDescribe(d *Deps) *cobra.Command {
	return &cobra.Command{
		ValidArgsFunction: completeGroupThenName(d, "job", "experiment", "inferenceservice", "build"),
		Use:               "describe job|experiment|inferenceservice|build NAME",
		Short:             "Describe a workload with kubectl's describer and its events, plus what kaptain knows of it",
		Long: `Describe a job, experiment or inference service as kubectl describe does (fields and
events), followed by a Kaptain section: a job's replicas and their pods, an experiment's best
trial, a service's URL and traffic split.`,
		Example: `  kubectl kaptain describe job dev-mnist-14fbf217-train-6f1c2b
  kubectl kaptain describe inferenceservice dev-mnist-14fbf217`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return sdkerr.New(sdkerr.Usage, "describe needs job, experiment or inferenceservice and a NAME")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
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
			found, err := inv.Find(ctx, served, args[1])
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return sdkerr.New(sdkerr.Unknown, "no %s named %s in namespace %s", inventory.Names(kinds), args[1], inv.Namespace)
			}
			cfg, err := d.Factory.ToRESTConfig()
			if err != nil {
				return err
			}
			obj := found[0]
			describer, ok := describe.GenericDescriberFor(obj.Mapping, cfg)
			if !ok {
				return fmt.Errorf("no describer for %s", obj.Mapping.Resource.Resource)
			}
			text, err := describer.Describe(inv.Namespace, args[1], describe.DescriberSettings{ShowEvents: true, ChunkSize: 500})
			if err != nil {
				return err
			}
			out := d.Streams.Out
			fmt.Fprint(out, text)
			fmt.Fprintln(out, "Kaptain:")
			return inv.Describe(ctx, out, obj)
		},
	}
}
