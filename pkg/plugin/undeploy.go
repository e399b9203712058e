package plugin

import (
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// NewCmdUndeploy returns kubectl kaptain undeploy.
func NewCmdUndeploy(d *Deps) *cobra.Command {
	flags := NewActionFlags()
	cmd := &cobra.Command{
		Use:     "undeploy [-f kaptain.yaml]",
		Short:   "Remove the model's inference service, canary included, with its storage Secret and ServiceAccount",
		Example: `  kubectl kaptain undeploy`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := completeServing(cmd.Context(), cmd, d, flags)
			if err != nil {
				return err
			}
			if s.action.dryRun == cmdutil.DryRunClient {
				return sdkerr.New(sdkerr.Usage, "undeploy reads the deployment from the cluster; use --dry-run=server")
			}
			if s.current == nil {
				return sdkerr.New(sdkerr.ModelDeployment, "model %s is not deployed: there is no inferenceservice %s in namespace %s", s.model.Spec.ID, s.name, s.action.namespace)
			}
			mapper, err := d.Factory.ToRESTMapper()
			if err != nil {
				return err
			}
			client, err := d.Factory.DynamicClient()
			if err != nil {
				return err
			}
			// The storage Secret and ServiceAccount go too, if kaptain made them.
			var objs []*unstructured.Unstructured
			for _, gvr := range []schema.GroupVersionResource{{Version: "v1", Resource: "secrets"}, {Version: "v1", Resource: "serviceaccounts"}} {
				obj, err := client.Resource(gvr).Namespace(s.action.namespace).Get(cmd.Context(), s.name+"-storage", metav1.GetOptions{})
				if err == nil && model.IsManaged(obj.GetLabels()) {
					objs = append(objs, obj)
				}
			}
			objs = append(objs, s.current)
			a := &apply.Applier{Client: client, Mapper: mapper, DryRun: s.action.dryRun == cmdutil.DryRunServer}
			if err := a.Delete(objs); err != nil {
				return sdkerr.Wrap(sdkerr.ModelDeployment, err, "undeploying model %s", s.model.Spec.ID)
			}
			suffix := ""
			if a.DryRun {
				suffix = " (server dry run)"
			}
			_, err = cmd.OutOrStdout().Write([]byte("inferenceservice." + s.gvk.Group + "/" + s.name + " deleted" + suffix + "\n"))
			return err
		},
	}
	flags.AddFlags(cmd)
	return cmd
}
