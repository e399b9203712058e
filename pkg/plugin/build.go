package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/image"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/storage"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Builders of model images.
const (
	BuilderAuto    = "auto"
	BuilderLocal   = "local"
	BuilderCluster = "cluster"
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
	fs.StringVar(&f.Builder, "builder", BuilderAuto, "How to build the image: local (in this process, no Docker), cluster (a Job running a kaniko-style executor, which can pip install requirements) or auto (cluster when the model has requirements, else local).")
	fs.StringVar(&f.DockerConfig, "docker-config", "", "Docker config.json with the registry's credentials (default spec.config.registry.dockerConfig, else $DOCKER_CONFIG/config.json or ~/.docker/config.json).")
	fs.StringVar(&f.RegistryCA, "registry-ca", "", "PEM file with the registry's CA certificate, trusted on top of the system's (default spec.config.registry.certificate, else ~/.tls/certificate.crt).")
	fs.BoolVar(&f.InsecureRegistry, "insecure-registry", false, "Allow plain HTTP and skip TLS verification for the registry.")
	fs.StringVar(&f.Platform, "platform", "linux/amd64", "Platform of the base image to build on, os/arch[/variant].")
	fs.StringVar(&f.BuilderImage, "builder-image", workload.DefaultBuilderImage, "Executor image of the cluster builder (takes kaniko's flags).")
	fs.BoolVar(&f.Force, "force-build", false, "Build and push even when the registry already holds the image with the same content checksum.")
	fs.DurationVar(&f.Timeout, "build-timeout", DefaultBuildTimeout, "How long to wait for the cluster builder.")
}

// BuildOptions builds and pushes the model's image.
type BuildOptions struct {
	deps    *Deps
	Action  *ActionFlags
	Build   BuildFlags
	Verbose bool

	build    *imageBuild
	action   *actionContext
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
	if o.action, err = o.Action.complete(f, cmd, o.deps, "Job"); err != nil {
		return err
	}
	o.action.out = buildOutput(o.deps, o.action.dryRun)
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

// imageBuild is a build completed against a model: inputs read, builder chosen, credentials
// and certificates loaded. It contacts nothing until run.
type imageBuild struct {
	deps     *Deps
	flags    *BuildFlags
	model    *model.Model
	inputs   *image.Inputs
	builder  string
	target   string
	registry *image.Registry
	hints    image.Hints
	caPEM    []byte
}

// complete reads the model's files and the registry settings.
func (f *BuildFlags) complete(d *Deps, m *model.Model) (*imageBuild, error) {
	b := &imageBuild{deps: d, flags: f, model: m, builder: f.Builder, target: m.ImageRef()}
	in, err := image.Collect(m)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ModelValidation, err, "%s", m.Path)
	}
	b.inputs = in
	p, err := v1.ParsePlatform(f.Platform)
	if err == nil {
		in.Platform = p.String()
	}
	if b.builder == BuilderAuto {
		b.builder = BuilderLocal
		if in.Requirements != "" {
			b.builder = BuilderCluster
		}
	}
	insecureHost := ""
	if ref, err := name.ParseReference(b.target); err == nil {
		insecureHost = ref.Context().RegistryStr()
	}
	kc, used, err := config.DockerKeychain(firstNonEmpty(f.DockerConfig, m.Spec.Config.Registry.DockerConfig))
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "")
	}
	pool, caUsed, pem, err := config.RegistryCAs(firstNonEmpty(f.RegistryCA, m.Spec.Config.Registry.Certificate))
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "")
	}
	b.caPEM = pem
	b.hints = image.Hints{DockerConfig: used, CA: caUsed}
	// A registry URL given as http:// in kaptain.yaml is plain HTTP, as if --insecure-registry.
	insecure := f.InsecureRegistry || strings.HasPrefix(m.Spec.Config.Registry.URL, "http://")
	b.registry = &image.Registry{Keychain: kc, RootCAs: pool, Insecure: insecure, Platform: p, InsecureHost: insecureHost}
	return b, nil
}

