package localcluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// webhookFile is an upstream file of webhook configurations: each object is renamed, and each
// webhook's clientConfig points at 127.0.0.1:port with the local CA. adjust, when set, may
// change a webhook (e.g. add the objectSelector a kustomize patch adds upstream).
type webhookFile struct {
	path  string
	names map[string]string // kind -> name
	port  string
	adjust func(hook map[string]any)
}

// register creates the file's webhook configurations.
func (w webhookFile) register(ctx context.Context, a *applier, caPEM []byte) error {
	data, err := os.ReadFile(w.path)
	if err != nil {
		return err
	}
	objs, err := decode(data)
	if err != nil {
		return fmt.Errorf("reading %s: %w", w.path, err)
	}
	for _, obj := range objs {
		name, ok := w.names[obj.GetKind()]
		if !ok {
			return fmt.Errorf("%s: unexpected %s", w.path, obj.GetKind())
		}
		obj.SetName(name)
		hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
		for _, h := range hooks {
			hook := h.(map[string]any)
			path, _, _ := unstructured.NestedString(hook, "clientConfig", "service", "path")
			hook["clientConfig"] = map[string]any{"url": "https://127.0.0.1:" + w.port + path, "caBundle": base64.StdEncoding.EncodeToString(caPEM)}
			if w.adjust != nil {
				w.adjust(hook)
			}
		}
		_ = unstructured.SetNestedSlice(obj.Object, hooks, "webhooks")
		if err := a.create(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// jobSet starts the JobSet controller, through which Kubeflow Trainer runs TrainJobs, with its
// webhooks served on loopback and registered by URL; its own certificate management is off.
func (c *Cluster) jobSet(ctx context.Context, module string, certs *webhookCerts) error {
	certDir := filepath.Join(c.opts.Dir, "jobset-certs")
	if err := writeCerts(certDir, certs); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	webhook, health := ports[0], ports[1]
	config := filepath.Join(c.opts.Dir, "jobset-config.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `apiVersion: config.jobset.x-k8s.io/v1alpha1
kind: Configuration
webhook: {port: %s, host: 127.0.0.1, certDir: %s}
health: {healthProbeBindAddress: "127.0.0.1:%s"}
metrics: {bindAddress: "0"}
leaderElection: {leaderElect: false}
internalCertManagement: {enable: false}
`, webhook, certDir, health), 0o644); err != nil {
		return err
	}
	if err := c.start("jobset-controller", []string{"KUBECONFIG=" + c.Kubeconfig}, []string{"127.0.0.1:" + webhook, "127.0.0.1:" + health},
		filepath.Join(c.opts.Operators, "jobset-controller"),
		"--config="+config, "--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--metrics-bind-address=0"); err != nil {
		return err
	}
	if err := waitHealthy(ctx, c.procs[len(c.procs)-1], "http://127.0.0.1:"+health+"/readyz"); err != nil {
		return err
	}
	a, err := newApplier(c.Config)
	if err != nil {
		return err
	}
	return webhookFile{
		path:  filepath.Join(module, "config", "components", "webhook", "manifests.yaml"),
		names: map[string]string{"MutatingWebhookConfiguration": "jobset-mutating-webhook-configuration", "ValidatingWebhookConfiguration": "jobset-validating-webhook-configuration"},
		port:  webhook,
		// Upstream's patch: the pod webhooks see only JobSets' pods.
		adjust: func(hook map[string]any) {
			if name, _ := hook["name"].(string); name == "mpod.kb.io" || name == "vpod.kb.io" {
				hook["objectSelector"] = map[string]any{"matchExpressions": []any{map[string]any{"key": "jobset.sigs.k8s.io/jobset-name", "operator": "Exists"}}}
			}
		},
	}.register(ctx, a, certs.caPEM)
}

// trainer starts Kubeflow Trainer v2's controller manager with its webhooks served on loopback
// and registered by URL (its certificate management off), then creates the torch-distributed
// ClusterTrainingRuntime through them.
func (c *Cluster) trainer(ctx context.Context, module string, certs *webhookCerts) error {
	tmp := filepath.Join(c.opts.Dir, "trainer-tmp")
	if err := writeCerts(webhookCertDir(tmp), certs); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	webhook, health := ports[0], ports[1]
	config := filepath.Join(c.opts.Dir, "trainer-config.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `apiVersion: config.trainer.kubeflow.org/v1alpha1
kind: Configuration
webhook: {port: %s, host: 127.0.0.1}
health: {healthProbeBindAddress: "127.0.0.1:%s"}
metrics: {bindAddress: "0"}
certManagement: {enable: false}
`, webhook, health), 0o644); err != nil {
		return err
	}
	// The webhook server reads its certificate under TMPDIR.
	if err := c.start("trainer-controller-manager", []string{"TMPDIR=" + tmp, "KUBECONFIG=" + c.Kubeconfig}, []string{"127.0.0.1:" + webhook, "127.0.0.1:" + health},
		filepath.Join(c.opts.Operators, "trainer-controller-manager"),
		"--config="+config, "--kubeconfig="+c.Kubeconfig); err != nil {
		return err
	}
	if err := waitHealthy(ctx, c.procs[len(c.procs)-1], "http://127.0.0.1:"+health+"/readyz"); err != nil {
		return err
	}
	a, err := newApplier(c.Config)
	if err != nil {
		return err
	}
	if err := (webhookFile{
		path:  filepath.Join(module, "manifests", "base", "webhook", "manifests.yaml"),
		names: map[string]string{"MutatingWebhookConfiguration": "defaulter.trainer.kubeflow.org", "ValidatingWebhookConfiguration": "validator.trainer.kubeflow.org"},
		port:  webhook,
	}).register(ctx, a, certs.caPEM); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(module, "manifests", "base", "runtimes", "torch_distributed.yaml"))
	if err != nil {
		return err
	}
	objs, err := decode(data)
	if err != nil || len(objs) != 1 {
		return fmt.Errorf("reading the torch-distributed runtime: %v", err)
	}
	return a.create(ctx, objs[0])
}

// freePorts returns n free loopback ports.
func freePorts(n int) ([]string, error) {
	var out []string
	for range n {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
