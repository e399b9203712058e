//go:build e2e

package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// Knative Serving's kinds, as the real Knative controllers in the local cluster make them.
var (
	knativeServices       = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	knativeRoutes         = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "routes"}
	knativeRevisions      = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}
	knativeConfigurations = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "configurations"}
)

// serveStep returns a runner of deploy, promote and rollback in dir and ns that fails the
// test unless the plugin says the service is ready.
func serveStep(t *testing.T, dir, ns string) func(verb string, args ...string) {
	return func(verb string, args ...string) {
		t.Helper()
		if verb == "deploy" {
			// The simulated nodes ran no training code: nothing was saved to check.
			args = append(args, "--skip-model-check", small)
		}
		stdout, stderr, code := kaptain(t, dir, s3Env, append([]string{verb, "-n", ns, "--timeout", "3m"}, args...)...)
		if code != 0 || !strings.Contains(stderr, "is ready") {
			t.Fatalf("%s %v: exit %d\n%s%s", verb, args, code, stdout, stderr)
		}
	}
}

// knativeModel is the TensorFlow example served in Knative mode, with the local MinIO.
func knativeModel(t *testing.T, replace map[string]string) string {
	t.Helper()
	r := map[string]string{
		"    protocolVersion: v1\n": "    protocolVersion: v1\n    deploymentMode: Knative\n",
		"      region: us-east-1":   "      region: us-east-1\n      endpoint: http://minio.kubeflow:9000\n      forcePathStyle: true",
	}
	for k, v := range replace {
		r[k] = v
	}
	return copyModel(t, "mnist-tensorflow", r)
}

// routeTraffic is Knative's own account of a Route's split: revision name to percent, from
// the Route's status.traffic.
func routeTraffic(t *testing.T, ns, name string) map[string]int64 {
	t.Helper()
	route, err := suite.dynamic.Resource(knativeRoutes).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Knative Route %s: %v", name, err)
	}
	traffic, _, _ := unstructured.NestedSlice(route.Object, "status", "traffic")
	out := map[string]int64{}
	for _, e := range traffic {
		m, _ := e.(map[string]any)
		rev, _ := m["revisionName"].(string)
		pct, _ := m["percent"].(int64)
		out[rev] += pct
	}
	return out
}

