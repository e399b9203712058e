package localcluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// webhookFile is an upstream file of webhook configurations: each object is renamed, and each
// webhook's clientConfig points at 127.0.0.1:port with the local CA. adjust, when set, may
// change a webhook (e.g. add the objectSelector a kustomize patch adds upstream).
type webhookFile struct {
	path string
	// names maps kinds to names; nil keeps the file's names.
	names  map[string]string
	port   string
	adjust func(hook map[string]any)
	// keep, when set, registers only the webhooks it keeps.
	keep func(hook map[string]any) bool
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
		if w.names != nil {
			name, ok := w.names[obj.GetKind()]
			if !ok {
				return fmt.Errorf("%s: unexpected %s", w.path, obj.GetKind())
			}
			obj.SetName(name)
		}
		all, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
		var hooks []any
		for _, h := range all {
			hook := h.(map[string]any)
			if w.keep != nil && !w.keep(hook) {
				continue
			}
			hooks = append(hooks, hook)
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

// webhookController is a controller-runtime manager run on loopback with its own
// certificate management off: the local CA's certificate is written where it reads it, and its
// webhooks are registered by URL once it is ready.
type webhookController struct {
	name string
	// certDir is where its webhook server reads tls.crt and tls.key.
	certDir string
	// config is its configuration file, with %[1]s the webhook port, %[2]s the health port
	// and %[3]s certDir, then configArgs; none when empty (the ports are then flags).
	config     string
	configArgs []any
	// mounts, when set, runs it in a private mount namespace with each source directory
	// bind-mounted on its target (paths it reads that it has no setting for).
	mounts map[string]string
	env    []string
	// args follow --config and --kubeconfig (given with a configuration file only), with
	// %[1]s and %[2]s the webhook and health ports.
	args     []string
	webhooks webhookFile
}

// startWebhookController starts ctl, waits until it is ready and registers its webhooks; it
// returns an applier for what goes through them next.
func (c *Cluster) startWebhookController(ctx context.Context, ctl webhookController, certs *webhookCerts) (*applier, error) {
	if err := writeCerts(ctl.certDir, certs); err != nil {
		return nil, err
	}
	ports, err := c.freePorts(2)
	if err != nil {
		return nil, err
	}
	webhook, health := ports[0], ports[1]
	var args []string
	if ctl.config != "" {
		config := filepath.Join(c.opts.Dir, ctl.name+"-config.yaml")
		if err := os.WriteFile(config, fmt.Appendf(nil, ctl.config, append([]any{webhook, health, ctl.certDir}, ctl.configArgs...)...), 0o644); err != nil {
			return nil, err
		}
		args = append(args, "--config="+config, "--kubeconfig="+c.Kubeconfig)
	}
	for _, a := range ctl.args {
		if strings.Contains(a, "%[") {
			a = fmt.Sprintf(a, webhook, health)
		}
		args = append(args, a)
	}
	bin := filepath.Join(c.opts.Operators, ctl.name)
	if len(ctl.mounts) > 0 {
		// unshare execs sh, which mounts and execs the controller: the process Stop signals
		// is the controller.
		script, words := "", []string{}
		for _, target := range slices.Sorted(maps.Keys(ctl.mounts)) {
			script += fmt.Sprintf(`mount --bind "$%d" "$%d" && `, len(words)+1, len(words)+2)
			words = append(words, ctl.mounts[target], target)
		}
		script += fmt.Sprintf(`shift %d && exec "$@"`, len(words))
		args = append(append([]string{"--mount", "--propagation=private", "--", "sh", "-c", script, "sh"}, words...), append([]string{bin}, args...)...)
		bin = "unshare"
	}
	if err := c.start(ctl.name, append(ctl.env, "KUBECONFIG="+c.Kubeconfig), []string{"127.0.0.1:" + webhook, "127.0.0.1:" + health}, bin, args...); err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, c.procs[len(c.procs)-1], "http://127.0.0.1:"+health+"/readyz"); err != nil {
		return nil, err
	}
	a, err := newApplier(c.Config)
	if err != nil {
		return nil, err
	}
	ctl.webhooks.port = webhook
	return a, ctl.webhooks.register(ctx, a, certs.caPEM)
}

// jobSet starts the JobSet controller, through which Kubeflow Trainer runs TrainJobs.
func (c *Cluster) jobSet(ctx context.Context, module string, certs *webhookCerts) error {
	_, err := c.startWebhookController(ctx, webhookController{
		name:    "jobset-controller",
		certDir: filepath.Join(c.opts.Dir, "jobset-certs"),
		config: `apiVersion: config.jobset.x-k8s.io/v1alpha1
kind: Configuration
webhook: {port: %[1]s, host: 127.0.0.1, certDir: %[3]s}
health: {healthProbeBindAddress: "127.0.0.1:%[2]s"}
metrics: {bindAddress: "0"}
leaderElection: {leaderElect: false}
internalCertManagement: {enable: false}
`,
		args: []string{"--leader-elect=false", "--metrics-bind-address=0"},
		webhooks: webhookFile{
			path:  filepath.Join(module, "config", "components", "webhook", "manifests.yaml"),
			names: map[string]string{"MutatingWebhookConfiguration": "jobset-mutating-webhook-configuration", "ValidatingWebhookConfiguration": "jobset-validating-webhook-configuration"},
			// Upstream's patch: the pod webhooks see only JobSets' pods.
			adjust: func(hook map[string]any) {
				if name, _ := hook["name"].(string); name == "mpod.kb.io" || name == "vpod.kb.io" {
					hook["objectSelector"] = map[string]any{"matchExpressions": []any{map[string]any{"key": "jobset.sigs.k8s.io/jobset-name", "operator": "Exists"}}}
				}
			},
		},
	}, certs)
	return err
}

// trainer starts Kubeflow Trainer v2's controller manager, then creates every runtime of its
// manifests/base/runtimes (torch, deepspeed, mlx, jax, xgboost and the torchtune ones) through
// its webhooks.
//
// Its TrainJobStatus feature gate is on: the status server, on its own port, takes the
// trainers' progress. It runs in a private mount namespace with the two fixed paths it reads
// (its service account's token and namespace; the status server's certificate), and its
// webhook Secret, whose CA Trainer gives the trainer pods, is in its namespace.
func (c *Cluster) trainer(ctx context.Context, client kubernetes.Interface, module string, certs *webhookCerts) error {
	// Its webhook server reads the certificate under TMPDIR; it has no setting for it.
	tmp := filepath.Join(c.opts.Dir, "trainer-tmp")
	sa := filepath.Join(c.opts.Dir, "trainer-serviceaccount")
	if err := trainerIdentity(ctx, client, sa, certs); err != nil {
		return err
	}
	// The mount points; nothing else changes outside the namespace.
	for _, dir := range []string{serviceAccountDir, trainerCertDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	status, err := c.freePort()
	if err != nil {
		return err
	}
	a, err := c.startWebhookController(ctx, webhookController{
		name:    "trainer-controller-manager",
		certDir: webhookCertDir(tmp),
		config: `apiVersion: config.trainer.kubeflow.org/v1alpha1
kind: Configuration
webhook: {port: %[1]s, host: 127.0.0.1}
health: {healthProbeBindAddress: "127.0.0.1:%[2]s"}
metrics: {bindAddress: "0"}
certManagement: {enable: false}
statusServer: {port: %[4]s}
featureGates: {TrainJobStatus: true}
`,
		configArgs: []any{status},
		env:        []string{"TMPDIR=" + tmp},
		mounts:     map[string]string{serviceAccountDir: sa, trainerCertDir: webhookCertDir(tmp)},
		webhooks: webhookFile{
			path:  filepath.Join(module, "manifests", "base", "webhook", "manifests.yaml"),
			names: map[string]string{"MutatingWebhookConfiguration": "defaulter.trainer.kubeflow.org", "ValidatingWebhookConfiguration": "validator.trainer.kubeflow.org"},
		},
	}, certs)
	if err != nil {
		return err
	}
	if err := waitListening(ctx, c.procs[len(c.procs)-1], "127.0.0.1:"+status); err != nil {
		return fmt.Errorf("trainer's status server: %w", err)
	}
	runtimes, err := kustomizeResources(filepath.Join(module, "manifests", "base", "runtimes"))
	if err != nil {
		return fmt.Errorf("reading Trainer's runtimes: %w", err)
	}
	return a.createFiles(ctx, runtimes)
}

// kustomizeResources lists the files a kustomization directory's resources name, following
// the directories among them: what 'kubectl apply -k' of Trainer's runtimes installs.
func kustomizeResources(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	var out []string
	for _, r := range k.Resources {
		path := filepath.Join(dir, r)
		info, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, path)
			continue
		}
		sub, err := kustomizeResources(path)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// freePorts returns n free loopback ports.
func (c *Cluster) freePorts(n int) ([]string, error) {
	var out []string
	for range n {
		p, err := c.freePort()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
