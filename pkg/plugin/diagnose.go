package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// DiagnoseOptions lists everything kaptain made and what is wrong with it.
type DiagnoseOptions struct {
	clusterArgs
	deps   *Deps
	Output string
}

// NewCmdDiagnose returns kubectl kaptain diagnose.
func NewCmdDiagnose(d *Deps) *cobra.Command {
	o := &DiagnoseOptions{deps: d}
	cmd := &cobra.Command{
		Use:   "diagnose [-o json]",
		Short: "List every resource kaptain made in the namespace and what is wrong with it (Kaptain SDK: diagnose)",
		Long: `List the jobs, experiments, inference services, build Jobs, Secrets, ServiceAccounts and
Pods kaptain made in the namespace, with what is wrong: pods that cannot be scheduled, cannot
pull their image or crash, failed conditions, stale Secrets, missing CRDs (operators) and
missing RBAC permissions (checked with SelfSubjectAccessReview). Exits non-zero when it found
a problem.`,
		Example: `  kubectl kaptain diagnose
  kubectl kaptain diagnose -o json | jq '.[] | select(.problem != null)'`,
		Args: cobra.NoArgs,
		RunE: runWith(d, o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json.")
	return cmd
}

// Validate checks the output format.
func (o *DiagnoseOptions) Validate() error {
	if o.Output != "" && o.Output != "json" {
		return sdkerr.New(sdkerr.Usage, "--output %q is not supported; use json", o.Output)
	}
	return nil
}

// Run prints the findings and fails when one is a problem.
func (o *DiagnoseOptions) Run(ctx context.Context) error {
	findings, err := o.inv.Diagnose(ctx)
	if err != nil {
		return err
	}
	out := o.deps.Streams.Out
	if o.Output == "json" {
		data, err := json.MarshalIndent(findings, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(out, string(data))
	} else {
		w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
		fmt.Fprintln(w, "KIND\tNAME\tSTATUS\tPROBLEM")
		for _, f := range findings {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Kind, f.Name, f.Status, orNone(f.Problem))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	problems := 0
	for _, f := range findings {
		if f.Problem != "" {
			problems++
		}
	}
	if problems > 0 {
		return sdkerr.New(sdkerr.Unknown, "diagnose found %d problem(s)", problems)
	}
	return nil
}