// validate checks the build flags against each other and the model; it is pure.
func (b *imageBuild) validate() error {
	f := b.flags
	switch f.Builder {
	case BuilderAuto, BuilderLocal, BuilderCluster:
	default:
		return sdkerr.New(sdkerr.Usage, "--builder %q is not supported; use auto, local or cluster", f.Builder)
	}
	if f.Timeout <= 0 {
		return sdkerr.New(sdkerr.Usage, "--build-timeout must be positive, got %s", f.Timeout)
	}
	if p, err := v1.ParsePlatform(f.Platform); err != nil || p.OS == "" || p.Architecture == "" {
		return sdkerr.New(sdkerr.Usage, "--platform %q is not os/arch[/variant], e.g. linux/amd64", f.Platform)
	}
	if b.builder == BuilderLocal && b.inputs.Requirements != "" {
		return sdkerr.New(sdkerr.Usage, "--builder local cannot pip install %s (spec.requirements); use --builder cluster, or remove the requirements and vendor the packages in spec.extraFiles", b.inputs.Requirements)
	}
	if _, err := name.ParseReference(b.target); err != nil {
		return sdkerr.New(sdkerr.InvalidModelProperty, "%s: spec.image %q is not an image reference: %v", b.model.Path, b.target, err)
	}
	return nil
}

// registryHost is the registry part of the target image.
func (b *imageBuild) registryHost() string {
	ref, err := b.registry.Reference(b.target)
	if err != nil {
		return b.target
	}
	return ref.Context().RegistryStr()
}

// explain turns a registry error into an ImageBuild error with the fix.
func (b *imageBuild) explain(err error) error {
	return sdkerr.Wrap(sdkerr.ImageBuild, image.Explain(err, b.registryHost(), b.hints), "")
}

// run builds with the chosen builder. It returns nil without error for dry runs.
func (b *imageBuild) run(ctx context.Context, ac *actionContext, revision string, verbose bool) (*image.Result, error) {
	progress := b.deps.progress()
	in := b.inputs
	if b.builder == BuilderCluster {
		builder, err := b.cluster(ctx, ac, revision, verbose)
		if err != nil {
			return nil, err
		}
		return builder.Build(ctx, in, b.target)
	}
	if ac.dryRun != cmdutil.DryRunNone {
		progress.Printf("dry run: would build %s with the local builder: %d files, %s, checksum %s, on %s", b.target, len(in.Files), image.HumanBytes(in.Size()), in.Checksum(), in.BaseImage)
		return nil, nil
	}
	progress.Printf("building %s on %s with the local builder (%d files, %s, checksum %.12s)", b.target, in.BaseImage, len(in.Files), image.HumanBytes(in.Size()), in.Checksum())
	updates := make(chan v1.Update, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		showPushProgress(b.deps, updates)
	}()
	res, err := (&image.Local{Registry: b.registry, Options: image.Options{Force: b.flags.Force, Progress: updates}}).Build(ctx, in, b.target)
	<-done
	if err != nil {
		if ctx.Err() != nil {
			return nil, sdkerr.Wrap(sdkerr.Interrupted, err, "interrupted; the registry keeps the layers already pushed, no tag was written")
		}
		return nil, b.explain(err)
	}
	if res.Skipped {
		progress.Printf("%s is up to date: the registry has it with checksum %.12s (%d requests, nothing pushed)", b.target, res.Checksum, res.Requests)
	} else {
		progress.Printf("pushed %s: %s sent in %d requests", res.Pinned, image.HumanBytes(res.BytesSent), res.Requests)
	}
	return res, nil
}