// ready reports whether a Knative object's Ready condition is True.
func ready(obj *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if m, _ := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// revisionURIs maps each Knative Revision of ns to the model URI its pods load, for the ready
// ones.
func revisionURIs(t *testing.T, ns string) map[string]string {
	t.Helper()
	list, err := suite.dynamic.Resource(knativeRevisions).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range list.Items {
		if ready(&r) {
			out[r.GetName()] = r.GetAnnotations()["internal.serving.kserve.io/storage-initializer-sourceuri"]
		}
	}
	return out
}

// TestKnativeModeCanaryThroughKnativeServing deploys, canaries, promotes, canaries again,
// rolls back and undeploys a model in Knative mode through the real KServe v0.20 controller
// and the real Knative Serving: the split is read from Knative's Route, which the plugin
// never writes.
func TestKnativeModeCanaryThroughKnativeServing(t *testing.T) {
	ns := namespace(t)
	dir := knativeModel(t, nil)
	const uri1, uri2, uri3 = "s3://kaptain/models/dev/mnist-tensorflow/trained/1", "s3://kaptain/models/dev/mnist-tensorflow/trained/2", "s3://kaptain/models/dev/mnist-tensorflow/trained/3"
	step := serveStep(t, dir, ns)

	step("deploy", "--model-uri", uri1)
	list, err := suite.dynamic.Resource(isvcs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("inference services: %v", err)
	}
	name := list.Items[0].GetName()
	predictor := name + "-predictor"
	ksvc, err := suite.dynamic.Resource(knativeServices).Namespace(ns).Get(context.Background(), predictor, metav1.GetOptions{})
	if err != nil || !ready(ksvc) {
		t.Fatalf("Knative Service %s: %v, want it Ready", predictor, err)
	}
	first := predictor + "-00001"
	if got := routeTraffic(t, ns, predictor); len(got) != 1 || got[first] != 100 {
		t.Fatalf("after deploy, the Route's traffic %v, want 100%% to %s", got, first)
	}
	if got := revisionURIs(t, ns); got[first] != uri1 {
		t.Fatalf("after deploy, revisions %v, want %s serving %s", got, first, uri1)
	}
	checkStorageInitializer(t, ns, name)

	step("deploy", "--canary-traffic-percent", "30", "--model-uri", uri2)
	second := predictor + "-00002"
	if got := routeTraffic(t, ns, predictor); len(got) != 2 || got[second] != 30 || got[first] != 70 {
		t.Fatalf("during the canary, the Route's traffic %v, want 30%% to %s and 70%% to %s", got, second, first)
	}
	if got := revisionURIs(t, ns); got[second] != uri2 || got[first] != uri1 {
		t.Fatalf("during the canary, revisions %v", got)
	}
	out, errOut, _ := kaptain(t, dir, nil, "describe", "inferenceservice", name, "-n", ns)
	for _, want := range []string{
		`Mode:\s+(Knative|Serverless)\n`,
		regexp.QuoteMeta("30% to " + uri2 + " (canary), 70% to " + uri1),
		`Revision ` + second + `:\s+30%`,
		`Revision ` + first + `:\s+70%`,
		`Knative Service:\s+` + predictor + ` \(Ready\)`,
		`Knative Route:\s+` + predictor + ` \(Ready\)`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("describe during the canary, want %q:\n%s%s", want, out, errOut)
		}
	}
	// The service's printer columns show the split KServe copied from Knative's Route.
	out, errOut, _ = kaptain(t, dir, nil, "get", "inferenceservices", "-n", ns)
	if !regexp.MustCompile(name + `\s+\S+\s+True\s+70\s+30\s+`).MatchString(out) {
		t.Errorf("get inferenceservices during the canary, want PREV 70 and LATEST 30:\n%s%s", out, errOut)
	}

	step("promote")
	eventually(t, "promote sends all the traffic to the canary's Revision", func() bool {
		got := routeTraffic(t, ns, predictor)
		return len(got) == 1 && revisionURIs(t, ns)[firstKey(got)] == uri2 && got[firstKey(got)] == 100
	})

	step("deploy", "--canary-traffic-percent", "20", "--model-uri", uri3)
	if got := routeTraffic(t, ns, predictor); len(got) != 2 || uriShare(t, ns, got, uri3) != 20 || uriShare(t, ns, got, uri2) != 80 {
		t.Fatalf("second canary: the Route's traffic %v, revisions %v", got, revisionURIs(t, ns))
	}
	step("rollback")
	eventually(t, "rollback sends all the traffic to a Revision of the promoted model", func() bool {
		got := routeTraffic(t, ns, predictor)
		return len(got) == 1 && uriShare(t, ns, got, uri2) == 100
	})

	if _, stderr, code := kaptain(t, dir, nil, "undeploy", "-n", ns); code != 0 {
		t.Fatalf("undeploy: exit %d\n%s", code, stderr)
	}
	eventually(t, "undeploy leaves no Knative object, service or Secret", func() bool {
		return count(t, isvcs, ns) == 0 && count(t, knativeServices, ns) == 0 && count(t, knativeRoutes, ns) == 0 &&
			count(t, knativeConfigurations, ns) == 0 && count(t, knativeRevisions, ns) == 0 && len(secrets(t, ns)) == 0
	})
}

// firstKey is a one-entry map's key.
func firstKey(m map[string]int64) string {
	for k := range m {
		return k
	}
	return ""
}

// uriShare is the percent of a Route's traffic that goes to Revisions serving uri.
func uriShare(t *testing.T, ns string, traffic map[string]int64, uri string) int64 {
	t.Helper()
	uris := revisionURIs(t, ns)
	var sum int64
	for rev, pct := range traffic {
		if uris[rev] == uri {
			sum += pct
		}
	}
	return sum
}

