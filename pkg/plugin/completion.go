package plugin

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// NewCmdCompletion returns kubectl kaptain completion SHELL.
func NewCmdCompletion(d *Deps) *cobra.Command {
	shells := []string{"bash", "zsh", "fish", "powershell"}
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a completion script for the given shell.

The script completes the plugin when run as kubectl-kaptain. For completion through
'kubectl kaptain', kubectl 1.26 or newer runs a kubectl_complete-kaptain program from PATH.`,
		Example: `  # Load completion into the current bash session
  source <(kubectl kaptain completion bash)`,
		ValidArgs:             shells,
		DisableFlagsInUseLine: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return sdkerr.New(sdkerr.Usage, "completion needs one shell: bash, zsh, fish or powershell")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			out := d.Streams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return sdkerr.New(sdkerr.Usage, "%s", fmt.Sprintf("shell %q is not supported; use bash, zsh, fish or powershell", args[0]))
		},
	}
}
