// Command kubectl-kaptain is the kubectl kaptain plugin: build, train, tune and deploy
// machine-learning models on Kubeflow.
package main

import (
	// Before any package that calls kubectl's i18n.T at init.
	_ "github.com/kaptain-dev/kubectl-kaptain/internal/untranslated"

	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/uuid"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec and OIDC credential plugins
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/plugin"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/term"
)

// Set by the release build with -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// newRevision returns a fresh model revision id; tests make it fixed.
var newRevision = uuid.NewString

func main() {
	// SIGHUP too: a closed terminal or SSH session must not leave a job and its credentials.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		// The first Ctrl-C cancels the action, which cleans up; a second one kills.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}

// run executes the plugin and returns its exit code, printing any error once.
func run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	// client-go logs failures through klog before returning them; the error is printed
	// once, below.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	// The API server's warnings and the error printed below carry text from the cluster.
	streams.ErrOut = term.NewWriter(streams.ErrOut)
	configFlags := genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0)
	// The API server's warnings (PodSecurity in warn mode, deprecated APIs) go to stderr, each
	// once, as kubectl prints them.
	warnings := rest.NewWarningWriter(streams.ErrOut, rest.WarningWriterOptions{Deduplicate: true})
	configFlags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.WarningHandler = warnings
		return c
	}
	env := config.OSEnv()
	// A malformed KAPTAIN_SDK_DEBUG, _VERBOSE or _LOG_TIMEFORMAT fails every command before it
	// does anything.
	output, err := env.ResolveOutput(nil)
	if err != nil {
		printError(streams.ErrOut, err, env)
		return sdkerr.ExitCode(err)
	}
	deps := &plugin.Deps{
		Streams:     streams,
		ConfigFlags: configFlags,
		Factory:     cmdutil.NewFactory(cmdutil.NewMatchVersionFlags(configFlags)),
		Env:         env,
		Build:       plugin.BuildInfo{Version: version, Commit: commit, Date: date},
		NewRevision: newRevision,
		Output:      output,
	}
	cmd := plugin.NewCmdKaptain(deps)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	printError(streams.ErrOut, err, deps.Env)
	return sdkerr.ExitCode(err)
}

// printError prints err once, as kubectl does; KAPTAIN_SDK_DEBUG adds the cause chain.
func printError(w io.Writer, err error, env config.Env) {
	msg, ok := cmdutil.StandardErrorMessage(err)
	if !ok {
		msg = err.Error()
		if !strings.HasPrefix(msg, "error: ") {
			msg = "error: " + msg
		}
	}
	fmt.Fprintln(w, strings.TrimRight(msg, "\n"))
	if debug, _ := env.Bool(nil, config.EnvDebug, false); debug {
		fmt.Fprint(w, sdkerr.Chain(err))
	}
}