// TestKnativeModeScaledToZeroIsReady deploys a model that may scale to zero and that Knative
// starts at zero pods (the local cluster's initial scale is 0, as on a cluster that starts
// services cold): deploy does not wait for a pod, the service is Ready.
func TestKnativeModeScaledToZeroIsReady(t *testing.T) {
	ns := namespace(t)
	dir := knativeModel(t, map[string]string{"    minReplicas: 1\n": "    minReplicas: 0\n"})
	serveStep(t, dir, ns)("deploy", "--model-uri", "s3://kaptain/models/dev/mnist-tensorflow/trained/1")
	pods, err := suite.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(pods.Items) != 0 {
		t.Fatalf("pods %d (%v), want none: Knative starts this service at zero", len(pods.Items), err)
	}
	list, err := suite.dynamic.Resource(isvcs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("inference services: %v", err)
	}
	out, errOut, _ := kaptain(t, dir, nil, "describe", "inferenceservice", list.Items[0].GetName(), "-n", ns)
	if !regexp.MustCompile(`State:\s+Ready`).MatchString(out) || !regexp.MustCompile(`Knative Revision:\s+\S+-predictor-00001 \(Ready\)`).MatchString(out) {
		t.Errorf("describe a service at zero pods, want it Ready:\n%s%s", out, errOut)
	}
}

// TestKnativeModeFailedRevisionIsDiagnosed serves a model with a runtime whose image is on a
// registry Knative must resolve, which the local cluster refuses (nothing leaves the
// machine): the Revision fails, deploy says so, and diagnose names the Revision's reason.
func TestKnativeModeFailedRevisionIsDiagnosed(t *testing.T) {
	ns := namespace(t)
	runtime := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
		"metadata": map[string]any{"name": "unreachable-runtime", "namespace": ns},
		"spec": map[string]any{
			"supportedModelFormats": []any{map[string]any{"name": "tensorflow", "version": "2", "autoSelect": false}},
			"protocolVersions":      []any{"v1"},
			"containers": []any{map[string]any{
				"name": "kserve-container", "image": "registry.kaptain.invalid/serving:1",
				"args": []any{"--model_base_path=/mnt/models"},
			}},
		},
	}}
	servingRuntimes := schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "servingruntimes"}
	if _, err := suite.dynamic.Resource(servingRuntimes).Namespace(ns).Create(context.Background(), runtime, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := knativeModel(t, map[string]string{"    protocolVersion: v1\n": "    protocolVersion: v1\n    deploymentMode: Knative\n    runtime: unreachable-runtime\n"})
	stdout, stderr, code := kaptain(t, dir, s3Env, "deploy", "-n", ns, "--timeout", "90s", "--skip-model-check", small, "--model-uri", "s3://kaptain/models/dev/mnist-tensorflow/trained/1")
	if code == 0 {
		t.Fatalf("deploy with an unreachable image: exit 0, want a failure\n%s%s", stdout, stderr)
	}
	// Knative's tag resolution went to the local cluster's refusing proxy: nothing left the
	// machine.
	if code != sdkerr.ModelDeployment.ExitCode() || !strings.Contains(stderr, "registry.kaptain.invalid") || !strings.Contains(stderr, "proxyconnect") {
		t.Errorf("deploy with an unreachable image: exit %d, want %d naming the image\n%s", code, sdkerr.ModelDeployment.ExitCode(), stderr)
	}
	out, errOut, _ := kaptain(t, dir, nil, "diagnose", "-n", ns)
	if !strings.Contains(out+errOut, "registry.kaptain.invalid") || !regexp.MustCompile(`Revision.serving.knative.dev\s+\S+-predictor-00001\s+NotReady`).MatchString(out+errOut) {
		t.Errorf("diagnose, want the failed Revision and its image:\n%s%s", out, errOut)
	}
}
