package plugin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// CompletionShimName is the program kubectl 1.26+ runs to complete 'kubectl kaptain ...'.
const CompletionShimName = "kubectl_complete-kaptain"

// completionShim runs the plugin's own completion with the words typed so far.
const completionShim = `#!/usr/bin/env sh
# Completion of 'kubectl kaptain' for kubectl 1.26 or newer, written by
# 'kubectl kaptain completion kubectl': kubectl runs it with the words typed so far.
exec kubectl-kaptain __complete "$@"
`

// CompletionOptions prints a shell's completion script, or writes kubectl's shim.
type CompletionOptions struct {
	deps *Deps
	Dir  string

	root  *cobra.Command
	shell string
	args  []string
}

// NewCmdCompletion returns kubectl kaptain completion SHELL.
func NewCmdCompletion(d *Deps) *cobra.Command {
	o := &CompletionOptions{deps: d}
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell|kubectl",
		Short: "Print a shell completion script, or write kubectl's completion shim",
		Long: `Print a completion script for the given shell, for the plugin run as kubectl-kaptain.

'completion kubectl' instead writes kubectl_complete-kaptain next to the plugin (or into
--dir): kubectl 1.26 and newer run that program to complete 'kubectl kaptain ...' in
kubectl's own completion, including the names of jobs, experiments and services in the
cluster. Krew installs a single binary, so run this once after 'kubectl krew install kaptain'.`,
		Example: `  # Load completion into the current bash session
  source <(kubectl kaptain completion bash)

  # Let kubectl's completion complete 'kubectl kaptain ...'
  kubectl kaptain completion kubectl`,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell", "kubectl"},
		DisableFlagsInUseLine: true,
		RunE:                  runWith(d, o),
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "Where to write kubectl_complete-kaptain (default: the directory of kubectl-kaptain on PATH).")
	return cmd
}

// Complete keeps the shell and the root command, whose completion is printed.
func (o *CompletionOptions) Complete(_ cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.root, o.args = cmd.Root(), args
	if len(args) == 1 {
		o.shell = args[0]
	}
	return nil
}

// Validate checks the shell.
func (o *CompletionOptions) Validate() error {
	if len(o.args) != 1 {
		return sdkerr.New(sdkerr.Usage, "completion needs one shell: bash, zsh, fish or powershell (or kubectl, for the shim)")
	}
	if !slices.Contains([]string{"bash", "zsh", "fish", "powershell", "kubectl"}, o.shell) {
		return sdkerr.New(sdkerr.Usage, "shell %q is not supported; use bash, zsh, fish, powershell or kubectl", o.shell)
	}
	return nil
}

// Run prints the script or writes the shim.
func (o *CompletionOptions) Run(context.Context) error {
	out := o.deps.Streams.Out
	switch o.shell {
	case "bash":
		return o.root.GenBashCompletionV2(out, true)
	case "zsh":
		return o.root.GenZshCompletion(out)
	case "fish":
		return o.root.GenFishCompletion(out, true)
	case "powershell":
		return o.root.GenPowerShellCompletionWithDesc(out)
	}
	return o.writeShim()
}

// writeShim writes the kubectl completion shim into --dir, by default beside the plugin.
func (o *CompletionOptions) writeShim() error {
	dir := o.Dir
	if dir == "" {
		path, err := exec.LookPath("kubectl-kaptain")
		if err != nil {
			if path, err = os.Executable(); err != nil {
				return fmt.Errorf("finding kubectl-kaptain: %w", err)
			}
		}
		dir = filepath.Dir(path)
	}
	target := filepath.Join(dir, CompletionShimName)
	if err := os.WriteFile(target, []byte(completionShim), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", target, err)
	}
	o.deps.progress().Printf("wrote %s; kubectl completes 'kubectl kaptain ...' when it is on PATH", target)
	return nil
}