// cluster returns the cluster builder: the build context goes to S3, the executor runs in a
// Job of the build's own action.
func (b *imageBuild) cluster(ctx context.Context, ac *actionContext, revision string, verbose bool) (*image.Cluster, error) {
	m := b.model
	contextURI, err := m.BuildContextURI(b.inputs.Checksum())
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.InvalidModelProperty, err, "spec.config.modelStorageURI")
	}
	builder := &image.Cluster{
		Registry: b.registry, Force: b.flags.Force, DryRun: ac.dryRun != cmdutil.DryRunNone, ContextURI: contextURI,
		Executor: &buildJob{build: b, ac: ac, revision: revision, verbose: verbose},
		Progress: b.deps.progress().Printf, Explain: b.explain,
	}
	if ac.dryRun == cmdutil.DryRunNone {
		store, err := storage.New(ctx, m.S3Settings(false))
		if err != nil {
			return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "the cluster builder reads the build context from S3")
		}
		builder.Uploader = store
	}
	return builder, nil
}

// buildJob runs the cluster builder's executor as an action of its own: Secrets for the
// Docker credentials, S3 and the registry's CA, and a batch/v1 Job, all removed after
// success and on Ctrl-C, kept for inspection after a failure.
type buildJob struct {
	build    *imageBuild
	ac       *actionContext
	revision string
	verbose  bool
}

var _ image.Executor = (*buildJob)(nil)

// Execute runs the Job on the context and returns the digest from the executor's termination
// message.
func (j *buildJob) Execute(ctx context.Context, contextURI string) (string, error) {
	b, ac, m := j.build, j.ac, j.build.model
	name := m.JobName(model.ActionBuild, j.revision)
	// A client dry run runs no credential helper: the Secret prints redacted anyway.
	dockerJSON := []byte(`{"auths":{}}`)
	if ac.dryRun != cmdutil.DryRunClient {
		var err error
		if dockerJSON, err = config.DockerConfigJSON(b.registry.Keychain, mustRegistry(b.registryHost())); err != nil {
			return "", sdkerr.Wrap(sdkerr.ImageBuild, err, "reading registry credentials from %s", b.hints.DockerConfig)
		}
	}
	var objs []*unstructured.Unstructured
	storageName := ""
	secret, err := ac.storageSecret(ctx, m, name+"-storage")
	if err != nil {
		return "", err
	}
	if secret != nil {
		objs = append(objs, secret)
		storageName = secret.GetName()
	}
	built, err := workload.BuildObjects(workload.Build{
		Name: name, BuilderImage: b.flags.BuilderImage, Context: contextURI, Dockerfile: image.DockerfileName,
		Destination: b.target, Registry: b.registryHost(), DockerConfigJSON: dockerJSON, StorageSecret: storageName,
		RegistryCA: b.caPEM, Insecure: b.registry.Insecure, Resources: builderResources(b.deps.Env),
	})
	if err != nil {
		return "", sdkerr.Wrap(sdkerr.Usage, err, "")
	}
	objs = append(objs, built...)
	var digest atomic.Pointer[string]
	kept := fmt.Sprintf("; the Job is kept for inspection (kubectl kaptain delete build %s when done)", name)
	a := ac.action(m, j.revision, model.ActionBuild, objs, &render.OwnerLinks{APIVersion: "batch/v1", Kind: "Job", Name: name, OwnedKinds: []string{"Secret"}})
	a.Wait = &run.Wait{
		Kind: batchv1.SchemeGroupVersion.WithKind("Job"), Name: name, Timeout: b.flags.Timeout,
		State: func(obj *unstructured.Unstructured) run.State {
			st := workload.BuildStateOf(obj)
			state := run.State{Line: st.String(), Done: st.Finished}
			if st.Failed {
				state.Failure = "failed: " + firstNonEmpty(st.Message, st.Reason, "no message")
			}
			return state
		},
		Pods: &run.Pods{
			Selector: batchv1.JobNameLabel + "=" + name, Problem: workload.PodProblem, ProblemClass: sdkerr.ImageBuild,
			Name: func(*corev1.Pod) string { return "the builder" }, LogPrefix: func(*corev1.Pod) string { return "build" },
			FailureLines: 20, FailureNoun: "the",
			Observe: func(pod *corev1.Pod) {
				for _, cs := range pod.Status.ContainerStatuses {
					if t := cs.State.Terminated; t != nil && t.ExitCode == 0 && strings.HasPrefix(strings.TrimSpace(t.Message), "sha256:") {
						d := strings.TrimSpace(t.Message)
						digest.Store(&d)
					}
				}
			},
		},
		FailClass: sdkerr.ImageBuild, FailHint: kept,
		TimeoutHint: fmt.Sprintf("; it keeps running: see 'kubectl logs job/%s'", name),
	}
	if j.verbose {
		a.Wait.Pods.Logs = b.deps.Streams.ErrOut
	}
	a.Remove = run.Removal{When: run.WhenSucceeded}
	a.Applied = func(*run.Outcome) {
		b.deps.progress().Printf("job.batch/%s is building %s in the cluster", name, b.target)
	}
	if _, err := ac.run(ctx, m, a); err != nil {
		return "", err
	}
	if d := digest.Load(); d != nil {
		return *d, nil
	}
	return "", nil
}

