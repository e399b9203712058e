//go:build e2e

// Package e2e drives the built kubectl-kaptain binary against a local Kubeflow cluster whose
// operators are real (Kubeflow Training Operator, KServe) and whose nodes and pods kwok
// simulates. Run it with 'make e2e'.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/image"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/test/harness"
	"github.com/kaptain-dev/kubectl-kaptain/test/localcluster"
	"github.com/kaptain-dev/kubectl-kaptain/test/plugintest"
	"github.com/kaptain-dev/kubectl-kaptain/test/servers"
)

var (
	tfJobs      = harness.TFJobs
	pyTorchJobs = harness.PyTorchJobs
	isvcs       = harness.InferenceServices
)

// suiteState is the cluster and plugin every test shares.
type suiteState struct {
	kubeconfig string
	binary     string
	home       string
	client     kubernetes.Interface
	dynamic    dynamic.Interface
	cluster    *localcluster.Cluster
}

// suite is the state of the suite's run.
var suite suiteState

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	cp, ops, pg, node := os.Getenv("KAPTAIN_CONTROL_PLANE"), os.Getenv("KAPTAIN_OPERATORS"), os.Getenv("KAPTAIN_POSTGRES"), os.Getenv("KAPTAIN_NODE")
	if cp == "" || ops == "" || pg == "" || node == "" {
		fmt.Fprintln(os.Stderr, "e2e tests need KAPTAIN_CONTROL_PLANE, KAPTAIN_OPERATORS, KAPTAIN_POSTGRES and KAPTAIN_NODE: run 'make e2e'")
		return 1
	}
	dir, err := os.MkdirTemp("", "kaptain-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	c, err := localcluster.Start(context.Background(), localcluster.Options{
		ControlPlane: cp, Operators: ops, Postgres: pg, Node: node, Dir: filepath.Join(dir, "cluster"), Log: os.Stderr,
		// The running instance has printed one line; the one before it failed.
		Logs: []localcluster.PodLogs{{Namespaces: []string{failingNamespace}, Lines: []string{"epoch=1"}, Previous: traceback}},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the local cluster: %v\n", err)
		if c != nil {
			_ = c.Stop()
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "local cluster up in %s\n", time.Since(start).Round(100*time.Millisecond))
	defer func() {
		s := time.Now()
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the local cluster: %v\n", err)
		}
		fmt.Fprintf(os.Stderr, "local cluster stopped in %s\n", time.Since(s).Round(100*time.Millisecond))
	}()
	suite.kubeconfig = c.Kubeconfig
	suite.cluster = c
	suite.home = filepath.Join(dir, "home")
	_ = os.MkdirAll(suite.home, 0o755)
	if suite.binary, err = harness.BuildPlugin(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if suite.client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return 1
	}
	if suite.dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		return 1
	}
	code := m.Run()
	if code != 0 {
		// The components' logs go with the temporary directory: show their ends.
		logs, _ := filepath.Glob(filepath.Join(dir, "cluster", "*.log"))
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			fmt.Fprintf(os.Stderr, "==> %s (last lines)\n%s\n", filepath.Base(l), strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
	}
	return code
}

// namespace creates a namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	return labelledNamespace(t, nil)
}

// labelledNamespace creates a namespace for one test with labels, once its default
// ServiceAccount is there.
func labelledNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	// Short: KServe's predictor host is <service>-predictor-<namespace>, one DNS label of 63
	// characters.
	name := suite.kube().Namespace(t, harness.NamespaceName(t, "e2e-", 10), labels)
	if err := localcluster.WaitForDefaultServiceAccount(context.Background(), suite.client, name); err != nil {
		t.Fatal(err)
	}
	return name
}

// failingNamespace is where the simulated containers print traceback instead of
// localcluster.TrainingOutput.
const failingNamespace = "e2e-failing-script"

// traceback is what a failing training script prints.
var traceback = []string{
	"epoch=1",
	"Traceback (most recent call last):",
	`  File "/app/mnist.py", line 50, in <module>`,
	"ValueError: the learning rate must be positive, got -0.1",
}

// s3Env gives the plugin S3 credentials, so that workloads get a storage Secret.
var s3Env = []string{"AWS_ACCESS_KEY_ID=e2e-access", "AWS_SECRET_ACCESS_KEY=e2e-secret"}

