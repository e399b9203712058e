// Package plugin holds the cobra commands of kubectl kaptain: one file per command, each with
// an Options struct whose Complete, Validate and Run do the work through the domain packages
// (the action engine pkg/run, the inventory, the builders). What several commands share lives
// in files named after it, not in a command's file: action.go (the action flags and options), session.go (the clients), objprinter.go,
// imagebuild.go (--build and the builders' flags), jobflags.go (train's and tune's job flags),
// serve.go (the serving commands' service), cluster.go (clients, inventory, completion) and
// printing.go.
package plugin

import (
	"bytes"
	"context"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/cmd/options"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/term"
)

// BuildInfo is what the release build injects with -ldflags.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// Deps are what the commands share: streams, the cluster connection and settings sources.
type Deps struct {
	Streams     genericiooptions.IOStreams
	ConfigFlags *genericclioptions.ConfigFlags
	Factory     cmdutil.Factory
	Env         config.Env
	Build       BuildInfo
	// NewRevision returns a fresh model revision id; a random UUID.
	NewRevision func() string
	// Output holds the settings main read from KAPTAIN_SDK_* before any command runs.
	Output config.Output
}

// progress returns the writer of progress lines: the error stream, never the output stream,
// so that -o yaml stays pipeable; KAPTAIN_SDK_LOG_TIMEFORMAT adds a timestamp.
func (d *Deps) progress() run.Progress {
	return run.Progress{W: d.Streams.ErrOut, Stamp: d.Output.Timestamp}
}

// runner is the shape of every command: Complete resolves what the command line names
// (model, clients, printer; it reads the cluster only where the command decides on what is
// there), Validate is pure, Run acts.
type runner interface {
	Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runWith is the RunE of every command: complete, validate and run o with d's factory.
func runWith(d *Deps, o runner) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(d.Factory, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

// NewCmdKaptain returns the root command, kubectl kaptain, with kubectl's global flags.
//
// Both output streams escape control characters from here on: what kaptain prints holds
// text it did not write (condition and event messages, log tails, records others can edit),
// and none of it may drive the terminal. 'logs' writes a container's bytes as they are when
// its output is not a terminal (term.Raw).
func NewCmdKaptain(d *Deps) *cobra.Command {
	d.Streams.Out, d.Streams.ErrOut = term.NewWriter(d.Streams.Out), term.NewWriter(d.Streams.ErrOut)
	cmd := &cobra.Command{
		Use:   "kaptain",
		Short: "Build, train, tune and deploy machine-learning models on Kubeflow",
		Long: `kubectl kaptain takes a machine-learning model from source to a served endpoint on a
Kubeflow cluster: build its image, train it distributed (Kubeflow Trainer's TrainJob, or the Training Operator's TFJob and PyTorchJob), tune it (Katib),
deploy it (KServe) and inspect and clean up everything it made.

A model is described by a kaptain.yaml file; 'kubectl kaptain init' writes one.`,
		Example: `  # Write a kaptain.yaml for a TensorFlow model
  kubectl kaptain init --id dev/mnist --framework tensorflow --image registry.example.com/mnist:0.0.1

  # Print the training job without contacting the cluster
  kubectl kaptain train --dry-run=client -o yaml

  # Train with two workers and a learning rate
  kubectl kaptain train --workers 2 -p lr=0.01`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl kaptain"},
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	cmd.SetIn(d.Streams.In)
	cmd.SetOut(d.Streams.Out)
	cmd.SetErr(d.Streams.ErrOut)
	d.ConfigFlags.AddFlags(cmd.PersistentFlags())

	groups := templates.CommandGroups{
		{Message: "Model commands:", Commands: []*cobra.Command{NewCmdInit(d), NewCmdBuild(d), NewCmdTrain(d), NewCmdTune(d), NewCmdModel(d)}},
		{Message: "Serving commands:", Commands: []*cobra.Command{NewCmdDeploy(d), NewCmdPromote(d), NewCmdRollback(d), NewCmdUndeploy(d)}},
		{Message: "Inspection commands:", Commands: []*cobra.Command{NewCmdGet(d), NewCmdDescribe(d), NewCmdLogs(d), NewCmdDelete(d), NewCmdClean(d), NewCmdDiagnose(d)}},
		{Message: "Other commands:", Commands: []*cobra.Command{NewCmdVersion(d), NewCmdCompletion(d), options.NewCmdOptions(d.Streams.Out)}},
	}
	groups.Add(cmd)
	// cobra's help command is no group's: left in, it heads an empty "Other Commands:".
	templates.ActsAsRootCommand(cmd, []string{"help"}, groups...)
	// kubectl's flag errors ("unknown flag: --x", "See '... --help' for usage.") are usage
	// errors, exit code 2.
	flagError := cmd.FlagErrorFunc()
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &sdkerr.Error{Class: sdkerr.Usage, Err: flagError(c, err)}
	})
	// kubectl's help template names parent commands by Name(); ours is "kubectl kaptain".
	help := cmd.HelpFunc()
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		var b bytes.Buffer
		out := c.OutOrStdout()
		c.SetOut(&b)
		help(c, args)
		c.SetOut(out)
		_, _ = io.WriteString(out, strings.ReplaceAll(b.String(), `Use "kaptain `, `Use "kubectl kaptain `))
	})
	return cmd
}
