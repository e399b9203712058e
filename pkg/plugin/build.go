package plugin

import (
	"bytes"
	"context"
	"errors"
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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/image"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/logs"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
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
	platform *v1.Platform
}

// completeBuild reads the model's files and the registry settings.
func (f *BuildFlags) complete(d *Deps, m *model.Model) (*imageBuild, error) {
	b := &imageBuild{deps: d, flags: f, model: m}
	switch f.Builder {
	case BuilderAuto, BuilderLocal, BuilderCluster:
	default:
		return nil, sdkerr.New(sdkerr.Usage, "--builder %q is not supported; use auto, local or cluster", f.Builder)
	}
	if f.Timeout <= 0 {
		return nil, sdkerr.New(sdkerr.Usage, "--build-timeout must be positive, got %s", f.Timeout)
	}
	p, err := v1.ParsePlatform(f.Platform)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return nil, sdkerr.New(sdkerr.Usage, "--platform %q is not os/arch[/variant], e.g. linux/amd64", f.Platform)
	}
	b.platform = p
	in, err := image.Collect(m)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ModelValidation, err, "%s", m.Path)
	}
	in.Platform = p.String()
	b.inputs = in
	b.builder = f.Builder
	if b.builder == BuilderAuto {
		b.builder = BuilderLocal
		if in.Requirements != "" {
			b.builder = BuilderCluster
		}
	}
	if b.builder == BuilderLocal && in.Requirements != "" {
		return nil, sdkerr.New(sdkerr.Usage, "--builder local cannot pip install %s (spec.requirements); use --builder cluster, or remove the requirements and vendor the packages in spec.extraFiles", in.Requirements)
	}
	b.target = imageName(m)
	if _, err := name.ParseReference(b.target); err != nil {
		return nil, sdkerr.New(sdkerr.InvalidModelProperty, "%s: spec.image %q is not an image reference: %v", m.Path, b.target, err)
	}
	dockerConfig := firstNonEmpty(f.DockerConfig, m.Spec.Config.Registry.DockerConfig)
	kc, used, err := config.DockerKeychain(dockerConfig)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "")
	}
	ca := firstNonEmpty(f.RegistryCA, m.Spec.Config.Registry.Certificate)
	pool, caUsed, pem, err := config.RegistryCAs(ca)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "")
	}
	b.caPEM = pem
	b.hints = image.Hints{DockerConfig: used, CA: caUsed}
	// A registry URL given as http:// in kaptain.yaml is plain HTTP, as if --insecure-registry.
	insecure := f.InsecureRegistry || strings.HasPrefix(m.Spec.Config.Registry.URL, "http://")
	b.registry = &image.Registry{Keychain: kc, RootCAs: pool, Insecure: insecure, Platform: p}
	if ref, err := name.ParseReference(b.target); err == nil {
		b.registry.InsecureHost = ref.Context().RegistryStr()
	}
	return b, nil
}

// imageName is spec.image, under spec.config.registry.url when the image names no registry.
func imageName(m *model.Model) string {
	img, url := m.Spec.Image, m.Spec.Config.Registry.URL
	if url == "" {
		return img
	}
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://"), "/")
	first, _, found := strings.Cut(img, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return img
	}
	return host + "/" + img
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
func (b *imageBuild) explain(err error, registry string) error {
	return sdkerr.Wrap(sdkerr.ImageBuild, image.Explain(err, registry, b.hints), "")
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
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	o.Action.AddFlags(cmd)
	o.Build.addFlags(cmd)
	cmd.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "Stream the cluster builder's log (default from "+config.EnvVerbose+").")
	return cmd
}

// Complete loads the model, reads its files and the registry settings. It contacts nothing.
func (o *BuildOptions) Complete(cmd *cobra.Command) error {
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
	if o.action, err = o.Action.complete(cmd, o.deps, "Job"); err != nil {
		return err
	}
	if o.action.dryRun == cmdutil.DryRunNone {
		// stdout carries only the pinned reference, for IMAGE=$(kubectl kaptain build).
		o.action.out = o.deps.Streams.ErrOut
	}
	o.revision = o.deps.NewRevision()
	return nil
}

// Validate has nothing left to check: Complete validated the flags it read.
func (o *BuildOptions) Validate() error { return nil }

// Run builds, prints the pinned reference and says what was pushed.
func (o *BuildOptions) Run(cmd *cobra.Command) error {
	res, err := o.build.run(cmd.Context(), o.action, o.revision, o.verbose)
	if err != nil || res == nil {
		return err
	}
	fmt.Fprintln(o.deps.Streams.Out, res.Pinned)
	return nil
}

