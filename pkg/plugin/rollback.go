package plugin

import (
	"github.com/spf13/cobra"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

// NewCmdRollback returns kubectl kaptain rollback: the canary goes, the previous model gets
// all the traffic.
func NewCmdRollback(d *Deps) *cobra.Command {
	flags := NewActionFlags()
	var wait ServeFlags
	cmd := &cobra.Command{
		Use:   "rollback [-f kaptain.yaml]",
		Short: "Remove the canary and send all the traffic to the previous model (the SDK's rollback_canary)",
		Long: `Remove the canary and serve the model deployed before it with all the traffic. The
previous model's URI is kept on the InferenceService (annotation kaptain.dev/previous-model-uri),
so rollback works from any machine.`,
		Example: `  kubectl kaptain rollback`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := completeServing(cmd.Context(), cmd, d, flags)
			if err != nil {
				return err
			}
			if err := s.requireCanary("roll back"); err != nil {
				return err
			}
			_, previous := s.currentURIs()
			err = s.reapply(cmd.Context(), previous, "rollback", wait)
			if s.action.applier != nil && !s.action.applier.DryRun {
				s.record(cmd.Context(), track.Action{Name: "deploy", Revision: d.NewRevision(), Err: err, ModelURI: previous, Workload: "inferenceservice." + s.gvk.Group + "/" + s.name})
			}
			return err
		},
	}
	flags.AddFlags(cmd)
	wait.addFlags(cmd)
	return cmd
}
