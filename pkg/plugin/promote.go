package plugin

import (
	"github.com/spf13/cobra"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

// NewCmdPromote returns kubectl kaptain promote: the canary gets all the traffic.
func NewCmdPromote(d *Deps) *cobra.Command {
	flags := NewActionFlags()
	var wait ServeFlags
	cmd := &cobra.Command{
		Use:   "promote [-f kaptain.yaml]",
		Short: "Send all the traffic to the canary (the SDK's promote_canary)",
		Example: `  kubectl kaptain deploy --canary-traffic-percent 30 --model-uri s3://kaptain/models/dev/mnist/trained/7b93
  kubectl kaptain promote`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := completeServing(cmd.Context(), cmd, d, flags)
			if err != nil {
				return err
			}
			if err := s.requireCanary("promote"); err != nil {
				return err
			}
			uri, _ := s.currentURIs()
			err = s.reapply(cmd.Context(), uri, "promote", wait)
			if s.action.applier != nil && !s.action.applier.DryRun {
				s.record(cmd.Context(), track.Action{Name: "deploy", Revision: d.NewRevision(), Err: err, ModelURI: uri, Workload: "inferenceservice." + s.gvk.Group + "/" + s.name})
			}
			return err
		},
	}
	flags.AddFlags(cmd)
	wait.addFlags(cmd)
	return cmd
}