// run builds with the chosen builder. It returns nil without error for dry runs.
func (b *imageBuild) run(ctx context.Context, ac *actionContext, revision string, verbose bool) (*image.Result, error) {
	progress := b.deps.progress()
	in := b.inputs
	if b.builder == BuilderLocal {
		if ac.dryRun != cmdutil.DryRunNone {
			progress.Printf("dry run: would build %s with the local builder: %d files, %s, checksum %s, on %s", b.target, len(in.Files), humanBytes(in.Size()), in.Checksum(), in.BaseImage)
			return nil, nil
		}
		return b.local(ctx)
	}
	return b.cluster(ctx, ac, revision, verbose)
}

// local builds and pushes in this process.
func (b *imageBuild) local(ctx context.Context) (*image.Result, error) {
	progress := b.deps.progress()
	in := b.inputs
	progress.Printf("building %s on %s with the local builder (%d files, %s, checksum %.12s)", b.target, in.BaseImage, len(in.Files), humanBytes(in.Size()), in.Checksum())
	updates := make(chan v1.Update, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		showPushProgress(b.deps, updates)
	}()
	res, err := b.registry.Build(ctx, in, b.target, image.Options{Force: b.flags.Force, Progress: updates})
	<-done
	if err != nil {
		if ctx.Err() != nil {
			return nil, sdkerr.Wrap(sdkerr.Interrupted, err, "interrupted; the registry keeps the layers already pushed, no tag was written")
		}
		return nil, b.explain(err, b.registryHost())
	}
	if res.Skipped {
		progress.Printf("%s is up to date: the registry has it with checksum %.12s (%d requests, nothing pushed)", b.target, res.Checksum, res.Requests)
	} else {
		progress.Printf("pushed %s: %s sent in %d requests", res.Pinned, humanBytes(res.BytesSent), res.Requests)
	}
	return res, nil
}

