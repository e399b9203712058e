package plugin

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/image"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/image/executor"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/storage"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// DefaultBuildTimeout bounds the wait for the cluster builder.
const DefaultBuildTimeout = time.Hour

// BuildFlags are the flags of build, also offered by train and tune with --build.
type BuildFlags struct {
	Builder          string
	DockerConfig     string
	RegistryCA       string
	InsecureRegistry bool
	Platform         string
	BuilderImage     string
	Force            bool
	Timeout          time.Duration
}

func (f *BuildFlags) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.Builder, "builder", image.BuilderAuto, "How to build the image: local (in this process, no Docker), cluster (a Job running a kaniko-style executor, which can pip install requirements) or auto (cluster when the model has requirements, else local).")
	fs.StringVar(&f.DockerConfig, "docker-config", "", "Docker config.json with the registry's credentials (default spec.config.registry.dockerConfig, else $DOCKER_CONFIG/config.json or ~/.docker/config.json).")
	fs.StringVar(&f.RegistryCA, "registry-ca", "", "PEM file with the registry's CA certificate, trusted on top of the system's (default spec.config.registry.certificate, else ~/.tls/certificate.crt).")
	fs.BoolVar(&f.InsecureRegistry, "insecure-registry", false, "Allow plain HTTP and skip TLS verification for the registry.")
	fs.StringVar(&f.Platform, "platform", "linux/amd64", "Platform of the base image to build on, os/arch[/variant].")
	fs.StringVar(&f.BuilderImage, "builder-image", workload.DefaultBuilderImage, "Executor image of the cluster builder (takes kaniko's flags).")
	fs.BoolVar(&f.Force, "force-build", false, "Build and push even when the registry already holds the image with the same content checksum.")
	fs.DurationVar(&f.Timeout, "build-timeout", DefaultBuildTimeout, "How long to wait for the cluster builder.")
}

// imageBuild is a build completed against a model: inputs read, builder chosen, registry
// settings resolved. It contacts nothing until run.
type imageBuild struct {
	deps     *Deps
	flags    *BuildFlags
	model    *model.Model
	inputs   *image.Inputs
	builder  string
	settings *image.Settings
	// resolveErr is why the settings could not be read; validate reports it.
	resolveErr error
}

// complete reads the model's files and the registry settings.
func (f *BuildFlags) complete(d *Deps, m *model.Model) (*imageBuild, error) {
	b := &imageBuild{deps: d, flags: f, model: m, builder: f.Builder}
	in, err := image.Collect(m)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ModelValidation, err, "%s", m.Path)
	}
	if p, err := v1.ParsePlatform(f.Platform); err == nil {
		in.Platform = p.String()
	}
	// The build's own credentials never go into the image, wherever they were named.
	in.Exclude(f.DockerConfig, f.RegistryCA)
	for _, w := range in.Warnings() {
		d.progress().Printf("warning: %s", w)
	}
	b.inputs = in
	b.builder, _ = image.Choose(f.Builder, in) // Validate reports a bad choice
	// A file that cannot be read is reported by validate, after the usage errors.
	b.settings, b.resolveErr = image.Resolve(m, image.Source{DockerConfig: f.DockerConfig, RegistryCA: f.RegistryCA, Insecure: f.InsecureRegistry, Platform: f.Platform})
	if b.settings != nil {
		for _, w := range b.settings.Warnings {
			d.progress().Printf("warning: %s", w)
		}
	}
	return b, nil
}

// validate checks the build flags against each other and the model; it is pure.
func (b *imageBuild) validate() error {
	f := b.flags
	if _, err := image.Choose(f.Builder, b.inputs); err != nil {
		return err
	}
	if f.Timeout <= 0 {
		return sdkerr.New(sdkerr.Usage, "--build-timeout must be positive, got %s", f.Timeout)
	}
	if err := image.ValidatePlatform(f.Platform); err != nil {
		return err
	}
	if b.resolveErr != nil {
		return b.resolveErr
	}
	return b.settings.Validate(b.model)
}

// run builds with the chosen builder. It returns nil without error for dry runs.
func (b *imageBuild) run(ctx context.Context, ac actionOptions, revision string, verbose bool) (*image.Result, error) {
	var builder image.Builder = &image.Local{
		Registry: b.settings.Registry, Options: image.Options{Force: b.flags.Force, LayerCache: layerCacheDir()},
		DryRun: !ac.mode.Applies(), Progress: b.deps.progress().Printf, Terminal: b.deps.Streams.ErrOut, Explain: b.settings.Explain,
	}
	if b.builder == image.BuilderCluster {
		var err error
		if builder, err = b.cluster(ctx, ac, revision, verbose); err != nil {
			return nil, err
		}
	}
	return builder.Build(ctx, b.inputs, b.settings.Target)
}