// builderResources reads KAPTAIN_SDK_DOCKER_BUILDER_{CPU,MEM}_{REQUEST,LIMIT}.
func builderResources(env config.Env) workload.Resources {
	var r workload.Resources
	for _, v := range []struct {
		name string
		dst  *string
	}{
		{config.EnvBuilderCPURequest, &r.CPURequest}, {config.EnvBuilderCPULimit, &r.CPULimit},
		{config.EnvBuilderMemRequest, &r.MemoryRequest}, {config.EnvBuilderMemLimit, &r.MemoryLimit},
	} {
		*v.dst, _ = env.Quantity("", v.name, "")
	}
	return r
}

func mustRegistry(host string) name.Registry {
	r, err := name.NewRegistry(host, name.WeakValidation)
	if err != nil {
		r, _ = name.NewRegistry(name.DefaultRegistry)
	}
	return r
}

// showPushProgress writes push progress: a bar redrawn in place on a terminal, otherwise a
// line at each quarter.
func showPushProgress(d *Deps, updates <-chan v1.Update) {
	w := d.Streams.ErrOut
	tty := isTerminal(w)
	lastQuarter, drew := -1, false
	for u := range updates {
		if u.Error != nil || u.Total == 0 {
			continue
		}
		pct := int(u.Complete * 100 / u.Total)
		if tty {
			bar := strings.Repeat("=", pct/5) + strings.Repeat(" ", 20-pct/5)
			fmt.Fprintf(w, "\rpushing [%s] %3d%% of %s", bar, pct, image.HumanBytes(u.Total))
			drew = true
			continue
		}
		if q := pct / 25; q > lastQuarter {
			lastQuarter = q
			d.progress().Printf("pushing: %d%% of %s", pct, image.HumanBytes(u.Total))
		}
	}
	if drew {
		fmt.Fprintln(w)
	}
}

// isTerminal is true when w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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
func (b *buildFirst) image(ctx context.Context, ac *actionContext, revision string, verbose bool) (string, error) {
	if b.build == nil {
		return "", nil
	}
	res, err := b.build.run(ctx, ac.nested(buildOutput(ac.deps, ac.dryRun)), revision, verbose)
	if err != nil || res == nil {
		return "", err
	}
	return res.Pinned, nil
}

// buildOutput is where a build prints its objects: stdout for a dry run, else stderr, since
// stdout carries only the pinned reference (IMAGE=$(kubectl kaptain build)).
func buildOutput(d *Deps, dryRun cmdutil.DryRunStrategy) io.Writer {
	if dryRun == cmdutil.DryRunNone {
		return d.Streams.ErrOut
	}
	return d.Streams.Out
}
