//go:build integration

// Package integration runs kubectl kaptain against a real kube-apiserver and etcd started on
// loopback, with the upstream Kubeflow CRDs installed. Run it with 'make test', which builds
// the control plane and fetches the CRDs first.
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/test/harness"
	"github.com/kaptain-dev/kubectl-kaptain/test/plugintest"
)

// cluster is the control plane every test shares; each test works in its own namespace.
type cluster struct {
	config     *rest.Config
	kubeconfig string
	binary     string
	home       string
	client     kubernetes.Interface
	dynamic    dynamic.Interface
	mapper     *restmapper.DeferredDiscoveryRESTMapper
	env        *envtest.Environment
}

var shared cluster

// Resources the tests list to prove that nothing was left behind.
var (
	tfJobs       = harness.TFJobs
	pyTorchJobs  = harness.PyTorchJobs
	experiments  = harness.Experiments
	inferenceSvc = harness.InferenceServices
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin, crds := os.Getenv("KAPTAIN_CONTROL_PLANE"), os.Getenv("KAPTAIN_CRDS")
	if bin == "" || crds == "" {
		fmt.Fprintln(os.Stderr, "integration tests need KAPTAIN_CONTROL_PLANE (from hack/control-plane.sh) and KAPTAIN_CRDS (from hack/crds.sh): run 'make test'")
		return 1
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     []string{crds, filepath.Join("..", "testdata", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	// As OpenShift runs it: setting blockOwnerDeletion would need update rights on the owner's
	// finalizers, which docs/rbac.yaml does not grant.
	env.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	// A directory of the suite's own keeps the API server's serving certificate across a
	// restart (restartAPIServer): envtest makes new ones in a fresh directory otherwise.
	certs, err := os.MkdirTemp("", "kaptain-apiserver-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(certs)
	env.ControlPlane.GetAPIServer().CertDir = certs
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the control plane: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the control plane: %v\n", err)
		}
	}()
	if err := setUp(env, cfg, crds); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(shared.home)
	return m.Run()
}

func setUp(env *envtest.Environment, cfg *rest.Config, crds string) error {
	home, err := os.MkdirTemp("", "kaptain-integration-")
	if err != nil {
		return err
	}
	shared = cluster{config: cfg, home: home, env: env}
	user, err := env.AddUser(envtest.User{Name: "kaptain-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding a user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	shared.kubeconfig = filepath.Join(home, "kubeconfig")
	if err := os.WriteFile(shared.kubeconfig, kc, 0o600); err != nil {
		return err
	}
	if shared.binary, err = harness.BuildPlugin(home); err != nil {
		return err
	}
	if shared.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if shared.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	shared.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return createRuntimes(filepath.Join(crds, "runtimes"))
}

// clusterTrainingRuntimes are Kubeflow Trainer v2's cluster-wide runtimes.
var clusterTrainingRuntimes = schema.GroupVersionResource{Group: "trainer.kubeflow.org", Version: "v1alpha1", Resource: "clustertrainingruntimes"}

// createRuntimes creates the ClusterTrainingRuntimes Trainer installs (torch-distributed), as
// a cluster with Trainer v2 has them.
func createRuntimes(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no training runtimes under %s (from hack/crds.sh): %w", dir, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		if _, err := shared.dynamic.Resource(clusterTrainingRuntimes).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating %s: %w", f, err)
		}
	}
	return nil
}

// namespace creates a namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	return shared.kube().Namespace(t, harness.NamespaceName(t, "", 50), nil)
}

// katibNamespace creates a namespace for one test, labelled as Katib requires.
func katibNamespace(t *testing.T) string {
	t.Helper()
	return shared.kube().Namespace(t, harness.NamespaceName(t, "", 50), map[string]string{harness.KatibNamespaceLabel: "enabled"})
}

// kube are the suite's clients.
func (c cluster) kube() harness.Kube { return harness.Kube{Client: c.client, Dynamic: c.dynamic} }

// result is one run of the plugin binary.
type result struct {
	stdout, stderr string
	code           int
}

// kaptain runs the built plugin with the test cluster's kubeconfig, in dir, with a clean
// environment (no KAPTAIN_SDK_* leaks in from the caller) plus env.
func kaptain(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	r := shared.plugin().Run(t, 2*time.Minute, dir, env, args...)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}
}

// plugin is the built binary run against the test cluster.
func (c cluster) plugin() plugintest.Plugin {
	return plugintest.Plugin{Binary: c.binary, Kubeconfig: c.kubeconfig, Home: c.home}
}

// count returns how many objects of a resource exist in ns.
func count(t *testing.T, gvr schema.GroupVersionResource, ns string) int {
	t.Helper()
	return shared.kube().Count(t, gvr, ns)
}

// repoPath is a path from the repository root.
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{"..", ".."}, parts...)...)
}
