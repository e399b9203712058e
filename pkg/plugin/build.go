package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
)

// BuildOptions builds and pushes the model's image.
type BuildOptions struct {
	deps    *Deps
	Action  *ActionFlags
	Build   BuildFlags
	Verbose bool

	build    *imageBuild
	action   actionOptions
	revision string
	verbose  bool
}

// NewCmdBuild returns kubectl kaptain build.
func NewCmdBuild(d *Deps) *cobra.Command {
	o := &BuildOptions{deps: d, Action: NewActionFlags()}
	cmd := &cobra.Command{
		Use:   "build [-f kaptain.yaml] [--builder auto|local|cluster] [--dry-run=none|client|server]",
		Short: "Build the model's image and push it, unless the registry already has it",
		Long: `Build the image of the model described by kaptain.yaml and push it to spec.image.

The image is the base image plus the model's files under /app, with 'python <mainFile>' as
its entrypoint. A content checksum over everything that shapes the image (files, base image,
framework and version, model id and version) is stored as an image label and a manifest
annotation; when the registry already holds spec.image with that checksum, nothing is built
or pushed.

The local builder needs no Docker engine: when the base image is in the same registry, its
layers are never downloaded or uploaded again (they are mounted or found present); the extra
files go in one reproducible layer and the main file and requirements in another, so a
code change pushes only the small code layer. Models with spec.requirements need pip, which
runs inside the image: the cluster builder uploads the build context to S3 under
spec.config.modelStorageURI and runs a kaniko-style executor in a Job, with Secrets for the
Docker credentials, the S3 credentials and the registry's CA; the Job and Secrets are removed
after success and on Ctrl-C, and kept for inspection when the build fails.

The pinned reference (repository@sha256:...) is printed on stdout.`,
		Example: `  # Build and push the image of ./kaptain.yaml (skipped when unchanged)
  kubectl kaptain build

  # A private registry with its own CA and credentials
  kubectl kaptain build --registry-ca ca.crt --docker-config ~/.docker/ci.json

  # Show the cluster builder's Job and Secrets without building
  kubectl kaptain build --builder cluster --dry-run=client -o yaml`,
		Args: cobra.NoArgs,
		RunE: runWith(d, o),
	}
	o.Action.AddFlags(cmd)
	o.Build.addFlags(cmd)
	cmd.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "Stream the cluster builder's log (default from "+config.EnvVerbose+").")
	return cmd
}

// Complete loads the model, reads its files and the registry settings. It contacts nothing.
func (o *BuildOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	m, err := o.Action.loadModel()
	if err != nil {
		return err
	}
	if o.build, err = o.Build.complete(o.deps, m); err != nil {
		return err
	}
	if o.verbose, err = o.deps.Env.Bool(flagValue(cmd.Flags().Changed("verbose"), o.Verbose), config.EnvVerbose, false); err != nil {
		return err
	}
	if o.action, err = o.Action.complete(f, cmd, o.deps, m, "Job"); err != nil {
		return err
	}
	o.action = o.action.printingOn(buildOutput(o.deps, o.action.mode))
	o.revision = o.deps.NewRevision()
	return nil
}

// Validate checks the build flags against each other and the model.
func (o *BuildOptions) Validate() error { return o.build.validate() }

// Run builds, prints the pinned reference and says what was pushed.
func (o *BuildOptions) Run(ctx context.Context) error {
	res, err := o.build.run(ctx, o.action, o.revision, o.verbose)
	if err != nil || res == nil {
		return err
	}
	fmt.Fprintln(o.deps.Streams.Out, res.Pinned)
	return nil
}
