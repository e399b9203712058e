//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

type finding struct {
	Kind, Name, Status, Problem string
}

func TestDescribeAndDiagnose(t *testing.T) {
	ns := namespace(t)
	inspectFixture(t, ns)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "running-job-worker-0", Labels: map[string]string{
			model.LabelManagedBy: model.ManagedByValue, "training.kubeflow.org/job-name": "running-job",
			"training.kubeflow.org/replica-type": "worker", "training.kubeflow.org/replica-index": "0"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "tensorflow", Image: "m:1"}}},
	}
	created, err := shared.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.PodPending
	created.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "tensorflow", Image: "m:1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "not found"}}}}
	if _, err := shared.client.CoreV1().Pods(ns).UpdateStatus(context.Background(), created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	r := kaptain(t, ".", nil, "describe", "job", "running-job", "-n", ns)
	for _, want := range []string{"Name:", "running-job", "Kind:         TFJob", "Kaptain:", "Running (1/1 replicas active)", "Pod worker-0:", "ImagePullBackOff"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("describe job lacks %q (exit %d):\n%s%s", want, r.code, r.stdout, r.stderr)
		}
	}
	r = kaptain(t, ".", nil, "describe", "inferenceservice", "isvc-ready", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "URL:") || !strings.Contains(r.stdout, "http://isvc-ready."+ns+".example.com") {
		t.Errorf("describe inferenceservice:\n%s%s", r.stdout, r.stderr)
	}

	r = kaptain(t, ".", nil, "diagnose", "-n", ns, "-o", "json")
	if r.code != sdkerr.Unknown.ExitCode() || !strings.Contains(r.stderr, "problem(s)") {
		t.Errorf("diagnose: exit %d, stderr %q", r.code, r.stderr)
	}
	var findings []finding
	if err := json.Unmarshal([]byte(r.stdout), &findings); err != nil {
		t.Fatalf("diagnose -o json: %v\n%s", err, r.stdout)
	}
	problems := map[string]string{}
	all := map[string]bool{}
	for _, f := range findings {
		all[f.Kind+"/"+f.Name] = true
		if f.Problem != "" {
			problems[f.Kind+"/"+f.Name] = f.Problem
		}
	}
	for key, want := range map[string]string{
		"PyTorchJob/done-pt":       "failed",
		"Secret/stale-secret":      "no workload uses it",
		"ServiceAccount/stale-sa":  "no workload uses it",
		"Pod/running-job-worker-0": "ImagePullBackOff",
	} {
		if !strings.Contains(problems[key], want) {
			t.Errorf("%s: problem %q, want %q", key, problems[key], want)
		}
	}
	for _, healthy := range []string{"TFJob/running-job", "InferenceService/isvc-ready", "Secret/used-secret", "Secret/owned-secret"} {
		if !all[healthy] || problems[healthy] != "" {
			t.Errorf("%s: listed %v, problem %q", healthy, all[healthy], problems[healthy])
		}
	}
	if all["TFJob/user-job"] || all["Secret/user-secret"] {
		t.Error("diagnose lists the user's objects")
	}
	for key := range problems {
		if strings.HasPrefix(key, "Permission/") {
			t.Errorf("an admin lacks a permission: %s", problems[key])
		}
	}
}

func TestDiagnoseReportsMissingPermissions(t *testing.T) {
	ns := namespace(t)
	user, err := shared.env.AddUser(envtest.User{Name: "intern"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "intern")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	r := kaptain(t, ".", nil, "--kubeconfig", path, "diagnose", "-n", ns)
	if r.code != sdkerr.Unknown.ExitCode() || !strings.Contains(r.stdout, "you may not get, list, watch, create, patch, delete tfjobs.kubeflow.org in namespace "+ns) ||
		!strings.Contains(r.stdout, "you may not get pods/log") {
		t.Errorf("diagnose as a user without permissions: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
