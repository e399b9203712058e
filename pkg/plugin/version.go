package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// VersionOptions prints the plugin's version.
type VersionOptions struct {
	deps   *Deps
	Output string
}

// NewCmdVersion returns kubectl kaptain version.
func NewCmdVersion(d *Deps) *cobra.Command {
	o := &VersionOptions{deps: d}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Example: `  kubectl kaptain version
  kubectl kaptain version -o json`,
		Args: cobra.NoArgs,
		RunE: runWith(d, o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or short. Default prints version, commit and build date.")
	return cmd
}

// Complete has nothing to resolve: the version is built in.
func (o *VersionOptions) Complete(cmdutil.Factory, *cobra.Command, []string) error { return nil }

// Validate checks the output format.
func (o *VersionOptions) Validate() error {
	switch o.Output {
	case "", "json", "short":
		return nil
	}
	return sdkerr.New(sdkerr.Usage, "--output %q is not supported; use json or short", o.Output)
}

// Run prints the version.
func (o *VersionOptions) Run(context.Context) error {
	b := o.deps.Build
	out := o.deps.Streams.Out
	switch o.Output {
	case "short":
		_, err := fmt.Fprintln(out, b.Version)
		return err
	case "json":
		data, err := json.MarshalIndent(struct {
			BuildInfo
			GoVersion string `json:"goVersion"`
			Platform  string `json:"platform"`
		}{b, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding version: %w", err)
		}
		_, err = fmt.Fprintln(out, string(data))
		return err
	}
	_, err := fmt.Fprintf(out, "kubectl-kaptain %s (commit %s, built %s, %s, %s/%s)\n",
		b.Version, b.Commit, b.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
