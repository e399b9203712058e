// Package harness is what the integration and end-to-end suites share: the plugin built once
// for a suite, the resources they look at, namespaces made for one test (Katib's label
// included), what a command left in one, and the golden manifests read as objects.
package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

// The resources the suites list to see what a command made or left behind.
var (
	TFJobs            = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1", Resource: "tfjobs"}
	PyTorchJobs       = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1", Resource: "pytorchjobs"}
	Experiments       = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1beta1", Resource: "experiments"}
	Trials            = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1beta1", Resource: "trials"}
	Suggestions       = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1beta1", Resource: "suggestions"}
	InferenceServices = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	TrainJobs         = schema.GroupVersionResource{Group: "trainer.kubeflow.org", Version: "v1alpha1", Resource: "trainjobs"}
	TrainingRuntimes  = schema.GroupVersionResource{Group: "trainer.kubeflow.org", Version: "v1alpha1", Resource: "trainingruntimes"}
)

// KatibNamespaceLabel is the label Katib requires of the namespaces it runs experiments in (as
// Kubeflow profiles label theirs).
const KatibNamespaceLabel = "katib.kubeflow.org/metrics-collector-injection"

// BuildPlugin builds cmd/kubectl-kaptain into dir, from a suite's directory two levels below
// the repository's root, and returns the binary's path.
func BuildPlugin(dir string) (string, error) {
	binary := filepath.Join(dir, "kubectl-kaptain")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/kubectl-kaptain")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building the plugin: %w", err)
	}
	return binary, nil
}

// Kube are a suite's clients of its cluster.
type Kube struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
}

// notName are the characters of a test's name a namespace's cannot hold.
var notName = regexp.MustCompile(`[^a-z0-9-]+`)

// NamespaceName is a fresh namespace name for t: prefix, at most keep characters of the test's
// name (less "Test"), and a number from the clock.
func NamespaceName(t testing.TB, prefix string, keep int) string {
	name := notName.ReplaceAllString(strings.ToLower(strings.TrimPrefix(t.Name(), "Test")), "-")
	if len(name) > keep {
		name = name[:keep]
	}
	return prefix + strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
}

// Namespace creates the namespace name with labels.
func (k Kube) Namespace(t testing.TB, name string, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := k.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// SecretNames are the names of the Secrets in ns.
func (k Kube) SecretNames(t testing.TB, ns string) []string {
	t.Helper()
	list, err := k.Client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing the Secrets of %s: %v", ns, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	return names
}

// Count is how many objects of gvr there are in ns.
func (k Kube) Count(t testing.TB, gvr schema.GroupVersionResource, ns string) int {
	t.Helper()
	list, err := k.Dynamic.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing %s in %s: %v", gvr.Resource, ns, err)
	}
	return len(list.Items)
}

// ReadManifests reads the objects of a YAML file of one or more documents.
func ReadManifests(t testing.TB, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := (&kio.ByteReader{Reader: strings.NewReader(string(data)), OmitReaderAnnotations: true}).Read()
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	objs := make([]*unstructured.Unstructured, 0, len(nodes))
	for _, n := range nodes {
		js, err := n.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		objs = append(objs, u)
	}
	return objs
}
