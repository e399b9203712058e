package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// DeleteOptions deletes one workload by name, or all that kaptain made.
type DeleteOptions struct {
	clusterArgs
	deps  *Deps
	All   bool
	Force bool
	Kind  string
}

// NewCmdDelete returns kubectl kaptain delete.
func NewCmdDelete(d *Deps) *cobra.Command {
	o := &DeleteOptions{deps: d}
	cmd := &cobra.Command{
		ValidArgsFunction: completeGroupThenName(d, "job", "experiment", "inferenceservice", "build", "jobs", "experiments", "inferenceservices", "builds", "all"),
		Use:               "delete (job|experiment|inferenceservice|build NAME | jobs|experiments|inferenceservices|builds|all --all [--force])",
		Short:             "Delete a workload kaptain made, or all of them (Kaptain SDK: delete_*)",
		Long: `Delete one job, experiment or inference service by name, or with --all every one that
kaptain made in the namespace. Without --force, --all deletes only finished jobs and
experiments and inference services that are not ready; with --force, all of them. Objects
without the label app.kubernetes.io/managed-by=kubectl-kaptain are never deleted.`,
		Example: `  kubectl kaptain delete job dev-mnist-14fbf217-train-6f1c2b
  kubectl kaptain delete jobs --all
  kubectl kaptain delete all --all --force`,
		RunE: runWith(d, o),
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "Delete every object of the kinds that kaptain made (finished ones only, without --force).")
	cmd.Flags().BoolVar(&o.Force, "force", false, "With --all, delete running jobs and experiments and ready services too.")
	cmd.Flags().StringVar(&o.Kind, "kind", "", "The object's kind when objects of several kinds have NAME, e.g. tfjob, pytorchjob or trainjob.")
	return cmd
}

// Validate checks the arguments; it is pure.
func (o *DeleteOptions) Validate() error {
	switch {
	case o.All && len(o.args) != 1:
		return sdkerr.New(sdkerr.Usage, "delete --all takes one of jobs, experiments, inferenceservices, builds or all, and no NAME")
	case !o.All && len(o.args) != 2:
		return sdkerr.New(sdkerr.Usage, "delete needs job, experiment, inferenceservice or build and a NAME, or --all")
	case o.Force && !o.All:
		return sdkerr.New(sdkerr.Usage, "--force only applies with --all")
	}
	kinds, err := inventory.KindsOf(o.args[0])
	if err != nil {
		return err
	}
	_, err = inventory.Only(kinds, o.Kind)
	return err
}

// Run deletes.
func (o *DeleteOptions) Run(ctx context.Context) error {
	kinds, _ := inventory.KindsOf(o.args[0])
	kinds, err := inventory.Only(kinds, o.Kind)
	if err != nil {
		return err
	}
	served, err := o.inv.Serve(kinds, inventory.Warn(o.deps.progress().Printf))
	if err != nil {
		return err
	}
	deleted := func(name string) { fmt.Fprintf(o.deps.Streams.Out, "%s deleted\n", name) }
	if !o.All {
		obj, err := o.inv.FindOne(ctx, served, o.args[1])
		if err != nil {
			return err
		}
		name, err := o.inv.Delete(ctx, obj.Mapping.Resource, obj.Obj, false)
		if err == nil {
			deleted(name)
		}
		return err
	}
	kept, err := o.inv.Prune(ctx, served, o.Force, deleted)
	if kept > 0 {
		o.deps.progress().Printf("kept %d running or ready %s; add --force to delete them too", kept, o.args[0])
	}
	return err
}
