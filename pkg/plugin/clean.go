package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// CleanOptions removes what no workload uses any more, and with --all the finished workloads.
type CleanOptions struct {
	clusterArgs
	deps  *Deps
	All   bool
	Force bool
	// MinAge spares credentials younger than it: an action that has made its Secret may not
	// have made the workload that will own it yet.
	MinAge time.Duration
}

// defaultMinAge covers the window between an action's first Secret and its workload: at
// most the admission webhooks' timeouts (30 s each) of the objects made after the Secret.
const defaultMinAge = 2 * time.Minute

// NewCmdClean returns kubectl kaptain clean.
func NewCmdClean(d *Deps) *cobra.Command {
	o := &CleanOptions{deps: d}
	cmd := &cobra.Command{
		Use:   "clean [--all] [--force]",
		Short: "Delete stale Secrets and ServiceAccounts kaptain made; with --all, finished workloads too (Kaptain SDK: clean, clean_all)",
		Long: `Find the Secrets and ServiceAccounts kaptain made that no workload uses any more: their
owner is gone and no job, experiment or inference service names them; and the finished
TrainJobs whose --ttl-seconds-after-finished has passed (Kubeflow Trainer v2 has no TTL of its
own: train keeps it as the annotation kaptain.dev/ttl-seconds-after-finished).

WARNING: use with caution. Without --force, clean only prints what it would delete; check
the list, then run it again with --force.

A Secret or ServiceAccount younger than --min-age is kept: a train or deploy running now
makes its credentials a moment before the workload that will own them. After an action was
killed (kill -9, a lost machine), its credentials are listed at once and removed once they
are that old, or now with --min-age=0 when nothing else runs in the namespace. With --all
--force, every one goes.

With --all, it also deletes the workloads kaptain made, as 'delete all --all' does: without
--force only finished jobs and experiments and services that are not ready, with --force all
of them. Model records (ConfigMaps kaptain-model-*) are kept.`,
		Example: `  kubectl kaptain clean            # what would go
  kubectl kaptain clean --force    # delete it
  kubectl kaptain clean --force --min-age=0   # also what an action killed a moment ago left
  kubectl kaptain clean --all --force`,
		Args: cobra.NoArgs,
		RunE: runWith(d, o),
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "Also delete the workloads kaptain made (finished ones only, without --force).")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Delete, instead of printing what would be deleted.")
	cmd.Flags().DurationVar(&o.MinAge, "min-age", defaultMinAge, "Keep unused Secrets and ServiceAccounts younger than this: an action running now may be about to make the workload that uses them.")
	return cmd
}

// Validate checks --min-age.
func (o *CleanOptions) Validate() error {
	if o.MinAge < 0 {
		return sdkerr.New(sdkerr.Usage, "--min-age must not be negative, got %s", o.MinAge)
	}
	return nil
}

// Run deletes (or, without --force, lists) the stale credentials, after the finished
// workloads with --all.
func (o *CleanOptions) Run(ctx context.Context) error {
	out, progress := o.deps.Streams.Out, o.deps.progress()
	deleted := func(name string) { fmt.Fprintf(out, "%s deleted\n", name) }
	if o.All {
		served, err := o.inv.Serve(inventory.Kinds(), inventory.Warn(progress.Printf))
		if err != nil {
			return err
		}
		kept, err := o.inv.Prune(ctx, served, o.Force, deleted)
		if kept > 0 {
			progress.Printf("kept %d running or ready all; add --force to delete them too", kept)
		}
		if err != nil {
			return err
		}
	}
	served, err := o.inv.Serve(inventory.Kinds(), nil)
	if err != nil {
		return err
	}
	stale := 0
	// A TrainJob has no TTL: the one train was given is honoured here.
	expired, err := o.inv.Expired(ctx, served, time.Now())
	if err != nil {
		return err
	}
	for _, e := range expired {
		stale++
		if !o.Force {
			fmt.Fprintf(out, "%s/%s would be deleted (finished, and its TTL of %ss has passed)\n", e.Mapping.Resource.Resource, e.Obj.GetName(), e.Obj.GetAnnotations()[model.AnnotationTTLSecondsAfterFinished])
			continue
		}
		name, err := o.inv.Delete(ctx, e.Mapping.Resource, e.Obj, false)
		if err != nil {
			return err
		}
		deleted(name)
	}
	creds, err := o.inv.Credentials(ctx, served)
	if err != nil {
		return err
	}
	young := 0
	for _, c := range creds {
		if !c.Stale {
			continue
		}
		// With --all --force every workload went, and its credentials go with it.
		if age := time.Since(c.Obj.GetCreationTimestamp().Time); age < o.MinAge && (!o.All || !o.Force) {
			young++
			fmt.Fprintf(out, "%s/%s kept for now (not used by any workload, but made %s ago: an action may be about to make its workload; it goes once %s old)\n",
				c.Resource.Resource, c.Obj.GetName(), age.Round(time.Second), o.MinAge)
			continue
		}
		stale++
		if !o.Force {
			fmt.Fprintf(out, "%s/%s would be deleted (not used by any workload)\n", c.Resource.Resource, c.Obj.GetName())
			continue
		}
		name, err := o.inv.Delete(ctx, c.Resource, c.Obj, false)
		if err != nil {
			return err
		}
		deleted(name)
	}
	if stale > 0 && !o.Force {
		progress.Printf("nothing was deleted; check the list, then run again with --force")
	}
	if young > 0 {
		progress.Printf("%d unused but younger than --min-age=%s; if no action runs in %s now, --min-age=0 removes them too", young, o.MinAge, o.inv.Namespace)
	}
	return nil
}