// cluster uploads the build context to S3 and runs the executor in a Job.
func (b *imageBuild) cluster(ctx context.Context, ac *actionContext, revision string, verbose bool) (*image.Result, error) {
	progress := b.deps.progress()
	in := b.inputs
	m := b.model
	jobName := fmt.Sprintf("%s-build-%s", m.KubeName(), shortRevision(revision))
	bucket, prefix, err := model.ParseStorageURI(m.Spec.Config.ModelStorageURI)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.InvalidModelProperty, err, "spec.config.modelStorageURI")
	}
	contextURI := "s3://" + strings.Trim(bucket+"/"+prefix, "/") + "/" + m.KubeName() + "/build/" + in.Checksum() + ".tar.gz"
	if ac.dryRun == cmdutil.DryRunNone && !b.flags.Force {
		sum, digest, err := b.registry.RemoteChecksum(ctx, b.target)
		switch {
		case ctx.Err() != nil:
			return nil, sdkerr.New(sdkerr.Interrupted, "interrupted; nothing was created")
		case err != nil && image.Diagnose(err) == image.ProblemUnreachable:
			progress.Printf("warning: cannot reach %s from here to compare checksums; building in the cluster", b.registryHost())
		case err != nil:
			return nil, b.explain(err, b.registryHost())
		case sum == in.Checksum():
			ref, _ := b.registry.Reference(b.target)
			res := &image.Result{Reference: b.target, Skipped: true, Checksum: sum, Digest: digest, Pinned: ref.Context().Digest(digest).String()}
			progress.Printf("%s is up to date: the registry has it with checksum %.12s; nothing to build", b.target, sum)
			return res, nil
		}
	}
	// A client dry run runs no credential helper: the Secret prints redacted anyway.
	dockerJSON := []byte(`{"auths":{}}`)
	if ac.dryRun != cmdutil.DryRunClient {
		if dockerJSON, err = config.DockerConfigJSON(b.registry.Keychain, mustRegistry(b.registryHost())); err != nil {
			return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "reading registry credentials from %s", b.hints.DockerConfig)
		}
	}
	var objs []*unstructured.Unstructured
	storageName := ""
	secret, err := storageSecret(ctx, b.deps, m, jobName+"-storage", ac.dryRun)
	if err != nil {
		return nil, err
	}
	if secret != nil {
		objs = append(objs, secret)
		storageName = secret.GetName()
	}
	built, err := workload.BuildObjects(workload.Build{
		Name: jobName, BuilderImage: b.flags.BuilderImage, Context: contextURI, Dockerfile: image.DockerfileName,
		Destination: b.target, Registry: b.registryHost(), DockerConfigJSON: dockerJSON, StorageSecret: storageName,
		RegistryCA: b.caPEM, Insecure: b.registry.Insecure, Resources: builderResources(b.deps.Env),
	})
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.Usage, err, "")
	}
	objs = append(objs, built...)

	var store *storage.Client
	if ac.dryRun == cmdutil.DryRunNone {
		st := m.Spec.Config.Storage
		store, err = storage.New(ctx, config.S3Settings{Endpoint: st.Endpoint, Region: st.Region, ForcePathStyle: st.ForcePathStyle, SignatureVersion: st.SignatureVersion})
		if err != nil {
			return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "the cluster builder reads the build context from S3")
		}
		var buf bytes.Buffer
		if err := in.Context(&buf); err != nil {
			return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "writing the build context")
		}
		progress.Printf("uploading the build context (%s) to %s", humanBytes(int64(buf.Len())), contextURI)
		if err := store.Upload(ctx, contextURI, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
			if ctx.Err() != nil {
				cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = store.Delete(cctx, contextURI)
				return nil, sdkerr.New(sdkerr.Interrupted, "interrupted while uploading the build context; nothing was created")
			}
			return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "")
		}
	}
	removeContext := func() {
		if store != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := store.Delete(cctx, contextURI); err != nil {
				progress.Printf("warning: %v", err)
			}
		}
	}
	results, err := ac.run(ctx, objs, render.Options{
		Labels:      ModelLabels(m, revision, "build"),
		Annotations: map[string]string{render.AnnotationModelID: m.Spec.ID},
		Owner:       &render.OwnerLinks{APIVersion: "batch/v1", Kind: "Job", Name: jobName, OwnedKinds: []string{"Secret"}},
	})
	if err != nil {
		removeContext()
		return nil, err
	}
	if ac.dryRun != cmdutil.DryRunNone {
		return nil, nil
	}
	var created []*unstructured.Unstructured
	for _, r := range results {
		if r.Operation == apply.Created {
			created = append(created, r.Object)
		}
	}
	progress.Printf("job.batch/%s is building %s in the cluster", jobName, b.target)
	_, digest, waitErr := b.waitJob(ctx, ac, jobName, verbose)
	switch {
	case errors.Is(waitErr, context.Canceled) && ctx.Err() != nil:
		removeContext()
		if err := ac.applier.Delete(created); err != nil {
			return nil, sdkerr.Wrap(sdkerr.Interrupted, err, "interrupted; cleaning up")
		}
		return nil, sdkerr.New(sdkerr.Interrupted, "interrupted; removed %s", describeObjects(created))
	case waitErr != nil:
		// The Job stays for inspection; the context is not needed to read its log.
		removeContext()
		return nil, waitErr
	}
	removeContext()
	if err := ac.applier.Delete(created); err != nil {
		progress.Printf("warning: %v", err)
	}
	progress.Printf("removed %s", describeObjects(created))
	ref, _ := b.registry.Reference(b.target)
	if digest == "" {
		// No termination message: ask the registry.
		sum, d, err := b.registry.RemoteChecksum(ctx, b.target)
		if err == nil && sum == in.Checksum() {
			digest = d
		}
	}
	res := &image.Result{Reference: b.target, Checksum: in.Checksum(), Digest: digest}
	if digest == "" {
		progress.Printf("warning: the builder did not report the digest and the registry could not be asked; the image is not pinned")
		res.Pinned = b.target
		return res, nil
	}
	res.Pinned = ref.Context().Digest(digest).String()
	progress.Printf("pushed %s", res.Pinned)
	return res, nil
}

