package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Kueue in the local cluster: one ClusterQueue over every namespace, of ClusterQueueCPU CPUs
// and ClusterQueueMemory of memory in one ResourceFlavor, to which a test's LocalQueue
// (CreateLocalQueue) submits. Kueue manages TFJobs and TrainJobs here, and not PyTorchJobs:
// Kueue v0.19 turned its Training Operator integrations off by default, and a cluster where
// one of them is off is where kubectl kaptain must say that --queue is not honoured.
const (
	ClusterQueue       = "kaptain"
	ClusterQueueCPU    = "4"
	ClusterQueueMemory = "16Gi"
)

// KueueFrameworks are the integrations the local Kueue runs.
var KueueFrameworks = []string{"kubeflow.org/tfjob", "trainer.kubeflow.org/trainjob"}

// kueueMetricsCertDir is where Kueue reads its metrics certificate whenever its own
// certificate management is off; it has no setting for it.
const kueueMetricsCertDir = "/etc/kueue/metrics/certs"

// kueueConfig is Kueue's Configuration: webhooks and health on loopback, its certificate
// management, metrics listener and leader election off, the integrations above. %[1]s is the
// webhook port, %[2]s the health port, %[3]s the webhook certificate directory, %[4]s the
// integrations.
const kueueConfig = `apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
manageJobsWithoutQueueName: false
health: {healthProbeBindAddress: "127.0.0.1:%[2]s"}
metrics: {bindAddress: "0"}
webhook: {host: 127.0.0.1, port: %[1]s, certDir: %[3]s}
leaderElection: {leaderElect: false}
internalCertManagement: {enable: false}
integrations:
  frameworks: [%[4]s]
`

// kueueWebhooks are the webhooks of Kueue's manifests the local cluster registers: the
// integrations it runs and its own objects (LocalQueue has none). Those of other kinds
// (pods, batch Jobs, JobSets...) would send every such object through Kueue.
var kueueWebhooks = []string{
	"mtfjob.kb.io", "vtfjob.kb.io", "mtrainjob.kb.io", "vtrainjob.kb.io",
	"mworkload.kb.io", "vworkload.kb.io", "mclusterqueue.kb.io", "vclusterqueue.kb.io",
	"mresourceflavor.kb.io", "vresourceflavor.kb.io", "vcohort.kb.io",
}

// kueueCRDs is Kueue's CRD directory in its module: all of them, as its controllers watch
// (or index) nearly every one and exit when one is missing.
func kueueCRDs(module string) string {
	return filepath.Join(module, "config", "components", "crd", "bases")
}

// kueue starts Kueue's controller manager (its CRDs are installed with the control plane's)
// in a private mount namespace whose /etc/kueue/metrics/certs holds the local certificate,
// registers its webhooks, and creates the ClusterQueue and its ResourceFlavor through them.
func (c *Cluster) kueue(ctx context.Context, module string, certs *webhookCerts) error {
	metrics := filepath.Join(c.opts.Dir, "kueue-metrics-certs")
	if err := writeCerts(metrics, certs); err != nil {
		return err
	}
	// The mount point; nothing else changes outside the namespace.
	if err := os.MkdirAll(kueueMetricsCertDir, 0o755); err != nil {
		return err
	}
	frameworks := ""
	for i, f := range KueueFrameworks {
		if i > 0 {
			frameworks += ", "
		}
		frameworks += fmt.Sprintf("%q", f)
	}
	a, err := c.startWebhookController(ctx, webhookController{
		name:       "kueue-manager",
		certDir:    filepath.Join(c.opts.Dir, "kueue-certs"),
		config:     kueueConfig,
		configArgs: []any{frameworks},
		// The on-demand visibility API server would need certificates at /visibility.
		args:   []string{"--feature-gates=VisibilityOnDemand=false", "--zap-log-level=2"},
		mounts: map[string]string{kueueMetricsCertDir: metrics},
		webhooks: webhookFile{
			path: filepath.Join(module, "config", "components", "webhook", "manifests.yaml"),
			names: map[string]string{"MutatingWebhookConfiguration": "kueue-mutating-webhook-configuration",
				"ValidatingWebhookConfiguration": "kueue-validating-webhook-configuration"},
			keep: func(hook map[string]any) bool {
				name, _ := hook["name"].(string)
				return slices.Contains(kueueWebhooks, name)
			},
		},
	}, certs)
	if err != nil {
		return err
	}
	for _, obj := range []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": map[string]any{"name": "default-flavor"}}},
		{Object: map[string]any{"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": map[string]any{"name": ClusterQueue},
			"spec": map[string]any{"namespaceSelector": map[string]any{}, "resourceGroups": []any{map[string]any{
				"coveredResources": []any{"cpu", "memory"},
				"flavors": []any{map[string]any{"name": "default-flavor", "resources": []any{
					map[string]any{"name": "cpu", "nominalQuota": ClusterQueueCPU},
					map[string]any{"name": "memory", "nominalQuota": ClusterQueueMemory},
				}}},
			}}}}},
	} {
		if err := a.create(ctx, obj); err != nil {
			return fmt.Errorf("creating Kueue's %s: %w", obj.GetKind(), err)
		}
	}
	return nil
}

// CreateLocalQueue creates a LocalQueue in a namespace, submitting to ClusterQueue.
func CreateLocalQueue(ctx context.Context, client dynamic.Interface, namespace, name string) error {
	lq := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
		"metadata": map[string]any{"name": name, "namespace": namespace}, "spec": map[string]any{"clusterQueue": ClusterQueue}}}
	_, err := client.Resource(schema.GroupVersionResource{Group: "kueue.x-k8s.io", Version: "v1beta2", Resource: "localqueues"}).
		Namespace(namespace).Create(ctx, lq, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating LocalQueue %s/%s: %w", namespace, name, err)
	}
	return nil
}
