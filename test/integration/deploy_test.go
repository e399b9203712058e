//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/platform"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/test/servers"
)

const isvcName = "dev-mnist-tensorflow-4bd4aad1"

var creds = []string{"AWS_ACCESS_KEY_ID=minio", "AWS_SECRET_ACCESS_KEY=minio-secret"}

func isvc(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	obj, err := shared.dynamic.Resource(inferenceSvc).Namespace(ns).Get(context.Background(), isvcName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the inference service: %v", err)
	}
	return obj
}

// setReady plays KServe: the service's status says Ready for its current generation.
func setReady(t *testing.T, obj *unstructured.Unstructured, status, reason string) {
	t.Helper()
	obj = obj.DeepCopy()
	obj.Object["status"] = map[string]any{
		"url":                "http://" + obj.GetName() + "." + obj.GetNamespace() + ".example.com",
		"observedGeneration": obj.GetGeneration(),
		"conditions": []any{
			map[string]any{"type": "PredictorReady", "status": status, "reason": reason, "message": "predictor " + reason, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)},
			map[string]any{"type": "Ready", "status": status, "reason": reason, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)},
		},
	}
	if _, err := shared.dynamic.Resource(inferenceSvc).Namespace(obj.GetNamespace()).UpdateStatus(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitForISVC(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if obj, err := shared.dynamic.Resource(inferenceSvc).Namespace(ns).Get(context.Background(), isvcName, metav1.GetOptions{}); err == nil {
			return obj
		}
	}
	t.Fatal("the inference service never appeared")
	return nil
}

func predictor(obj *unstructured.Unstructured) (uri string, canary int64, hasCanary bool) {
	uri, _, _ = unstructured.NestedString(obj.Object, "spec", "predictor", "model", "storageUri")
	canary, hasCanary, _ = unstructured.NestedInt64(obj.Object, "spec", "predictor", "canaryTrafficPercent")
	return uri, canary, hasCanary
}

