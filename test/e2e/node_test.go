//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/kaptain-dev/kubectl-kaptain/test/localcluster"
	"github.com/kaptain-dev/kubectl-kaptain/test/servers"
)

// probe is what the real node's pod runs: Python and numpy from the base image made here, a
// request to this machine's address on the node's network, a connection to an address outside
// and a name outside, which must fail, and the name of its own headless service, which the
// cluster's DNS server answers.
const probe = `import os, sys, socket, time, urllib.request
import numpy
print("numpy", numpy.__version__)
print("registry", urllib.request.urlopen("http://%s/v2/", timeout=5).status)
try:
    socket.create_connection(("192.0.2.1", 80), timeout=3)
    print("outside: reached")
except OSError as e:
    print("outside: unreachable")
try:
    print("outside name:", socket.gethostbyname("deb.debian.org"))
except OSError as e:
    print("outside name: unresolved")
# Its own headless service: its endpoint appears once the endpoint slice controller saw the pod.
for attempt in range(50):
    try:
        print("cluster name:", socket.gethostbyname("probe." + os.environ["NAMESPACE"] + ".svc.cluster.local"),
              "is", socket.gethostbyname(socket.gethostname()))
        break
    except OSError:
        time.sleep(0.2)
else:
    print("cluster name: unresolved")
`

// TestRealNodeRunsPython runs a pod on the real node (kubelet, containerd, runc and the CNI
// bridge in a network namespace of the cluster's): its container runs the base image's Python,
// reaches this machine's address on the node's network, and nothing beyond it; the cluster's
// DNS server resolves its service's name, and no name outside.
func TestRealNodeRunsPython(t *testing.T) {
	node := realNode(t)
	ns := namespace(t)
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "probe"}, PublishNotReadyAddresses: true},
	}
	if _, err := suite.client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns, Labels: map[string]string{"app": "probe"}},
		Spec: corev1.PodSpec{
			NodeSelector:                 map[string]string{localcluster.RealNodeLabel: "real"},
			Tolerations:                  []corev1.Toleration{{Key: localcluster.RealNodeTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: new(bool),
			Containers: []corev1.Container{{
				Name: "probe", Image: node.BaseImage,
				Command: []string{"python3", "-c", strings.Replace(probe, "%s", node.Registry, 1)},
				Env:     []corev1.EnvVar{{Name: "NAMESPACE", Value: ns}},
			}},
		},
	}
	if _, err := suite.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var phase corev1.PodPhase
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		p, err := suite.client.CoreV1().Pods(ns).Get(ctx, "probe", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if phase = p.Status.Phase; phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			if p.Spec.NodeName != localcluster.RealNodeName {
				t.Errorf("the pod ran on %s, not the real node", p.Spec.NodeName)
			}
			break
		}
	}
	logs, err := suite.client.CoreV1().Pods(ns).GetLogs("probe", &corev1.PodLogOptions{}).Do(ctx).Raw()
	t.Logf("pod %s in %s; its output (read from the real kubelet):\n%s", phase, time.Since(start).Round(100*time.Millisecond), logs)
	if err != nil || phase != corev1.PodSucceeded {
		t.Fatalf("the pod ended %s; logs: %v", phase, err)
	}
	if !regexp.MustCompile(`cluster name: (10\.202\.\d+\.\d+) is (10\.202\.\d+\.\d+)\n`).MatchString(string(logs)) {
		t.Errorf("the pod did not resolve its service's name to a pod address")
	} else if m := regexp.MustCompile(`cluster name: (\S+) is (\S+)\n`).FindStringSubmatch(string(logs)); m[1] != m[2] {
		t.Errorf("the pod's service resolved to %s, the pod is %s", m[1], m[2])
	}
	for _, want := range []string{"numpy 1.", "registry 200", "outside: unreachable", "outside name: unresolved"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("the pod's output lacks %q", want)
		}
	}
}

// realNodePatch sends a TFJob's workers to the real node.
const realNodePatch = `kind: TFJob
spec:
  tfReplicaSpecs:
    Worker:
      template:
        spec:
          nodeSelector: {"` + localcluster.RealNodeLabel + `": real}
          tolerations: [{key: "` + localcluster.RealNodeTaint + `", operator: Exists, effect: NoSchedule}]
`

