// Package executor runs the cluster builder's kaniko-style executor as an action of its own
// (pkg/run): Secrets for the Docker credentials, S3 and the registry's CA, and a batch/v1 Job,
// all removed after success and on Ctrl-C, and kept for inspection after a failure. It is the
// image.Executor of image.Cluster.
package executor

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/image"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run/waitfor"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Job runs one build of a model in the cluster.
type Job struct {
	Model    *model.Model
	Settings *image.Settings
	Revision string
	// BuilderImage is the executor's image; Resources its requests and limits.
	BuilderImage string
	Resources    workload.Resources
	Timeout      time.Duration
	// DockerConfigJSON holds the target registry's credentials for the executor (see
	// DockerConfig), read before the context is uploaded.
	DockerConfigJSON []byte
	// Logs, when set, receives the executor's log.
	Logs io.Writer
	// StorageSecret returns the Secret with the S3 credentials the executor reads, or nil.
	StorageSecret func(ctx context.Context, name string) (*unstructured.Unstructured, error)
	// Action returns the command's action of objs (namespace, labels, dry run, printer).
	Action func(objs []*unstructured.Unstructured, owner *render.OwnerLinks) run.Action
	// Run executes an action.
	Run func(ctx context.Context, a run.Action) (*run.Outcome, error)
	// Progress prints a progress line.
	Progress func(format string, args ...any)
}

var _ image.Executor = (*Job)(nil)

// Execute runs the executor on the uploaded context and returns the digest from its
// termination message, "" when it wrote none (or for a dry run).
func (j *Job) Execute(ctx context.Context, contextURI string) (string, error) {
	m, s := j.Model, j.Settings
	jobName := m.JobName(model.ActionBuild, j.Revision)
	var objs []*unstructured.Unstructured
	storageName := ""
	secret, err := j.StorageSecret(ctx, jobName+"-storage")
	if err != nil {
		return "", err
	}
	if secret != nil {
		objs = append(objs, secret)
		storageName = secret.GetName()
	}
	built, err := workload.BuildObjects(workload.Build{
		Name: jobName, BuilderImage: j.BuilderImage, Context: contextURI, Dockerfile: image.DockerfileName,
		Destination: s.Target, Registry: s.Host(), DockerConfigJSON: j.DockerConfigJSON, StorageSecret: storageName,
		RegistryCA: s.CAPEM, Insecure: s.Registry.Insecure, Resources: j.Resources, Timeout: j.Timeout,
	})
	if err != nil {
		return "", sdkerr.Wrap(sdkerr.Usage, err, "")
	}
	var digest atomic.Pointer[string]
	a := j.Action(append(objs, built...), &render.OwnerLinks{APIVersion: "batch/v1", Kind: "Job", Name: jobName, OwnedKinds: []string{"Secret"}})
	a.Wait = waitfor.Build(jobName, j.Timeout)
	a.Wait.Pods.Logs = j.Logs
	a.Wait.Pods.Observe = func(pod *corev1.Pod) {
		if d := digestOf(pod); d != "" {
			digest.Store(&d)
		}
	}
	// A failed build keeps its Job (and logs) for inspection, not the credentials; nor does
	// one that timed out, as the Job's deadline (the same --build-timeout) stops its pod.
	a.Remove = run.Removal{When: run.WhenSucceeded, OnceDone: []string{"Secret"}, OnTimeout: []string{"Secret"}}
	a.Applied = func(*run.Outcome) { j.Progress("job.batch/%s is building %s in the cluster", jobName, s.Target) }
	if _, err := j.Run(ctx, a); err != nil {
		return "", err
	}
	if d := digest.Load(); d != nil {
		return *d, nil
	}
	return "", nil
}

// digestOf is the digest the executor wrote to its termination message when it succeeded:
// a sha256 digest and nothing else (a build step can write the termination log too; the
// builder confirms the digest with the registry).
func digestOf(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		t := cs.State.Terminated
		if t == nil || t.ExitCode != 0 {
			continue
		}
		if h, err := v1.NewHash(strings.TrimSpace(t.Message)); err == nil && h.Algorithm == "sha256" {
			return h.String()
		}
	}
	return ""
}

// DockerConfig returns the Docker config the executor pushes with: the target's credentials
// only (those of its repository when the Docker config has an entry for it, else its
// registry's). Offline (a client dry run) runs no credential helper and returns an empty
// config; its Secret prints redacted anyway.
func DockerConfig(s *image.Settings, offline bool) ([]byte, error) {
	if offline {
		return []byte(`{"auths":{}}`), nil
	}
	repo, err := repository(s.Target)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.InvalidModelProperty, err, "")
	}
	data, err := credentials.DockerConfigJSON(s.Registry.Keychain, repo)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "reading registry credentials from %s", s.Hints.DockerConfig)
	}
	return data, nil
}

// Resources reads KAPTAIN_SDK_DOCKER_BUILDER_{CPU,MEM}_{REQUEST,LIMIT}.
func Resources(env config.Env) workload.Resources {
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

// repository is the repository of the image reference target. A reference that does not
// parse is an error: no other registry's credentials (Docker Hub's) stand in for it.
func repository(target string) (name.Repository, error) {
	ref, err := name.ParseReference(target)
	if err != nil {
		return name.Repository{}, fmt.Errorf("spec.image %q is not an image reference: %w", target, err)
	}
	return ref.Context(), nil
}