func TestDeployCanaryPromoteRollbackUndeploy(t *testing.T) {
	ns := namespace(t)
	dir := repoPath("examples", "mnist-tensorflow")
	kap := func(code int, want string, args ...string) {
		t.Helper()
		r := kaptain(t, dir, creds, append(args, "-n", ns)...)
		if r.code != code || !strings.Contains(r.stderr+r.stdout, want) {
			t.Fatalf("%v: exit %d (want %d), output %q (want %q)", args, r.code, code, r.stderr+r.stdout, want)
		}
	}
	// Misuse before anything is deployed changes nothing.
	kap(8, "is not deployed, so it has no traffic to share with a canary", "deploy", "--canary-traffic-percent", "30", "--model-uri", "s3://kaptain/m/2")
	kap(8, "is not deployed; nothing to promote", "promote")
	kap(8, "is not deployed; nothing to roll back", "rollback")
	kap(8, "is not deployed: there is no inferenceservice", "undeploy")
	kap(9, "has no trained revision to deploy; train it first or pass --model-uri", "deploy")
	if n := count(t, inferenceSvc, ns); n != 0 {
		t.Fatalf("%d inference services after refused commands", n)
	}

	r := start(t, dir, creds, "deploy", "--skip-model-check", "-n", ns, "--model-uri", "s3://kaptain/m/1", "--cpu", "1", "--timeout", "60s")
	obj := waitForISVC(t, ns)
	setReady(t, obj, "True", "")
	if code := r.Exit(t, 30*time.Second); code != 0 {
		t.Fatalf("deploy: exit %d: %s", code, r.Stderr())
	}
	if !strings.Contains(r.Stderr(), "is ready: http://"+isvcName+"."+ns+".example.com") {
		t.Errorf("deploy did not print the URL:\n%s", r.Stderr())
	}
	if rec := record(t, "mnist-tensorflow", ns); rec.State != track.Deployed || rec.History[len(rec.History)-1].ModelURI != "s3://kaptain/m/1" {
		t.Errorf("the record after deploy: %+v", rec)
	}
	obj = isvc(t, ns)
	sa, err := shared.client.CoreV1().ServiceAccounts(ns).Get(context.Background(), isvcName+"-storage", metav1.GetOptions{})
	if err != nil || len(sa.Secrets) != 1 || sa.Secrets[0].Name != isvcName+"-storage" {
		t.Fatalf("service account: %v %+v", err, sa)
	}
	secret, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), isvcName+"-storage", metav1.GetOptions{})
	if err != nil || secret.Annotations["serving.kserve.io/s3-region"] != "us-east-1" || string(secret.Data["AWS_ACCESS_KEY_ID"]) != "minio" {
		t.Fatalf("storage secret: %v %+v", err, secret)
	}
	if name, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "serviceAccountName"); name != sa.Name {
		t.Errorf("predictor service account = %q", name)
	}

	kap(8, "is already deployed as inferenceservice "+isvcName+"; add --replace", "deploy", "--model-uri", "s3://kaptain/m/9")
	kap(8, "has no canary to promote", "promote")
	if after := isvc(t, ns); after.GetResourceVersion() != obj.GetResourceVersion() {
		t.Error("a refused command changed the service")
	}

	kap(0, "", "deploy", "--skip-model-check", "--canary-traffic-percent", "30", "--model-uri", "s3://kaptain/m/2", "--wait=false")
	obj = isvc(t, ns)
	if uri, pct, ok := predictor(obj); uri != "s3://kaptain/m/2" || !ok || pct != 30 || obj.GetAnnotations()["kaptain.dev/previous-model-uri"] != "s3://kaptain/m/1" {
		t.Fatalf("canary: %s %d %v %v", uri, pct, ok, obj.GetAnnotations())
	}
	if cpu, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "model", "resources", "limits", "cpu"); cpu != "" {
		t.Logf("canary resources come from its own flags: cpu %q", cpu)
	}
	kap(0, "", "deploy", "--skip-model-check", "--canary-traffic-percent", "50", "--model-uri", "s3://kaptain/m/2", "--wait=false")
	if obj = isvc(t, ns); obj.GetAnnotations()["kaptain.dev/previous-model-uri"] != "s3://kaptain/m/1" {
		t.Errorf("changing the canary lost the baseline: %v", obj.GetAnnotations())
	}

	kap(0, "", "promote", "--wait=false")
	obj = isvc(t, ns)
	if uri, _, ok := predictor(obj); uri != "s3://kaptain/m/2" || ok || obj.GetAnnotations()["kaptain.dev/previous-model-uri"] != "" {
		t.Fatalf("promote: %s canary=%v %v", uri, ok, obj.GetAnnotations())
	}
	kap(8, "has no canary to roll back", "rollback")

	kap(0, "", "deploy", "--skip-model-check", "--canary-traffic-percent", "30", "--model-uri", "s3://kaptain/m/3", "--wait=false")
	kap(0, "", "rollback", "--wait=false")
	obj = isvc(t, ns)
	if uri, _, ok := predictor(obj); uri != "s3://kaptain/m/2" || ok {
		t.Fatalf("rollback: %s canary=%v", uri, ok)
	}

	kap(0, "inferenceservice.serving.kserve.io/"+isvcName+" deleted", "undeploy")
	if _, err := shared.dynamic.Resource(inferenceSvc).Namespace(ns).Get(context.Background(), isvcName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the service is still there: %v", err)
	}
	for _, get := range []func() error{
		func() error {
			_, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), isvcName+"-storage", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := shared.client.CoreV1().ServiceAccounts(ns).Get(context.Background(), isvcName+"-storage", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); !apierrors.IsNotFound(err) {
			t.Errorf("storage credentials left behind: %v", err)
		}
	}
}

func TestDeployFailsOnAFalseCondition(t *testing.T) {
	ns := namespace(t)
	r := start(t, repoPath("examples", "mnist-tensorflow"), nil, "deploy", "--skip-model-check", "-n", ns, "--model-uri", "s3://kaptain/m/1", "--timeout", "60s")
	setReady(t, waitForISVC(t, ns), "False", "RevisionFailed")
	if code := r.Exit(t, 30*time.Second); code != sdkerr.ModelDeployment.ExitCode() {
		t.Fatalf("exit %d, want 8: %s", code, r.Stderr())
	}
	if !strings.Contains(r.Stderr(), "is not ready: RevisionFailed: predictor RevisionFailed\npredictor pods: none") {
		t.Errorf("stderr:\n%s", r.Stderr())
	}
}