// plugin is the built binary run against the local cluster.
func plugin() plugintest.Plugin {
	return plugintest.Plugin{Binary: suite.binary, Kubeconfig: suite.kubeconfig, Home: suite.home}
}

// kaptain runs the plugin in dir to the end.
func kaptain(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := plugin().Run(t, 5*time.Minute, dir, env, args...)
	return r.Stdout, r.Stderr, r.Code
}

// copyModel copies an example into a temporary directory, with replacements in kaptain.yaml.
func copyModel(t *testing.T, example string, replace map[string]string) string {
	t.Helper()
	return plugintest.CopyModel(t, filepath.Join("..", "..", "examples", example), replace)
}

func count(t *testing.T, gvr schema.GroupVersionResource, ns string) int {
	t.Helper()
	return suite.kube().Count(t, gvr, ns)
}

// kube are the suite's clients.
func (s *suiteState) kube() harness.Kube { return harness.Kube{Client: s.client, Dynamic: s.dynamic} }

func secrets(t *testing.T, ns string) []string {
	t.Helper()
	return suite.kube().SecretNames(t, ns)
}

// eventually polls cond for up to a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within a minute", what)
}

const small = "--cpu=100m"

// slowWorkers writes a patch that makes the TFJob's workers finish after delay (kwok's
// pod-complete stage reads the annotation) and returns its path.
func slowWorkers(t *testing.T, dir, delay string) string {
	t.Helper()
	patch := filepath.Join(dir, "slow.yaml")
	if err := os.WriteFile(patch, []byte(`apiVersion: kubeflow.org/v1
kind: TFJob
spec:
  tfReplicaSpecs:
    Worker:
      template:
        metadata:
          annotations:
            pod-complete.stage.kwok.x-k8s.io/delay: `+delay+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return patch
}

func TestTFJobSucceedsThroughTheOperator(t *testing.T) {
	ns := namespace(t)
	dir := copyModel(t, "mnist-tensorflow", nil)
	start := time.Now()
	// The workers run for two seconds, so the operator reports them Running before Succeeded.
	_, stderr, code := kaptain(t, dir, s3Env, "train", "-n", ns, "--workers", "2", small, "--memory=128Mi", "--patch", slowWorkers(t, dir, "2s"), "--timeout", "3m")
	if code != 0 {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	// The operator calls a TFJob without a chief Succeeded when worker 0 has succeeded: the
	// other worker may still be finishing.
	for _, want := range []string{"Running (2/2 replicas active)", " Succeeded (", "trained model dev/mnist-tensorflow"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("train's progress lacks %q:\n%s", want, stderr)
		}
	}
	// The operator took it through Created, Running and Succeeded.
	list, err := suite.dynamic.Resource(tfJobs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("tfjobs: %v", err)
	}
	conds, _, _ := unstructured.NestedSlice(list.Items[0].Object, "status", "conditions")
	var types []string
	for _, c := range conds {
		types = append(types, fmt.Sprint(c.(map[string]any)["type"]))
	}
	if strings.Join(types, ",") != "Created,Running,Succeeded" {
		t.Errorf("the TFJob's conditions are %v, want Created, Running, Succeeded", types)
	}
	t.Logf("TFJob to Succeeded in %s", time.Since(start).Round(100*time.Millisecond))
	// get and describe show the real status.
	out, errOut, code := kaptain(t, dir, nil, "get", "jobs", "-n", ns)
	if code != 0 || !strings.Contains(out, "TFJob") || !strings.Contains(out, "Succeeded") {
		t.Fatalf("get jobs: exit %d\n%s%s", code, out, errOut)
	}
	job := strings.Fields(strings.Split(out, "\n")[1])[1]
	out, errOut, code = kaptain(t, dir, nil, "describe", "job", job, "-n", ns)
	if code != 0 || !strings.Contains(out, "Succeeded") || !strings.Contains(out, "Pod worker-0:") {
		t.Fatalf("describe job: exit %d\n%s%s", code, out, errOut)
	}
	// logs reads the replicas' output through the API server's pod log proxy, from kwok's
	// kubelet API.
	out, errOut, code = kaptain(t, dir, nil, "logs", job, "-n", ns, "--replica", "worker-0", "--tail", "2")
	if code != 0 || out != "[worker-0] test-loss=0.1702\n[worker-0] test-accuracy=0.9507\n" {
		t.Errorf("logs --replica worker-0 --tail 2: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Following a finished job prints what there is and ends.
	out, errOut, code = kaptain(t, dir, nil, "logs", job, "-n", ns, "--replica", "worker-0", "-f")
	if code != 0 || !strings.HasSuffix(out, "[worker-0] test-accuracy=0.9507\n") {
		t.Errorf("logs -f of a finished job: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

func TestPyTorchJobSucceedsThroughTheOperator(t *testing.T) {
	ns := namespace(t)
	dir := copyModel(t, "mnist-pytorch", nil)
	// The cluster serves TrainJob too: a pytorch model takes it unless told v1.
	_, stderr, code := kaptain(t, dir, s3Env, "train", "-n", ns, "--workers", "3", small, "--memory=128Mi", "--timeout", "3m", "-v", "--training-api", "v1")
	if code != 0 || !strings.Contains(stderr, "Succeeded") {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	// -v streams every replica's log, prefixed, and ends once the job has.
	for _, want := range []string{"[master-0] epoch=1\n", "[master-0] test-accuracy=0.9507\n", "[worker-1] test-accuracy=0.9507\n"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("train -v lacks %q:\n%s", want, stderr)
		}
	}
	if count(t, pyTorchJobs, ns) != 1 {
		t.Fatal("no PyTorchJob")
	}
}

// TestScaleUpKeepsTrainWaiting plays a cluster autoscaler: its status ConfigMap says one runs,
// a TriggeredScaleUp event names the job's unschedulable pod, and a node with the GPUs joins a
// little later. train says it waits for the node, and the job then runs to success.
func TestScaleUpKeepsTrainWaiting(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	status := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-autoscaler-status", Namespace: "kube-system"}, Data: map[string]string{"status": "Cluster-wide: Health: Healthy"}}
	if _, err := suite.client.CoreV1().ConfigMaps("kube-system").Create(ctx, status, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node := localcluster.Node{Name: "kwok-node-scaled-up", CPU: "8", Memory: "32Gi", GPUs: 4}
	t.Cleanup(func() {
		_ = suite.client.CoreV1().ConfigMaps("kube-system").Delete(ctx, status.Name, metav1.DeleteOptions{})
		_ = suite.client.CoreV1().Nodes().Delete(ctx, node.Name, metav1.DeleteOptions{})
	})
	dir := copyModel(t, "mnist-tensorflow", nil)
	// Exec, not Run: a goroutine must not end the test (t.Fatal); the run's error is read below.
	type outcome struct {
		plugintest.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := plugin().Exec(5*time.Minute, dir, nil, "train", "-n", ns, "--workers", "1", "--gpus", "4", "--timeout", "4m")
		done <- outcome{r, err}
	}()
	// The autoscaler's verdict on the pod the scheduler could not place.
	var pod *corev1.Pod
	eventually(t, "the worker is unschedulable", func() bool {
		pods, err := suite.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			return false
		}
		for _, c := range pods.Items[0].Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
				pod = &pods.Items[0]
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second) // the plugin has seen the pod without a verdict
	now := metav1.Now()
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
		Reason:         "TriggeredScaleUp", Message: "pod triggered scale-up: [{gpu-pool 0->1 (max: 2)}]", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "cluster-autoscaler"}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	if _, err := suite.client.CoreV1().Events(ns).Create(ctx, event, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The new node joins after the plugin's next look at the pod (every 10 s).
	time.Sleep(12 * time.Second)
	select {
	case r := <-done:
		t.Fatalf("train ended before the node joined: exit %d, %v\n%s", r.Code, r.err, r.Stderr)
	default:
	}
	if err := localcluster.CreateNode(ctx, suite.client, node); err != nil {
		t.Fatal(err)
	}
	var r plugintest.Result
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatal(o.err)
		}
		r = o.Result
	case <-time.After(5 * time.Minute):
		t.Fatal("train did not end")
	}
	for _, want := range []string{"waiting up to 1m0s for the cluster autoscaler's verdict", "a node is being added for it (TriggeredScaleUp: pod triggered scale-up", "waiting up to --pending-timeout 15m0s", "Succeeded"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if r.Code != 0 {
		t.Errorf("train: exit %d, want 0\n%s", r.Code, r.Stderr)
	}
}

func TestGarbageCollectorRemovesTransientSecrets(t *testing.T) {
	ns := namespace(t)
	dir := copyModel(t, "mnist-tensorflow", nil)
	_, stderr, code := kaptain(t, dir, s3Env, "train", "-n", ns, "--workers", "1", small, "--wait=false")
	if code != 0 || len(secrets(t, ns)) != 1 {
		t.Fatalf("train: exit %d, secrets %v\n%s", code, secrets(t, ns), stderr)
	}
	list, err := suite.dynamic.Resource(tfJobs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("jobs: %v", err)
	}
	// Delete the job by hand, as a user would with kubectl: only the owner reference removes
	// the Secret.
	if err := suite.dynamic.Resource(tfJobs).Namespace(ns).Delete(context.Background(), list.Items[0].GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the garbage collector removes the storage Secret", func() bool { return len(secrets(t, ns)) == 0 })
}

// TestStandardModeCanaryThroughKServe deploys, canaries, promotes, canaries again, rolls back
// and undeploys a model in Standard mode through the real KServe v0.20 controller and its
// webhooks (the validator judges every InferenceService; the pod mutator injects the storage
// initializer into the predictor's pods).
func TestStandardModeCanaryThroughKServe(t *testing.T) {
	ns := namespace(t)
	dir := copyModel(t, "mnist-tensorflow", map[string]string{
		// Ten pods: KServe gives a canary of 30% three of them, and the stable predictor seven.
		"    minReplicas: 1\n    maxReplicas: 3": "    minReplicas: 10\n    maxReplicas: 12",
		"      region: us-east-1":                "      region: us-east-1\n      endpoint: http://minio.kubeflow:9000\n      forcePathStyle: true",
	})
	const uri1, uri2, uri3 = "s3://kaptain/models/dev/mnist-tensorflow/trained/1", "s3://kaptain/models/dev/mnist-tensorflow/trained/2", "s3://kaptain/models/dev/mnist-tensorflow/trained/3"
	deploy := serveStep(t, dir, ns)
	// served maps each predictor Deployment to the model URI its pods load.
	served := func() map[string]string {
		d, err := suite.client.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, dep := range d.Items {
			out[dep.Name] = dep.Spec.Template.Annotations["internal.serving.kserve.io/storage-initializer-sourceuri"]
		}
		return out
	}
	deploy("deploy", "--model-uri", uri1)
	list, err := suite.dynamic.Resource(isvcs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("inference services: %v", err)
	}
	name := list.Items[0].GetName()
	stable := name + "-predictor"
	if got := served(); len(got) != 1 || got[stable] != uri1 {
		t.Fatalf("after deploy, predictors %v, want %s serving %s", got, stable, uri1)
	}
	checkStorageInitializer(t, ns, name)

	deploy("deploy", "--canary-traffic-percent", "30", "--model-uri", uri2)
	svc, err := suite.dynamic.Resource(isvcs).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	statuses, _, _ := unstructured.NestedSlice(svc.Object, "status", "canaryStatuses")
	if len(statuses) != 1 || statuses[0].(map[string]any)["trafficPercent"] != int64(30) || statuses[0].(map[string]any)["ready"] != true {
		t.Fatalf("KServe's canary statuses %v, want one ready with 30%%", statuses)
	}
	canary := name + "-" + statuses[0].(map[string]any)["name"].(string) + "-predictor"
	if got := served(); len(got) != 2 || got[stable] != uri1 || got[canary] != uri2 {
		t.Fatalf("during the canary, predictors %v, want the stable one serving %s and %s serving %s", got, uri1, canary, uri2)
	}
	replicas := map[string]int32{}
	d, _ := suite.client.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
	for _, dep := range d.Items {
		replicas[dep.Name] = *dep.Spec.Replicas
	}
	// KServe gives the canary its share of the predictor's minimum replicas.
	if replicas[canary] != 3 {
		t.Errorf("replicas %v, want 3 for the canary", replicas)
	}
	out, errOut, _ := kaptain(t, dir, nil, "describe", "inferenceservice", name, "-n", ns)
	if !strings.Contains(out, "30% to "+uri2+" (canary), 70% to "+uri1) || !regexp.MustCompile(`Mode:\s+(Standard|RawDeployment)\n`).MatchString(out) {
		t.Errorf("describe during the canary, want its traffic and mode:\n%s%s", out, errOut)
	}

	deploy("promote")
	eventually(t, "promote leaves the canary's Deployment serving alone", func() bool {
		got := served()
		return len(got) == 1 && got[canary] == uri2
	})

	deploy("deploy", "--canary-traffic-percent", "20", "--model-uri", uri3)
	if got := served(); len(got) != 2 || got[canary] != uri2 {
		t.Fatalf("second canary: predictors %v", got)
	}
	deploy("rollback")
	eventually(t, "rollback leaves the promoted model serving alone", func() bool {
		got := served()
		return len(got) == 1 && got[canary] == uri2
	})

	if _, stderr, code := kaptain(t, dir, nil, "undeploy", "-n", ns); code != 0 {
		t.Fatalf("undeploy: exit %d\n%s", code, stderr)
	}
	eventually(t, "undeploy removes the service, its Deployments and Secret", func() bool {
		d, _ := suite.client.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
		return count(t, isvcs, ns) == 0 && d != nil && len(d.Items) == 0 && len(secrets(t, ns)) == 0
	})
}

// TestRenderedServicesPassKServesWebhooks sends what deploy renders for each example, in both
// modes, to KServe v0.20's defaulting and validating webhooks (server dry run).
func TestRenderedServicesPassKServesWebhooks(t *testing.T) {
	ns := namespace(t)
	for _, example := range []string{"mnist-tensorflow", "mnist-pytorch"} {
		for _, mode := range []string{"Standard", "RawDeployment", "Knative", "Serverless"} {
			dir := copyModel(t, example, map[string]string{"  serving:\n": "  serving:\n    deploymentMode: " + mode + "\n"})
			for _, args := range [][]string{{}, {"--cpu", "2", "--memory", "4Gi", "--autoscale", "5"}, {"--gpus", "1"}} {
				_, stderr, code := kaptain(t, dir, s3Env, append([]string{"deploy", "-n", ns, "--dry-run=server", "--skip-model-check", "--model-uri", "s3://kaptain/m/1"}, args...)...)
				if code != 0 {
					t.Errorf("%s in %s mode %v: exit %d\n%s", example, mode, args, code, stderr)
				}
			}
		}
	}
	// The reviewed golden services, Standard-mode canaries (KServe v0.20 only) included.
	var files []string
	for _, pattern := range []string{"isvc/*.yaml", "isvc-*.yaml", "kserve-v0.20/*.yaml"} {
		matches, _ := filepath.Glob(filepath.Join("..", "..", "pkg", "workload", "testdata", pattern))
		files = append(files, matches...)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d golden services", len(files))
	}
	for _, f := range files {
		u := harness.ReadManifests(t, f)[0]
		u.SetNamespace(ns)
		if _, err := suite.dynamic.Resource(isvcs).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("%s: KServe refuses it: %v", filepath.Base(f), err)
		}
	}
	// The validator is really KServe's: a canary without a name is refused.
	dir := copyModel(t, "mnist-tensorflow", nil)
	patch := filepath.Join(dir, "canary.json")
	if err := os.WriteFile(patch, []byte(`[{"op": "add", "path": "/spec/canary", "value": [{"trafficPercent": 10, "predictor": {"model": {"modelFormat": {"name": "tensorflow"}, "storageUri": "s3://kaptain/m/2"}}}]}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := kaptain(t, dir, nil, "deploy", "-n", ns, "--dry-run=server", "--skip-model-check", "--model-uri", "s3://kaptain/m/1", "--patch", patch)
	if code == 0 || !strings.Contains(stderr, "predictor.name is required") {
		t.Errorf("a canary without a name: exit %d, want KServe's validator's refusal\n%s", code, stderr)
	}
}

// checkStorageInitializer checks that KServe's pod mutator gave the predictor's pods the storage
// initializer, with the S3 credentials by reference to the plugin's Secret (read through the
// predictor's ServiceAccount) and the endpoint and TLS settings from its annotations, and that
// no credential value is anywhere in the pod.
func checkStorageInitializer(t *testing.T, ns, name string) {
	t.Helper()
	pods, err := suite.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "serving.kserve.io/inferenceservice=" + name})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("predictor pods: %d, %v", len(pods.Items), err)
	}
	pod := pods.Items[0]
	var init *corev1.Container
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == "storage-initializer" {
			init = &pod.Spec.InitContainers[i]
		}
	}
	if init == nil {
		t.Fatalf("pod %s has no storage-initializer: init containers %v", pod.Name, pod.Spec.InitContainers)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range init.Env {
		env[e.Name] = e
	}
	for _, key := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		ref := env[key].ValueFrom
		if env[key].Value != "" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != name+"-storage" || ref.SecretKeyRef.Key != key {
			t.Errorf("%s of the storage initializer = %+v, want a reference to %s-storage's %s", key, env[key], name, key)
		}
	}
	for key, want := range map[string]string{"S3_ENDPOINT": "minio.kubeflow:9000", "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0", "AWS_DEFAULT_REGION": "us-east-1"} {
		if env[key].Value != want {
			t.Errorf("%s of the storage initializer = %q, want %q (env %v)", key, env[key].Value, want, init.Env)
		}
	}
	data, _ := json.Marshal(pod)
	for _, secret := range []string{"e2e-access", "e2e-secret"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("pod %s holds the credential value %q", pod.Name, secret)
		}
	}
}

// TestRenderedManifestsPassTheWebhook sends what train renders, in many shapes, to the real
// training operator's validating webhook (server dry run).
func TestRenderedManifestsPassTheWebhook(t *testing.T) {
	ns := namespace(t)
	for _, api := range []struct{ example, api string }{{"mnist-tensorflow", "v1"}, {"mnist-pytorch", "v1"}, {"mnist-pytorch", "v2"}} {
		dir := copyModel(t, api.example, nil)
		for _, args := range [][]string{
			{"--workers", "1"},
			{"--workers", "4", "--cpu", "2", "--memory", "4Gi"},
			{"--workers", "2", "--gpus", "1"},
			{"--workers", "2", "--cpu-request", "1", "--cpu-limit", "2", "--memory-request", "1Gi", "--memory-limit", "2Gi", "--gpu-limit", "1"},
			{"--workers", "3", "--ttl-seconds-after-finished", "60", "--arg", "data=/mnt/data", "-p", "lr=0.5"},
			{"--workers", "2", "--queue", "team-a"},
		} {
			_, stderr, code := kaptain(t, dir, s3Env, append([]string{"train", "-n", ns, "--dry-run=server", "--training-api", api.api}, args...)...)
			// Kueue here manages TFJobs and TrainJobs, not PyTorchJobs: a server dry run says so
			// (its webhook did not suspend the job), creating nothing.
			if api.example == "mnist-pytorch" && api.api == "v1" && slices.Contains(args, "--queue") {
				if code != sdkerr.WorkloadDeployment.ExitCode() || !strings.Contains(stderr, "Kueue does not manage PyTorchJobs") {
					t.Errorf("%s (%s) %v: exit %d, want 11 (Kueue does not hold it)\n%s", api.example, api.api, args, code, stderr)
				}
				continue
			}
			if code != 0 {
				t.Errorf("%s (%s) %v: exit %d\n%s", api.example, api.api, args, code, stderr)
			}
		}
	}
	// An MPI TrainJob: checked against the runtime itself (a dry run stores no derived one).
	if _, stderr, code := kaptain(t, copyModel(t, "mnist-pytorch", nil), s3Env, "train", "-n", ns, "--dry-run=server", "--runtime", "deepspeed-distributed", "--workers", "3"); code != 0 {
		t.Errorf("an MPI TrainJob: exit %d\n%s", code, stderr)
	}
	// A TrainJob with a user's patch: tolerations through a runtime patch of its own.
	dir := copyModel(t, "mnist-pytorch", nil)
	tolerations := filepath.Join(dir, "tolerations.json")
	if err := os.WriteFile(tolerations, []byte(`[{"op": "add", "path": "/spec/runtimePatches/-", "value": {"manager": "example.com/gpu-pool",
	  "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{"name": "node", "template": {"spec": {"template": {"spec": {
	    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}}}}}]}}}}}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := kaptain(t, dir, s3Env, "train", "-n", ns, "--dry-run=server", "--patch", tolerations, "--gpus", "1"); code != 0 {
		t.Errorf("a TrainJob with a tolerations patch: exit %d\n%s", code, stderr)
	}
	// Trainer's webhook is really there: a trainer environment with torchrun's own variables
	// (which Trainer sets) is refused.
	pet := filepath.Join(dir, "pet.json")
	if err := os.WriteFile(pet, []byte(`[{"op": "add", "path": "/spec/trainer/env/-", "value": {"name": "PET_NNODES", "value": "3"}}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := kaptain(t, dir, nil, "train", "-n", ns, "--dry-run=server", "--patch", pet); code == 0 || !strings.Contains(stderr, "validator.trainjob.trainer.kubeflow.org") {
		t.Errorf("a TrainJob setting PET_NNODES: exit %d, want Trainer's webhook's refusal\n%s", code, stderr)
	}
	// The webhook is really there: a TFJob without a container named tensorflow is refused.
	dir = copyModel(t, "mnist-tensorflow", nil)
	patch := filepath.Join(dir, "rename.yaml")
	if err := os.WriteFile(patch, []byte(`[{"op": "replace", "path": "/spec/tfReplicaSpecs/Worker/template/spec/containers/0/name", "value": "trainer"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := kaptain(t, dir, nil, "train", "-n", ns, "--dry-run=server", "--patch", patch)
	if code == 0 || !strings.Contains(stderr, "validator.tfjob.training-operator.kubeflow.org") {
		t.Fatalf("a TFJob without a tensorflow container: exit %d, want the webhook's refusal\n%s", code, stderr)
	}
}

// TestClusterBuildThroughTheJobController runs the cluster builder against the real Job
// controller: kwok completes the executor's pod (it runs no container, so the test pushes the
// image the executor would have pushed), the controller marks the Job Complete, and the
// plugin pins the digest and removes the Job, its Secrets and the uploaded context.
func TestClusterBuildThroughTheJobController(t *testing.T) {
	reg := servers.StartRegistry(t)
	s3srv := servers.StartS3(t, "kaptain")
	ns := namespace(t)
	dir := copyModel(t, "mnist-tensorflow", map[string]string{
		"image: registry.example.com/kaptain/mnist-tensorflow:0.0.1": "image: " + reg.Host + "/kaptain/mnist-tensorflow:0.0.1",
		"baseImage: tensorflow/tensorflow:2.16.1":                    "baseImage: scratch",
		"      region: us-east-1":                                    fmt.Sprintf("      region: us-east-1\n      endpoint: %q\n      forcePathStyle: true", s3srv.Endpoint),
	})
	home := reg.Home(t, reg.Pass, true)
	kc, _, err := credentials.DockerKeychain(filepath.Join(home, ".docker", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	pushed := servers.PushModel(t, filepath.Join(dir, "kaptain.yaml"), &image.Registry{Keychain: kc, RootCAs: reg.Pool()})
	// The model has requirements: auto picks the cluster builder. --force-build builds although
	// the registry already has the image.
	stdout, stderr, code := kaptain(t, dir, append(s3srv.Env(), "HOME="+home), "build", "-n", ns, "--force-build")
	if code != 0 || stdout != pushed.Pinned+"\n" || !strings.Contains(stderr, "succeeded") || !strings.Contains(stderr, "removed") {
		t.Fatalf("cluster build: exit %d, stdout %q (want %s)\n%s", code, stdout, pushed.Pinned, stderr)
	}
	eventually(t, "the Job and its Secrets removed", func() bool {
		jobs, _ := suite.client.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
		return jobs != nil && len(jobs.Items) == 0 && len(secrets(t, ns)) == 0
	})
	objs, err := s3srv.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("kaptain")})
	if err != nil || len(objs.Contents) != 0 {
		t.Fatalf("the build context was left in S3: %v %v", objs, err)
	}
}
