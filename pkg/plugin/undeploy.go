package plugin

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// UndeployOptions removes the model's inference service with its storage credentials.
type UndeployOptions struct {
	deps   *Deps
	Action *ActionFlags

	serving *serving
	inv     *inventory.Inventory
}

// NewCmdUndeploy returns kubectl kaptain undeploy.
func NewCmdUndeploy(d *Deps) *cobra.Command {
	o := &UndeployOptions{deps: d, Action: NewActionFlags()}
	cmd := &cobra.Command{
		Use:     "undeploy [-f kaptain.yaml]",
		Short:   "Remove the model's inference service, canary included, with its storage Secret and ServiceAccount",
		Example: `  kubectl kaptain undeploy`,
		Args:    cobra.NoArgs,
		RunE:    runWith(d, o),
	}
	o.Action.AddFlags(cmd)
	return cmd
}

// Complete loads the model and reads its deployment from the cluster.
func (o *UndeployOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	o.Action.PrintFlags.NamePrintFlags.Operation = "deleted"
	s, err := completeServing(cmd.Context(), f, cmd, o.deps, o.Action)
	if err != nil {
		return err
	}
	o.serving, o.inv = s, s.inv
	return nil
}

// Validate checks that there is a deployment to remove.
func (o *UndeployOptions) Validate() error {
	s := o.serving
	if s.action.mode.Offline() {
		return sdkerr.New(sdkerr.Usage, "undeploy reads the deployment from the cluster; use --dry-run=server")
	}
	if s.current == nil {
		return sdkerr.New(sdkerr.ModelDeployment, "model %s is not deployed: there is no inferenceservice %s in namespace %s", s.model.Spec.ID, s.name, s.action.namespace)
	}
	return nil
}

// Run deletes the service, then its storage Secret and ServiceAccount when kaptain made them.
func (o *UndeployOptions) Run(ctx context.Context) error {
	s := o.serving
	dryRun := s.action.mode.ServerSide()
	// Once begun, the removal finishes, Ctrl-C or not, and tries every object.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := o.inv.Delete(ctx, s.resource, s.current, dryRun)
	errs := []error{err}
	for _, gvr := range []schema.GroupVersionResource{inventory.Secrets, inventory.ServiceAccounts} {
		obj, err := o.inv.Dynamic.Resource(gvr).Namespace(s.action.namespace).Get(ctx, s.name+"-storage", metav1.GetOptions{})
		if err != nil || !model.IsManaged(obj.GetLabels()) {
			continue
		}
		_, err = o.inv.Delete(ctx, gvr, obj, dryRun)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return sdkerr.Wrap(sdkerr.ModelDeployment, err, "undeploying model %s", s.model.Spec.ID)
	}
	printer, err := cmdutil.PrintFlagsWithDryRunStrategy(o.Action.PrintFlags, s.action.mode.Strategy()).ToPrinter()
	if err != nil {
		return sdkerr.Wrap(sdkerr.Usage, err, "--output")
	}
	return printer.PrintObj(s.current, o.deps.Streams.Out)
}
