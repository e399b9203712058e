//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// restartAPIServer stops the suite's kube-apiserver and starts it again on the same port,
// certificates and etcd, as an upgrade of the control plane or a crash does: SIGTERM, and
// SIGKILL if it still drains its watches after 3 s. Tests that call it must not be parallel:
// every client loses the server meanwhile.
func restartAPIServer(t *testing.T, down time.Duration) {
	t.Helper()
	api := shared.env.ControlPlane.GetAPIServer()
	api.StopTimeout = 3 * time.Second
	if err := api.Stop(); err != nil && !strings.Contains(err.Error(), "timeout waiting for process kube-apiserver to stop") {
		t.Fatalf("stopping kube-apiserver: %v", err)
	}
	time.Sleep(down)
	if err := api.Start(); err != nil {
		t.Fatalf("starting kube-apiserver again: %v", err)
	}
}

func TestTrainWaitSurvivesAnAPIServerRestart(t *testing.T) {
	ns := namespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), nil, "train", "-n", ns, "--timeout", "2m", "-o", "name")
	job := createdJob(t, tfJobs, ns)
	setStatus(t, tfJobs, job, []string{"Created", "Running"}, 2, 0, "TFJob running")
	waitFor(t, r, "Running (2/2 replicas active)")

	restartAPIServer(t, 3*time.Second)
	// The operator's next status change happens after the restart: only a wait that
	// re-established its watch sees it.
	setStatus(t, tfJobs, job, []string{"Created", "Running", "Succeeded"}, 0, 2, "TFJob succeeded")
	if code := r.Exit(t, time.Minute); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, r.Stderr())
	}
	if want := "tfjob.kubeflow.org/" + job.GetName() + " Succeeded (2/2 replicas succeeded)"; !strings.Contains(r.Stderr(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.Stderr())
	}
	if strings.TrimSpace(r.Stdout()) != "tfjob.kubeflow.org/"+job.GetName() {
		t.Errorf("stdout = %q, want only the job's name", r.Stdout())
	}
}

// holdingWebhook is a validating admission webhook on loopback that holds every TFJob
// creation in one namespace until the test releases it, and then refuses it: the window in
// which an action has made its Secret but not yet the workload that will own it, made as
// long as a test needs.
type holdingWebhook struct {
	held    chan struct{} // closed when the first creation is held
	release chan struct{} // closed by the test
	probed  chan struct{} // receives once per dry-run probe
	once    sync.Once
	ended   sync.Once
}

// Release lets the held creation go on to its refusal.
func (h *holdingWebhook) Release() { h.ended.Do(func() { close(h.release) }) }

func holdTFJobs(t *testing.T, ns string) *holdingWebhook {
	t.Helper()
	h := &holdingWebhook{held: make(chan struct{}), release: make(chan struct{}), probed: make(chan struct{}, 16)}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if review.Request.DryRun != nil && *review.Request.DryRun {
			select {
			case h.probed <- struct{}{}:
			default:
			}
		} else {
			h.once.Do(func() { close(h.held) })
			select {
			case <-h.release:
			case <-r.Context().Done():
			}
			resp.Allowed, resp.Result = false, &metav1.Status{Message: "held by the test, then refused"}
		}
		review.Response, review.Request = resp, nil
		_ = json.NewEncoder(w).Encode(review)
	}))
	t.Cleanup(func() { h.Release(); srv.Close() })
	fail, none, timeout := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone, int32(30)
	config := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "hold-tfjobs-" + ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "hold.tfjobs.kaptain.test",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL:      &srv.URL,
				CABundle: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"kubeflow.org"}, APIVersions: []string{"v1"}, Resources: []string{"tfjobs"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	hooks := shared.client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := hooks.Create(context.Background(), config, metav1.CreateOptions{}); err != nil {
		t.Fatalf("registering the webhook: %v", err)
	}
	t.Cleanup(func() { _ = hooks.Delete(context.Background(), config.Name, metav1.DeleteOptions{}) })
	// The API server takes the configuration up a moment later: probe with dry runs until
	// the webhook sees one.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, _ = shared.dynamic.Resource(tfJobs).Namespace(ns).Create(context.Background(), tfJob(ns, "probe", int64(1)), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		select {
		case <-h.probed:
			return h
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the webhook was never called")
		}
	}
}

// managedSecrets lists the names of the Secrets kubectl kaptain made in ns.
func managedSecrets(t *testing.T, ns string) []string {
	t.Helper()
	list, err := shared.client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=kubectl-kaptain"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

func TestCleanFindsWhatAKilledTrainLeft(t *testing.T) {
	ns := namespace(t)
	aws := []string{"AWS_ACCESS_KEY_ID=minio", "AWS_SECRET_ACCESS_KEY=minio-secret"}
	example := repoPath("examples", "mnist-tensorflow")
	// What must stay: the user's own Secret, and a job kaptain made with the Secret it owns.
	if _, err := applier().Apply(context.Background(), []*unstructured.Unstructured{secret(ns, "users-secret")}); err != nil {
		t.Fatal(err)
	}
	if r := kaptain(t, example, aws, "train", "-n", ns, "--wait=false", "-o", "name"); r.code != 0 {
		t.Fatalf("train --wait=false: exit %d\n%s", r.code, r.stderr)
	}
	before := managedSecrets(t, ns)
	if len(before) != 1 {
		t.Fatalf("the first train made Secrets %v, want one", before)
	}

	hook := holdTFJobs(t, ns)
	r := start(t, example, aws, "train", "-n", ns, "--timeout", "2m")
	select {
	case <-hook.held:
	case <-time.After(30 * time.Second):
		t.Fatalf("train never tried to create its job; stderr:\n%s", r.Stderr())
	}
	var left string
	for _, name := range managedSecrets(t, ns) {
		if !slices.Contains(before, name) {
			left = name
		}
	}
	if left == "" {
		t.Fatal("train holds its job's creation without having made its storage Secret")
	}

	// A clean run by someone else while train is between its Secret and its job must not
	// take the Secret from under it.
	c := kaptain(t, ".", nil, "clean", "--force", "-n", ns)
	if c.code != 0 || !strings.Contains(c.stdout, "secrets/"+left+" kept for now") {
		t.Errorf("clean --force during train: exit %d\n%s%s", c.code, c.stdout, c.stderr)
	}

	r.Signal(t, syscall.SIGKILL)
	r.Exit(t, 10*time.Second)
	hook.Release()

	c = kaptain(t, ".", nil, "clean", "-n", ns)
	if c.code != 0 || !strings.Contains(c.stdout, "secrets/"+left+" kept for now (not used by any workload") || strings.Contains(c.stdout, "users-secret") {
		t.Errorf("clean after kill -9: exit %d\n%s%s", c.code, c.stdout, c.stderr)
	}
	c = kaptain(t, ".", nil, "clean", "--force", "--min-age=0", "-n", ns)
	if c.code != 0 || strings.TrimSpace(c.stdout) != "secret/"+left+" deleted" {
		t.Errorf("clean --force --min-age=0: exit %d, want only secret/%s deleted:\n%s%s", c.code, left, c.stdout, c.stderr)
	}
	if got := managedSecrets(t, ns); !slices.Equal(got, before) {
		t.Errorf("after clean, kaptain's Secrets are %v, want %v", got, before)
	}
	if _, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), "users-secret", metav1.GetOptions{}); err != nil {
		t.Errorf("the user's Secret: %v", err)
	}
	if n := count(t, tfJobs, ns); n != 1 {
		t.Errorf("%d TFJobs, want the first train's only", n)
	}
}
