package executor

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
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
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Message: "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b\n"}},
			}}}})
			return &run.Outcome{}, nil
		},
		Progress: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) },
	}
	digest, err := j.Execute(context.Background(), "s3://kaptain/models/x/build/sum.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if digest != "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b" {
		t.Errorf("digest %q, want the termination message's", digest)
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

// TestDockerConfigHoldsTheTargetsCredentials: the executor's Docker config has the
// credentials a local push would use, a repository-scoped entry included, under the
// registry's key; a target that does not parse is an error, never Docker Hub's credentials
// (the audit's L11 and L13).
func TestDockerConfigHoldsTheTargetsCredentials(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no default registry CA
	auth := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	hub, repo, reg := auth("hub:hub-secret"), auth("repo:repo-secret"), auth("reg:reg-secret")
	dockerConfig := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(dockerConfig, []byte(`{"auths":{
		"https://index.docker.io/v1/": {"auth": "`+hub+`"},
		"registry.example.com": {"auth": "`+reg+`"},
		"registry.example.com/kaptain/mnist": {"auth": "`+repo+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		image, want string
	}{
		{"registry.example.com/kaptain/mnist:1", `{"auths":{"registry.example.com":{"auth":"` + repo + `"}}}`},
		{"registry.example.com/kaptain/other:1", `{"auths":{"registry.example.com":{"auth":"` + reg + `"}}}`},
		{"Not An Image!", "error"},
	} {
		t.Run(tc.image, func(t *testing.T) {
			m := &model.Model{Spec: model.Spec{ID: "dev/mnist", Image: tc.image}}
			s, err := image.Resolve(m, image.Source{DockerConfig: dockerConfig})
			if err != nil {
				t.Fatal(err)
			}
			got, err := DockerConfig(s, false)
			switch {
			case tc.want == "error":
				if err == nil || strings.Contains(string(got), hub) {
					t.Errorf("unparsable target: %s, %v; want an error", got, err)
				}
			case err != nil || string(got) != tc.want:
				t.Errorf("DockerConfig = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// TestDigestOfTakesADigestOnly: the termination message is the executor's digest only when it
// is one sha256 digest; a build step that writes something else is not believed (N5).
func TestDigestOfTakesADigestOnly(t *testing.T) {
	const d = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
	for msg, want := range map[string]string{
		d: d, " " + d + "\n": d,
		"sha256:abc\nx":                      "",
		d + "\nsha256:other":                 "",
		"sha512:" + strings.Repeat("a", 128): "",
		"pip wrote this":                     "",
	} {
		pod := &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Message: msg}}}}}}
		if got := digestOf(pod); got != want {
			t.Errorf("digestOf(%q) = %q, want %q", msg, got, want)
		}
	}
}