// layerCacheDir is where the local builder remembers the layers it pushed:
// $XDG_CACHE_HOME/kubectl-kaptain (~/.cache/kubectl-kaptain), none when there is no cache
// directory.
func layerCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "kubectl-kaptain")
}

// cluster returns the cluster builder: the build context goes to S3, the executor runs in a
// Job of the build's own action.
func (b *imageBuild) cluster(ctx context.Context, ac actionOptions, revision string, verbose bool) (*image.Cluster, error) {
	m := b.model
	if err := b.inputs.Hash(); err != nil {
		return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "reading the model's files")
	}
	contextURI, err := m.BuildContextURI(b.inputs.Checksum())
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.InvalidModelProperty, err, "spec.config.modelStorageURI")
	}
	dockerJSON, err := executor.DockerConfig(b.settings, ac.mode.Offline())
	if err != nil {
		return nil, err
	}
	job := &executor.Job{
		Model: m, Settings: b.settings, Revision: revision, BuilderImage: b.flags.BuilderImage, DockerConfigJSON: dockerJSON,
		Resources: executor.Resources(b.deps.Env), Timeout: b.flags.Timeout,
		StorageSecret: func(ctx context.Context, name string) (*unstructured.Unstructured, error) {
			return ac.storageSecret(ctx, m, name)
		},
		Action: func(objs []*unstructured.Unstructured, owner *render.OwnerLinks) run.Action {
			return ac.action(m, revision, model.ActionBuild, objs, owner)
		},
		Run:      func(ctx context.Context, a run.Action) (*run.Outcome, error) { return ac.run(ctx, a) },
		Progress: b.deps.progress().Printf,
	}
	if verbose {
		job.Logs = b.deps.Streams.ErrOut
	}
	builder := &image.Cluster{
		Registry: b.settings.Registry, Force: b.flags.Force, DryRun: !ac.mode.Applies(), ContextURI: contextURI,
		Executor: job, Progress: b.deps.progress().Printf, Explain: b.settings.Explain,
	}
	if ac.mode.Applies() {
		store, err := storage.New(ctx, s3Settings(m, false))
		if err != nil {
			return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "the cluster builder reads the build context from S3")
		}
		builder.Uploader = store
	}
	return builder, nil
}

// buildFirst is --build of train and tune: build the image before the workload and run it
// at the pushed digest.
type buildFirst struct {
	Enabled bool
	Flags   BuildFlags
	build   *imageBuild
	// given are the build flags on the command line.
	given []string
}

var buildFlagNames = []string{"builder", "docker-config", "registry-ca", "insecure-registry", "platform", "builder-image", "force-build", "build-timeout"}

func (b *buildFirst) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&b.Enabled, "build", false, "Build and push the image first, as 'kubectl kaptain build' does (skipped when the registry has it), and run it at its digest.")
	b.Flags.addFlags(cmd)
}

// complete reads the build settings when --build is given, and refuses build flags without it.
func (b *buildFirst) complete(cmd *cobra.Command, d *Deps, m *model.Model) error {
	for _, n := range buildFlagNames {
		if cmd.Flags().Changed(n) {
			b.given = append(b.given, n)
		}
	}
	if !b.Enabled {
		return nil
	}
	var err error
	b.build, err = b.Flags.complete(d, m)
	return err
}

// validate checks the build flags when --build was given; it is pure.
func (b *buildFirst) validate() error {
	if !b.Enabled && len(b.given) > 0 {
		return sdkerr.New(sdkerr.Usage, "--%s only applies with --build", b.given[0])
	}
	if b.build == nil {
		return nil
	}
	return b.build.validate()
}

// image builds when --build was given and returns the pinned image, or "" to run spec.image.
// The build is an action of its own: none of the command's patches, and its objects
// printed as the build command prints them.
func (b *buildFirst) image(ctx context.Context, ac actionOptions, revision string, verbose bool) (string, error) {
	if b.build == nil {
		return "", nil
	}
	res, err := b.build.run(ctx, ac.nested(buildOutput(ac.deps, ac.mode)), revision, verbose)
	if err != nil || res == nil {
		return "", err
	}
	return res.Pinned, nil
}

// buildOutput is where a build prints its objects: stdout for a dry run, else stderr, since
// stdout carries only the pinned reference (IMAGE=$(kubectl kaptain build)).
func buildOutput(d *Deps, mode run.Mode) io.Writer {
	if mode.Applies() {
		return d.Streams.ErrOut
	}
	return d.Streams.Out
}
