package executor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/image"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
)

// TestExecuteRunsTheBuildJobAsAnAction checks the action the executor hands to the engine:
// the build Job and its Secrets, owned by the Job, waited for as a build, removed only after
// success, and the digest read from the executor's termination message.
func TestExecuteRunsTheBuildJobAsAnAction(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	m := &model.Model{Spec: model.Spec{ID: "dev/mnist", Image: "registry.example.com/kaptain/mnist:1"}}
	settings, err := image.Resolve(m, image.Source{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	var got run.Action
	var owner *render.OwnerLinks
	var lines []string
	j := &Job{
		Model: m, Settings: settings, Revision: "7b93c1d2", Timeout: time.Minute, DockerConfigJSON: []byte(`{"auths":{}}`),
		StorageSecret: func(context.Context, string) (*unstructured.Unstructured, error) { return nil, nil },
		Action: func(objs []*unstructured.Unstructured, o *render.OwnerLinks) run.Action {
			owner = o
			return run.Action{Objects: objs}
		},
		Run: func(_ context.Context, a run.Action) (*run.Outcome, error) {
			got = a
			a.Applied(&run.Outcome{})
			// The executor's pod ends with the digest in its termination message.
			a.Wait.Pods.Observe(&corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Message: "sha256:abc\n"}},
			}}}})
			return &run.Outcome{}, nil
		},
		Progress: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) },
	}
	digest, err := j.Execute(context.Background(), "s3://kaptain/models/x/build/sum.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if digest != "sha256:abc" {
		t.Errorf("digest %q, want sha256:abc", digest)
	}
	var kinds []string
	for _, o := range got.Objects {
		kinds = append(kinds, o.GetKind())
	}
	name := m.JobName(model.ActionBuild, "7b93c1d2")
	if strings.Join(kinds, ",") != "Secret,Job" || owner == nil || owner.Name != name || owner.Kind != "Job" {
		t.Errorf("objects %v, owner %+v", kinds, owner)
	}
	if got.Wait == nil || got.Wait.Name != name || got.Wait.Kind.Kind != "Job" || got.Remove.When != run.WhenSucceeded {
		t.Errorf("wait %+v, removal %+v", got.Wait, got.Remove)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "job.batch/"+name+" is building registry.example.com/kaptain/mnist:1") {
		t.Errorf("progress %q", lines)
	}
}