// TestTrainRunsTheCodeOnTheRealNode builds the starter trainer init writes on the base image
// made here, trains it as a one-worker TFJob through the real Training Operator on the real
// node, and finds what the code wrote: its metric lines in the logs, and the model it uploaded
// to the S3 server (on this machine's address on the node's network) where
// TRAINED_MODEL_UPLOAD_PATH says.
func TestTrainRunsTheCodeOnTheRealNode(t *testing.T) {
	node := realNode(t)
	ns := namespace(t)
	s3srv := servers.StartS3At(t, node.HostIP, "kaptain")
	dir := t.TempDir()
	if _, stderr, code := kaptain(t, dir, nil, "init", "--framework", "tensorflow"); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	yaml := fmt.Sprintf(`apiVersion: kaptain.dev/v1alpha1
kind: Model
spec:
  id: dev/real-node
  name: real node
  description: init's starter trainer on the real node
  version: "0.0.1"
  framework: tensorflow
  frameworkVersion: "2.16.1"
  mainFile: trainer.py
  image: %s/kaptain/real-node:0.0.1
  baseImage: %s
  hyperparameters: {lr: 0.5, epochs: 4}
  config:
    modelStorageURI: s3://kaptain/models
    storage: {endpoint: %q, region: us-east-1, forcePathStyle: true}
`, node.Registry, node.BaseImage, s3srv.Endpoint)
	if err := os.WriteFile(filepath.Join(dir, "kaptain.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "real-node.yaml"), []byte(realNodePatch), 0o644); err != nil {
		t.Fatal(err)
	}
	job, stderr := trainOnTheRealNode(t, dir, s3srv, ns, "tfjob.kubeflow.org/", "--workers", "1", "--patch", "real-node.yaml")
	logs, logErr, code := kaptain(t, dir, nil, "logs", job, "-n", ns)
	if code != 0 || !strings.Contains(logs, "[worker-0] epoch=4 loss=") || !strings.Contains(logs, "[worker-0] saved the model to s3://kaptain/models/dev/real-node/trained/") {
		t.Errorf("logs: exit %d\n%s%s", code, logs, logErr)
	}
	// The code's upload, at the URI train said.
	uri := regexp.MustCompile(`the code was told to save it to (s3://\S+)`).FindStringSubmatch(stderr)
	if uri == nil {
		t.Fatalf("train named no model URI:\n%s", stderr)
	}
	key := strings.TrimPrefix(uri[1], "s3://kaptain/") + "/model.json"
	obj, err := s3srv.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("kaptain"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("the trained model is not in S3 at %s: %v", key, err)
	}
	defer obj.Body.Close()
	var model map[string]float64
	if err := json.NewDecoder(obj.Body).Decode(&model); err != nil || math.Abs(model["w"]-3) > 0.5 || math.Abs(model["b"]-1) > 0.5 {
		t.Errorf("the model the code saved: %v, %v; want w near 3 and b near 1", model, err)
	}
}

// onTheRealNode are the flags that send a command's pods to the real node, whatever their
// kind (TrainJob, an Experiment's trials, an InferenceService's predictor).
var onTheRealNode = []string{"--node-selector", localcluster.RealNodeLabel + "=real", "--toleration", localcluster.RealNodeTaint + ":NoSchedule"}

// trainOnTheRealNode runs train --build there (pushing to the node's registry) with args,
// and returns the name of the job of kind prefix it created, and what it printed on stderr.
func trainOnTheRealNode(t *testing.T, dir string, s3srv *servers.S3, ns, prefix string, args ...string) (job, stderr string) {
	t.Helper()
	start := time.Now()
	args = append([]string{"train", "-n", ns, "--build", "--insecure-registry", "--timeout", "4m", "-o", "name"}, args...)
	stdout, stderr, code := kaptain(t, dir, s3srv.Env(), args...)
	t.Logf("%s in %s:\n%s%s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond), stdout, stderr)
	if code != 0 {
		t.Fatalf("train: exit %d", code)
	}
	return createdName(t, stdout, prefix), stderr
}

// realNode is the local cluster's real node.
func realNode(t *testing.T) *localcluster.RealNode {
	t.Helper()
	if suite.cluster.Node == nil {
		t.Fatal("the local cluster has no real node; make e2e starts one (KAPTAIN_NODE from hack/node.sh)")
	}
	return suite.cluster.Node
}

// irisOnTheRealNode copies the XGBoost example for the real node: its image in the node's
// registry on the base image made here (whose Debian packages stand for its requirements),
// and its models in s3srv.
func irisOnTheRealNode(t *testing.T, node *localcluster.RealNode, s3srv *servers.S3) string {
	t.Helper()
	dir := copyModel(t, "iris-xgboost", map[string]string{
		"registry.example.com/kaptain/iris-xgboost:0.0.1":     node.Registry + "/kaptain/iris-xgboost:0.0.1",
		"baseImage: ghcr.io/kubeflow/trainer/xgboost-runtime": "baseImage: " + node.BaseImage,
		"  requirements: requirements.txt\n":                  "",
		"    modelStorageURI: s3://kaptain/models":            fmt.Sprintf("    modelStorageURI: s3://kaptain/models\n    storage: {endpoint: %q, region: us-east-1, forcePathStyle: true}", s3srv.Endpoint),
	})
	return dir
}

// TestServeOnTheRealNode trains the XGBoost example as a TrainJob on Trainer's
// xgboost-distributed runtime on the real node, deploys what its code saved (the model-layout
// check reads it in S3: no --skip-model-check), and asks the predictor, which KServe's storage
// initializer filled from S3, for predictions. KServe's XGBoost runtime runs the local
// cluster's model server, made here on the base image (test/localcluster/serving).
func TestServeOnTheRealNode(t *testing.T) {
	node := realNode(t)
	ns := namespace(t)
	s3srv := servers.StartS3At(t, node.HostIP, "kaptain")
	dir := irisOnTheRealNode(t, node, s3srv)
	job, _ := trainOnTheRealNode(t, dir, s3srv, ns, "trainjob.trainer.kubeflow.org/", append([]string{"--workers", "1"}, onTheRealNode...)...)
	if logs, _, _ := kaptain(t, dir, nil, "logs", job, "-n", ns); !regexp.MustCompile(`accuracy=(0\.9\d*|1\.0+)\b`).MatchString(logs) {
		t.Errorf("the code printed no accuracy of 0.9 or more:\n%s", logs)
	}

	start := time.Now()
	stdout, stderr, code := kaptain(t, dir, s3srv.Env(), append([]string{"deploy", "-n", ns,
		"--cpu", "200m", "--memory", "256Mi", "--timeout", "3m", "-o", "name"}, onTheRealNode...)...)
	t.Logf("deploy in %s:\n%s%s", time.Since(start).Round(100*time.Millisecond), stdout, stderr)
	if code != 0 {
		t.Fatalf("deploy: exit %d", code)
	}
	isvc := createdName(t, stdout, "inferenceservice.serving.kserve.io/")
	var answer struct{ Predictions []float64 }
	got := predict(t, ns, isvc, `{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]}`)
	if err := json.Unmarshal([]byte(got), &answer); err != nil || !slices.Equal(answer.Predictions, []float64{0, 2, 1}) {
		t.Errorf("predictions %s (%v), want setosa, virginica and versicolor: [0, 2, 1]", got, err)
	}
	if _, stderr, code := kaptain(t, dir, nil, "undeploy", "-n", ns); code != 0 {
		t.Errorf("undeploy: exit %d\n%s", code, stderr)
	}
}

// predict posts a V1 prediction request to an InferenceService's predictor through the API
// server's service proxy (the local cluster runs no kube-proxy: the API server reaches the
// predictor's pod on the node's network) and returns the answer.
func predict(t *testing.T, ns, isvc, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := suite.client.CoreV1().RESTClient().Post().
		AbsPath("/api/v1/namespaces", ns, "services", isvc+"-predictor:80", "proxy", "v1", "models", isvc+":predict").
		SetHeader("Content-Type", "application/json").Body([]byte(body)).DoRaw(ctx)
	if err != nil {
		t.Fatalf("predicting with %s: %v: %s", isvc, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestTwoNodesMeetOnTheRealNode trains the XGBoost example on two nodes of a TrainJob on the
// real node: node 0 runs XGBoost's tracker, node 1 finds it by the name Trainer gives it
// (DMLC_TRACKER_URI, <job>-node-0-0.<job>, which the cluster's DNS server resolves from the
// JobSet's headless service), and the two train one model together: both print the same
// accuracy, and node 0 saves it.
func TestTwoNodesMeetOnTheRealNode(t *testing.T) {
	node := realNode(t)
	ns := namespace(t)
	s3srv := servers.StartS3At(t, node.HostIP, "kaptain")
	dir := irisOnTheRealNode(t, node, s3srv)
	job, stderr := trainOnTheRealNode(t, dir, s3srv, ns, "trainjob.trainer.kubeflow.org/", append([]string{"--workers", "2", "--cpu", "300m", "--memory", "512Mi"}, onTheRealNode...)...)
	logs, _, _ := kaptain(t, dir, nil, "logs", job, "-n", ns)
	accuracy := map[string]string{}
	for _, m := range regexp.MustCompile(`\[(node-\d)\] accuracy=(\S+)`).FindAllStringSubmatch(logs, -1) {
		accuracy[m[1]] = m[2]
	}
	if len(accuracy) != 2 || accuracy["node-0"] != accuracy["node-1"] {
		t.Errorf("want the same accuracy from node-0 and node-1, got %v:\n%s", accuracy, logs)
	}
	uri := regexp.MustCompile(`the code was told to save it to (s3://\S+)`).FindStringSubmatch(stderr)
	if uri == nil {
		t.Fatalf("train named no model URI:\n%s", stderr)
	}
	key := strings.TrimPrefix(uri[1], "s3://kaptain/") + "/model.bst"
	if _, err := s3srv.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("kaptain"), Key: aws.String(key)}); err != nil {
		t.Errorf("the trained model is not in S3 at %s: %v", key, err)
	}
}

// TestTuneOnTheRealNode tunes the XGBoost example with Katib on the real node: two trials, each
// a TrainJob whose node runs the code with Katib's own StdOut metrics collector beside it
// (Katib's webhook adds it; built from Katib's module, on the base image), which reads what the
// code printed and reports it to the db-manager by the name Katib gives it. The trials'
// metrics are the code's (accuracy with four decimals, as trainer.py prints it; katib-play,
// which plays the collector for the simulated nodes, reports six) and tune ranks them.
func TestTuneOnTheRealNode(t *testing.T) {
	node := realNode(t)
	ns := katibNamespace(t)
	s3srv := servers.StartS3At(t, node.HostIP, "kaptain")
	dir := irisOnTheRealNode(t, node, s3srv)
	// Katib deletes a trial's TrainJob once it succeeded: its pods are seen while it runs.
	seen := watchPods(t, ns)
	start := time.Now()
	stdout, stderr, code := kaptain(t, dir, s3srv.Env(), append([]string{"tune", "-n", ns, "--build", "--insecure-registry",
		"--param", "rounds=int:1:3", "--param", "max-depth=int:1:2", "--objective", "accuracy",
		"--trials", "2", "--parallel-trials", "2", "--failed-trials", "0", "--workers", "1", "--cpu", "300m", "--memory", "512Mi",
		"--timeout", "5m", "-o", "json"}, onTheRealNode...)...)
	t.Logf("tune on the real node in %s:\n%s%s", time.Since(start).Round(100*time.Millisecond), stderr, stdout)
	if code != 0 {
		t.Fatalf("tune: exit %d", code)
	}
	res := decodeTuneResult(t, stdout)
	list, err := suite.dynamic.Resource(trials).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("trials: %v (%d)", err, len(list.Items))
	}
	printed := regexp.MustCompile(`^(0\.\d{4}|1\.0000)$`)
	for _, trial := range list.Items {
		got := observed(trial, "accuracy")
		if !printed.MatchString(got) {
			t.Errorf("trial %s %v: Katib observed accuracy %q, not what trainer.py prints (four decimals)", trial.GetName(), assignmentsOf(trial), got)
		}
		p, ok := seen()[trial.GetName()]
		if !ok {
			t.Fatalf("no scheduled pod of trial %s was seen", trial.GetName())
		}
		names := []string{}
		for _, c := range p.Spec.Containers {
			names = append(names, c.Name)
		}
		if p.Spec.NodeName != localcluster.RealNodeName || !slices.Contains(names, "metrics-logger-and-collector") {
			t.Errorf("trial %s ran on %s with containers %v, want the real node and Katib's collector", trial.GetName(), p.Spec.NodeName, names)
		}
	}
	if res.Trials.Succeeded != 2 || len(res.Ranking) != 2 || !printed.MatchString(res.Metrics["accuracy"]) {
		t.Errorf("tune's result: %+v", res)
	}
}

// watchPods records, until the test ends, the last scheduled pod of each JobSet in ns, by the
// JobSet's name; the returned function reads what was recorded so far.
func watchPods(t *testing.T, ns string) func() map[string]corev1.Pod {
	t.Helper()
	w, err := suite.client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: "jobset.sigs.k8s.io/jobset-name"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	var mu sync.Mutex
	pods := map[string]corev1.Pod{}
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && p.Spec.NodeName != "" {
				mu.Lock()
				pods[p.Labels["jobset.sigs.k8s.io/jobset-name"]] = *p
				mu.Unlock()
			}
		}
	}()
	return func() map[string]corev1.Pod {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(pods)
	}
}
