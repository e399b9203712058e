package plugin

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// TrafficOptions ends a canary: promote sends all the traffic to the canary's model,
// rollback back to the model deployed before it. Both apply the service again with one
// model URI and no canary, keeping everything else (resources, autoscaling) as deployed.
type TrafficOptions struct {
	deps   *Deps
	Action *ActionFlags
	Serve  ServeFlags

	// Promote keeps the canary's model; rollback (false) the previous one.
	Promote bool

	serving *serving
}

// NewCmdPromote returns kubectl kaptain promote: the canary gets all the traffic.
func NewCmdPromote(d *Deps) *cobra.Command {
	o := &TrafficOptions{deps: d, Action: NewActionFlags(), Promote: true}
	return o.command(&cobra.Command{
		Use:   "promote [-f kaptain.yaml]",
		Short: "Send all the traffic to the canary (Kaptain SDK: promote_canary)",
		Example: `  kubectl kaptain deploy --canary-traffic-percent 30 --model-uri s3://kaptain/models/dev/mnist/trained/7b93
  kubectl kaptain promote`,
	})
}

// NewCmdRollback returns kubectl kaptain rollback: the canary goes, the previous model gets
// all the traffic.
func NewCmdRollback(d *Deps) *cobra.Command {
	o := &TrafficOptions{deps: d, Action: NewActionFlags()}
	return o.command(&cobra.Command{
		Use:   "rollback [-f kaptain.yaml]",
		Short: "Remove the canary and send all the traffic to the previous model (Kaptain SDK: rollback_canary)",
		Long: `Remove the canary and serve the model deployed before it with all the traffic. The
previous model's URI is kept on the InferenceService (annotation kaptain.dev/previous-model-uri),
so rollback works from any machine.`,
		Example: `  kubectl kaptain rollback`,
	})
}

// command completes cmd with the options' flags and run function.
func (o *TrafficOptions) command(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.NoArgs
	cmd.RunE = runWith(o.deps, o)
	o.Action.AddFlags(cmd)
	o.Serve.addFlags(cmd)
	return cmd
}

// Complete loads the model and reads its deployment from the cluster.
func (o *TrafficOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	s, err := completeServing(cmd.Context(), f, cmd, o.deps, o.Action)
	o.serving = s
	return err
}

// verb names the operation in messages.
func (o *TrafficOptions) verb() string {
	if o.Promote {
		return "promote"
	}
	return "roll back"
}

// Validate checks that the model is deployed with a canary.
func (o *TrafficOptions) Validate() error { return o.serving.requireCanary(o.verb()) }

// Run applies the service again with the chosen model and waits for it.
func (o *TrafficOptions) Run(ctx context.Context) error {
	s := o.serving
	uri, previous := workload.DeployedURIs(s.current)
	action := "promote"
	if !o.Promote {
		uri, action = previous, "rollback"
	}
	obj, err := workload.CanaryOfService(s.current).Settle(s.current, uri, action)
	if err != nil {
		return err
	}
	a := s.action.objects([]*unstructured.Unstructured{obj})
	entry := track.Action{Name: "deploy", Revision: o.deps.NewRevision(), ModelURI: uri}
	return s.run(ctx, a, o.Serve, entry, func(*run.Outcome) bool { return true })
}