// waitJob watches the build Job and its pod until it finishes, returning the digest the
// executor wrote to its termination message.
func (b *imageBuild) waitJob(ctx context.Context, ac *actionContext, jobName string, verbose bool) (*unstructured.Unstructured, string, error) {
	clientset, err := b.deps.Factory.KubernetesClientSet()
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the cluster: %w", err)
	}
	client, err := b.deps.Factory.DynamicClient()
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the cluster: %w", err)
	}
	progress := b.deps.progress()
	var streamer *logs.Streamer
	if verbose {
		streamer = &logs.Streamer{Pods: clientset.CoreV1(), Out: b.deps.Streams.ErrOut, Prefix: func(*corev1.Pod) string { return "build" }, Follow: true}
	}
	timeoutCtx, cancel := context.WithTimeout(ctx, b.flags.Timeout)
	defer cancel()
	selector := "batch.kubernetes.io/job-name=" + jobName
	last := ""
	var digest atomic.Pointer[string]
	waiter := &apply.Waiter{Client: client, Pods: clientset.CoreV1()}
	final, err := waiter.Wait(timeoutCtx, apply.Watch{
		Resource: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}, Namespace: ac.namespace, Name: jobName,
		PodSelector: selector,
		Done: func(obj *unstructured.Unstructured) (bool, error) {
			st := workload.BuildStateOf(obj)
			if line := st.String(); line != last {
				progress.Printf("job.batch/%s %s", jobName, line)
				last = line
			}
			return st.Finished, nil
		},
		OnPod: func(pod *corev1.Pod) error {
			if reason, msg, bad := workload.PodProblem(pod); bad {
				return sdkerr.New(sdkerr.ImageBuild, "job.batch/%s: the builder pod %s cannot run: %s: %s; the Job is kept for inspection (kubectl kaptain delete build %s when done)", jobName, pod.Name, reason, msg, jobName)
			}
			for _, cs := range pod.Status.ContainerStatuses {
				if t := cs.State.Terminated; t != nil && t.ExitCode == 0 && strings.HasPrefix(strings.TrimSpace(t.Message), "sha256:") {
					d := strings.TrimSpace(t.Message)
					digest.Store(&d)
				}
			}
			if streamer != nil {
				streamer.Attach(timeoutCtx, pod)
			}
			return nil
		},
	})
	endStreams(streamer, err, cancel, b.deps.progress())
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return final, "", sdkerr.New(sdkerr.Timeout, "timed out after %s waiting for job.batch/%s; it keeps running: see 'kubectl logs job/%s'", b.flags.Timeout, jobName, jobName)
	case err != nil:
		return final, "", err
	}
	if st := workload.BuildStateOf(final); st.Failed {
		return final, "", sdkerr.New(sdkerr.ImageBuild, "job.batch/%s failed: %s; the Job is kept for inspection (kubectl kaptain delete build %s when done)%s",
			jobName, firstNonEmpty(st.Message, st.Reason, "no message"), jobName, builderLogs(ctx, clientset.CoreV1(), ac.namespace, selector))
	}
	if d := digest.Load(); d != nil {
		return final, *d, nil
	}
	return final, "", nil
}

// builderLogs returns the last lines of the executor's log.
func builderLogs(ctx context.Context, pods corev1client.PodsGetter, namespace, selector string) string {
	list, err := pods.Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(list.Items) == 0 {
		return "\n(no builder log: the pod is gone)"
	}
	var b strings.Builder
	for i := range list.Items {
		text, err := logs.Last(ctx, pods, &list.Items[i], workload.BuilderContainer, 20, false)
		if err != nil {
			text = err.Error()
		}
		fmt.Fprintf(&b, "\nlast lines of the builder (pod %s):\n%s", list.Items[i].Name, text)
	}
	return b.String()
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
			fmt.Fprintf(w, "\rpushing [%s] %3d%% of %s", bar, pct, humanBytes(u.Total))
			drew = true
			continue
		}
		if q := pct / 25; q > lastQuarter {
			lastQuarter = q
			d.progress().Printf("pushing: %d%% of %s", pct, humanBytes(u.Total))
		}
	}
	if drew {
		fmt.Fprintln(w)
	}
}

// humanBytes formats a size as kubectl-like binary units.
func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
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
}

var buildFlagNames = []string{"builder", "docker-config", "registry-ca", "insecure-registry", "platform", "builder-image", "force-build", "build-timeout"}

func (b *buildFirst) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&b.Enabled, "build", false, "Build and push the image first, as 'kubectl kaptain build' does (skipped when the registry has it), and run it at its digest.")
	b.Flags.addFlags(cmd)
}

// complete reads the build settings when --build is given, and refuses build flags without it.
func (b *buildFirst) complete(cmd *cobra.Command, d *Deps, m *model.Model) error {
	if !b.Enabled {
		for _, n := range buildFlagNames {
			if cmd.Flags().Changed(n) {
				return sdkerr.New(sdkerr.Usage, "--%s only applies with --build", n)
			}
		}
		return nil
	}
	var err error
	b.build, err = b.Flags.complete(d, m)
	return err
}

// image builds when --build was given and returns the pinned image, or "" to run spec.image.
func (b *buildFirst) image(ctx context.Context, ac *actionContext, revision string, verbose bool) (string, error) {
	if b.build == nil {
		return "", nil
	}
	res, err := b.build.run(ctx, ac, revision, verbose)
	if err != nil || res == nil {
		return "", err
	}
	return res.Pinned, nil
}
