package localcluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

// webhookCertDir is where controller-runtime's webhook server reads its certificate, under
// the process's TMPDIR; neither operator has a flag for it.
func webhookCertDir(tmp string) string {
	return filepath.Join(tmp, "k8s-webhook-server", "serving-certs")
}

func writeCerts(dir string, certs *webhookCerts) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"tls.crt": certs.certPEM, "tls.key": certs.keyPEM, "ca.crt": certs.caPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func createNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// trainingOperator starts the Training Operator for TFJob and PyTorchJob with its validating
// webhook served on 127.0.0.1:port: the webhook certificate is pre-made in the Secret its
// rotator reads and on disk, and the upstream ValidatingWebhookConfiguration points at the
// loopback URL instead of a Service.
func (c *Cluster) trainingOperator(ctx context.Context, client kubernetes.Interface, module string, certs *webhookCerts, port string) error {
	if err := createNamespace(ctx, client, "kubeflow"); err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "training-operator-webhook-cert", Namespace: "kubeflow"},
		Data:       map[string][]byte{"ca.crt": certs.caPEM, "ca.key": certs.caKeyPEM, "tls.crt": certs.certPEM, "tls.key": certs.keyPEM},
	}
	if _, err := client.CoreV1().Secrets("kubeflow").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the webhook certificate Secret: %w", err)
	}
	// The operator's certificate rotator waits for the files under /tmp itself, whatever
	// TMPDIR says, and its webhook server reads them from TMPDIR: both are /tmp here.
	if err := writeCerts(webhookCertDir("/tmp"), certs); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(module, "manifests", "base", "webhook", "manifests.yaml"))
	if err != nil {
		return err
	}
	objs, err := decode(data)
	if err != nil || len(objs) != 1 {
		return fmt.Errorf("reading the training operator's webhook manifest (%d objects): %w", len(objs), err)
	}
	vwc := objs[0]
	vwc.SetName("validator.training-operator.kubeflow.org")
	hooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
	var kept []any
	for _, h := range hooks {
		hook := h.(map[string]any)
		path, _, _ := unstructured.NestedString(hook, "clientConfig", "service", "path")
		if !strings.HasSuffix(path, "-tfjob") && !strings.HasSuffix(path, "-pytorchjob") {
			continue
		}
		hook["clientConfig"] = map[string]any{"url": "https://127.0.0.1:" + port + path, "caBundle": base64.StdEncoding.EncodeToString(certs.caPEM)}
		kept = append(kept, hook)
	}
	if len(kept) != 2 {
		return fmt.Errorf("the training operator's webhook manifest has %d TFJob/PyTorchJob webhooks, want 2", len(kept))
	}
	_ = unstructured.SetNestedSlice(vwc.Object, kept, "webhooks")
	a, err := newApplier(c.Config)
	if err != nil {
		return err
	}
	if err := a.create(ctx, vwc); err != nil {
		return err
	}
	metrics, err := c.freePort()
	if err != nil {
		return err
	}
	health, err := c.freePort()
	if err != nil {
		return err
	}
	if err := c.start("training-operator", []string{"TMPDIR=/tmp", "MY_POD_NAMESPACE=kubeflow", "KUBECONFIG=" + c.Kubeconfig},
		[]string{"127.0.0.1:" + port, "127.0.0.1:" + metrics, "127.0.0.1:" + health},
		filepath.Join(c.opts.Operators, "training-operator"),
		"--enable-scheme=tfjob", "--enable-scheme=pytorchjob", "--webhook-server-port="+port,
		"--metrics-bind-address=127.0.0.1:"+metrics, "--health-probe-bind-address=127.0.0.1:"+health); err != nil {
		return err
	}
	return waitHealthy(ctx, c.procs[len(c.procs)-1], "http://127.0.0.1:"+health+"/readyz")
}

// kserve starts KServe's controller manager in namespace kserve with its upstream ConfigMap
// (default deployment mode Standard), its webhooks served on loopback and registered by URL
// (InferenceService defaulting and validation, and the pod mutator that injects the storage
// initializer), then creates its serving runtimes through them; with a real node, its storage
// initializer and the ServedRuntimes run the node's images (servingImages).
func (c *Cluster) kserve(ctx context.Context, client kubernetes.Interface, module string, certs *webhookCerts) error {
	if err := createNamespace(ctx, client, "kserve"); err != nil {
		return err
	}
	a, err := newApplier(c.Config)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(module, "config", "configmap", "inferenceservice.yaml"))
	if err != nil {
		return err
	}
	objs, err := decode(data)
	if err != nil {
		return fmt.Errorf("reading KServe's ConfigMap: %w", err)
	}
	for _, obj := range objs {
		if obj.GetKind() != "ConfigMap" {
			continue
		}
		obj.SetNamespace("kserve")
		if err := unstructured.SetNestedField(obj.Object, `{"defaultDeploymentMode": "Standard"}`, "data", "deploy"); err != nil {
			return err
		}
		if err := c.servingImages(obj); err != nil {
			return err
		}
		if err := a.create(ctx, obj); err != nil {
			return err
		}
	}
	// Its webhook server reads the certificate under TMPDIR; it has no flag for it.
	tmp := filepath.Join(c.opts.Dir, "kserve-tmp")
	if a, err = c.startWebhookController(ctx, webhookController{
		name:    "kserve-manager",
		certDir: webhookCertDir(tmp),
		env:     []string{"TMPDIR=" + tmp, "POD_NAMESPACE=kserve"},
		args:    []string{"--webhook-port=%[1]s", "--health-probe-addr=127.0.0.1:%[2]s", "--metrics-addr=0"},
		webhooks: webhookFile{
			path: filepath.Join(module, "config", "webhook", "manifests.yaml"),
		},
	}, certs); err != nil {
		return err
	}
	runtimes, err := filepath.Glob(filepath.Join(module, "config", "runtimes", "kserve-*.yaml"))
	if err != nil || len(runtimes) == 0 {
		return fmt.Errorf("no KServe serving runtimes under %s", module)
	}
	for _, f := range runtimes {
		objs, err := decodeFile(f)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if err := c.servingImages(obj); err != nil {
				return err
			}
			if err := a.create(ctx, obj); err != nil {
				return err
			}
		}
	}
	return nil
}

// WaitForDefaultServiceAccount waits until the service account controller made a namespace's
// default service account: before it, the ServiceAccount admission plugin refuses the
// namespace's pods (their Jobs retry with a back-off, which slows tests down).
func WaitForDefaultServiceAccount(ctx context.Context, client kubernetes.Interface, namespace string) error {
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			return fmt.Errorf("waiting for the default service account of %s: %w", namespace, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
