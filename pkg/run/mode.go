package run

import cmdutil "k8s.io/kubectl/pkg/cmd/util"

// Mode is how an action touches the cluster: it applies for real, sends its objects with
// dryRun=All (a server dry run) or contacts nothing (a client dry run). It is the one place
// the --dry-run strategy is compared; everything else asks it.
type Mode cmdutil.DryRunStrategy

// The three modes, as --dry-run=none|server|client selects them.
const (
	Apply        = Mode(cmdutil.DryRunNone)
	ServerDryRun = Mode(cmdutil.DryRunServer)
	ClientDryRun = Mode(cmdutil.DryRunClient)
)

// Offline says nothing reaches the cluster (a client dry run): objects are printed as built.
func (m Mode) Offline() bool { return m == ClientDryRun }

// Applies says changes persist: the action waits, pushes, records and cleans up.
func (m Mode) Applies() bool { return m == Apply }

// ServerSide says the cluster sees the objects but keeps none (a server dry run): admission
// and defaults apply, nothing waits.
func (m Mode) ServerSide() bool { return m == ServerDryRun }

// Strategy is the mode as kubectl's printers take it.
func (m Mode) Strategy() cmdutil.DryRunStrategy { return cmdutil.DryRunStrategy(m) }