func TestDeployDefaultsToTheLatestTrainedModel(t *testing.T) {
	ns := namespace(t)
	store := &track.Store{ConfigMaps: shared.client.CoreV1(), Namespace: ns, NewRevision: func() string { return "r0" }, Now: time.Now}
	const trained = "s3://kaptain/models/dev/mnist-tensorflow/trained/"
	for i, uri := range []string{trained + "r1", trained + "r2"} {
		_, err := store.Update(context.Background(), "dev/mnist-tensorflow", "dev-mnist-tensorflow-4bd4aad1", func(r *track.Record) error {
			r.Apply(track.Action{Name: "train", Revision: fmt.Sprint("r", i+1), ModelURI: uri}, time.Now())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "deploy", "--skip-model-check", "-n", ns, "--dry-run=server", "-o", "jsonpath={.spec.predictor.model.storageUri}")
	if r.code != 0 || r.stdout != trained+"r2" {
		t.Errorf("exit %d, storageUri %q, stderr %q; want the latest trained model", r.code, r.stdout, r.stderr)
	}
	// A record edited by someone else to point elsewhere, or to smuggle $(VAR) into the
	// storage initializer's arguments, is refused before anything is created (the audit's N3).
	for _, uri := range []string{"s3://other-bucket/stolen/model", trained + "$(AWS_SECRET_ACCESS_KEY)"} {
		_, err := store.Update(context.Background(), "dev/mnist-tensorflow", "dev-mnist-tensorflow-4bd4aad1", func(r *track.Record) error {
			r.Apply(track.Action{Name: "train", Revision: "r9", ModelURI: uri}, time.Now())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "deploy", "--skip-model-check", "-n", ns, "--dry-run=server", "-o", "name")
		if r.code != sdkerr.ModelValidation.ExitCode() || !strings.Contains(r.stderr, "names a model URI kaptain did not write") || r.stdout != "" {
			t.Errorf("a record pointing at %s: exit %d, %q %q", uri, r.code, r.stdout, r.stderr)
		}
	}
}

// TestDeployEveryFrameworkAndModePassesServerDryRun checks the rendered services against
// the upstream KServe CRD.
func TestDeployEveryFrameworkAndModePassesServerDryRun(t *testing.T) {
	ns := namespace(t)
	base, err := os.ReadFile(repoPath("examples", "mnist-tensorflow", "kaptain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fw := range []string{"tensorflow", "pytorch", "sklearn", "xgboost", "lightgbm", "onnx", "huggingface", "triton", "pmml", "paddle", "mlflow"} {
		for _, mode := range []string{"Serverless", "RawDeployment"} {
			dir := t.TempDir()
			doc := strings.Replace(string(base), "framework: tensorflow", "framework: "+fw, 1)
			doc = strings.Replace(doc, "    protocolVersion: v1", "    protocolVersion: v2\n    deploymentMode: "+mode, 1)
			if err := os.WriteFile(filepath.Join(dir, "kaptain.yaml"), []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			r := kaptain(t, dir, creds, "deploy", "--skip-model-check", "-n", ns, "--dry-run=server", "--model-uri", "s3://kaptain/m/1", "--gpus", "1", "-o", "yaml")
			if r.code != 0 || !strings.Contains(r.stdout, "name: "+fw) || !strings.Contains(r.stdout, "serving.kserve.io/deploymentMode: "+mode) {
				t.Errorf("%s %s: exit %d: %s", fw, mode, r.code, r.stderr)
			}
		}
	}
	if count(t, inferenceSvc, ns) != 0 {
		t.Error("a server dry run created a service")
	}
}

// TestCanaryRefusedWhereItWouldTakeAllTheTraffic: a service in RawDeployment (Standard) mode on
// a KServe without spec.canary (v0.15's CRD here) ignores canaryTrafficPercent, so deploy
// refuses the canary (exit 8) and leaves the service as it was.
func TestCanaryRefusedWhereItWouldTakeAllTheTraffic(t *testing.T) {
	ns := namespace(t)
	dir := t.TempDir()
	data, err := os.ReadFile(repoPath("examples", "mnist-tensorflow", "kaptain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.Replace(string(data), "  serving:\n", "  serving:\n    deploymentMode: RawDeployment\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "kaptain.yaml"), []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trainer.py"), []byte("print('train')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := kaptain(t, dir, creds, "deploy", "--skip-model-check", "-n", ns, "--model-uri", "s3://kaptain/m/1", "--wait=false"); r.code != 0 {
		t.Fatalf("deploy: exit %d\n%s", r.code, r.stderr)
	}
	before := isvc(t, ns)
	if before.GetAnnotations()["serving.kserve.io/deploymentMode"] != "RawDeployment" {
		t.Fatalf("annotations %v", before.GetAnnotations())
	}
	r := kaptain(t, dir, creds, "deploy", "-n", ns, "--canary-traffic-percent", "30", "--model-uri", "s3://kaptain/m/2")
	for _, want := range []string{
		"runs in RawDeployment mode (from inferenceservice " + before.GetName() + ")",
		"spec.canary came with KServe v0.20",
		"the new model would take all the traffic; nothing was changed",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code != sdkerr.ModelDeployment.ExitCode() {
		t.Errorf("exit %d, want 8 (ModelDeployment)", r.code)
	}
	if after := isvc(t, ns); after.GetResourceVersion() != before.GetResourceVersion() {
		t.Errorf("the service changed: resourceVersion %s, then %s", before.GetResourceVersion(), after.GetResourceVersion())
	}
	// The refusal comes from the real API server's OpenAPI document of the v0.15 CRD, read
	// and found to have no spec.canary (not from a schema that could not be found).
	dc, err := discovery.NewDiscoveryClientForConfig(shared.config)
	if err != nil {
		t.Fatal(err)
	}
	if canary, err := platform.ServesStandardCanary(dc.OpenAPIV3(), schema.GroupVersion{Group: "serving.kserve.io", Version: "v1beta1"}); err != nil || canary {
		t.Errorf("ServesStandardCanary on KServe v0.15's CRD: %v, %v", canary, err)
	}
}

// TestDeployChecksTheModelFirst lists the storage URI on a real S3 server before anything is
// created: a SavedModel under a version directory passes; an empty prefix and a Keras file
// are refused with what TensorFlow Serving wants (exit 9); storage that cannot be reached is
// an error of its own (exit 8).
func TestDeployChecksTheModelFirst(t *testing.T) {
	ns := namespace(t)
	s3srv := servers.StartS3(t, "kaptain")
	for key, body := range map[string]string{
		"models/good/1/saved_model.pb":            "pb",
		"models/good/1/variables/variables.index": "index",
		"models/keras/model.keras":                "keras",
		"models/goodness/1/saved_model.pb":        "a sibling of good, not under it",
	} {
		if _, err := s3srv.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: ptrTo("kaptain"), Key: ptrTo(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	model := func(endpoint string) string {
		dir := t.TempDir()
		data, err := os.ReadFile(repoPath("examples", "mnist-tensorflow", "kaptain.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		y := strings.Replace(string(data), "  config:\n", fmt.Sprintf("  config:\n    storage: {endpoint: %q, forcePathStyle: true}\n", endpoint), 1)
		y = strings.Replace(y, "    storage:\n      region: us-east-1\n", "", 1)
		if err := os.WriteFile(filepath.Join(dir, "kaptain.yaml"), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "trainer.py"), []byte("print('train')\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir := model(s3srv.Endpoint)
	env := s3srv.Env()
	for _, tc := range []struct {
		uri  string
		code int
		want string
	}{
		{"s3://kaptain/models/empty", 9, "s3://kaptain/models/empty holds nothing TensorFlow Serving loads: it wants a SavedModel under a numbered version directory: <uri>/<version>/saved_model.pb (e.g. 1/saved_model.pb, with 1/variables/); found nothing; nothing was changed (--skip-model-check deploys without checking)"},
		{"s3://kaptain/models/keras", 9, "found model.keras"},
		{"s3://kaptain/models/good", 0, ""},
	} {
		r := kaptain(t, dir, env, "deploy", "-n", ns, "--model-uri", tc.uri, "--wait=false", "--replace")
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("deploy %s: exit %d (want %d)\n%s", tc.uri, r.code, tc.code, r.stderr)
		}
		if tc.code != 0 && count(t, inferenceSvc, ns) != 0 {
			t.Fatalf("deploy %s created a service", tc.uri)
		}
	}
	if count(t, inferenceSvc, ns) != 1 {
		t.Fatal("the SavedModel was not deployed")
	}
	// Storage that cannot be reached is not a mismatch.
	r := kaptain(t, model("http://"+servers.FreePort(t)), env, "deploy", "-n", ns, "--model-uri", "s3://kaptain/models/good", "--replace", "--wait=false")
	if r.code != sdkerr.ModelDeployment.ExitCode() || !strings.Contains(r.stderr, "cannot check the model: listing s3://kaptain/models/good: cannot reach the S3 server; check spec.config.storage.endpoint") {
		t.Errorf("unreachable storage: exit %d\n%s", r.code, r.stderr)
	}
}
