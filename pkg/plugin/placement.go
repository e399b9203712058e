package plugin

import (
	"github.com/spf13/cobra"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// PlacementFlags send the pods that run the model's code (or serve it) to chosen nodes, for
// every kind alike: --node-selector and --toleration, where a --patch would need each kind's
// own path.
type PlacementFlags struct {
	NodeSelector []string
	Tolerations  []string
}

// addFlags binds the flags; what names the pods they place, e.g. "every replica".
func (p *PlacementFlags) addFlags(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.StringArrayVar(&p.NodeSelector, "node-selector", nil, "A node label that "+what+" must run on, as key=value (its pods' nodeSelector, e.g. cloud.google.com/gke-accelerator=nvidia-l4). Repeatable.")
	f.StringArrayVar(&p.Tolerations, "toleration", nil, "A node taint that "+what+" tolerates, as KEY[=VALUE][:EFFECT] (e.g. nvidia.com/gpu:NoSchedule; without a value, any value; without an effect, every effect). Repeatable.")
}

// validate refuses a malformed --node-selector or --toleration; it changes nothing.
func (p *PlacementFlags) validate() error {
	_, err := p.parse()
	return err
}

// placement is what the flags ask for; empty when they do not parse (validate refuses them
// before anything is created).
func (p *PlacementFlags) placement() workload.Placement {
	pl, _ := p.parse()
	return pl
}

// parse reads the flags.
func (p *PlacementFlags) parse() (workload.Placement, error) {
	sel, err := config.ParseNodeSelector("--node-selector", p.NodeSelector)
	if err != nil {
		return workload.Placement{}, err
	}
	tol, err := config.ParseTolerations("--toleration", p.Tolerations)
	if err != nil {
		return workload.Placement{}, err
	}
	return workload.Placement{NodeSelector: sel, Tolerations: tol}, nil
}
