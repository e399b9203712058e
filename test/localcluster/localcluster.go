// Package localcluster starts a Kubeflow cluster without containers on loopback: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, kwok simulating nodes and pods,
// the real Kubeflow Training Operator (with its validating webhook), Kubeflow Trainer v2 with
// JobSet and every runtime Trainer ships, Kueue with a ClusterQueue, the real KServe controller
// in Standard (RawDeployment) mode, and the real Katib
// (controller, webhooks, db-manager on PostgreSQL) with its suggestion service and metrics
// collector played on loopback (katib-play). The e2e tests and 'make demo' run against it.
package localcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Pinned versions; hack/operators.sh builds the same ones.
const (
	KwokModule     = "sigs.k8s.io/kwok@v0.8.0"
	TrainingModule = "github.com/kubeflow/training-operator@v1.8.1"
	TrainerModule  = "github.com/kubeflow/trainer/v2@v2.3.0"
	JobSetModule   = "sigs.k8s.io/jobset@v0.12.0"
	KServeModule   = "github.com/kserve/kserve@v0.20.0"
	KatibModule    = "github.com/kubeflow/katib@v0.19.0"
	KueueModule    = "sigs.k8s.io/kueue@v0.19.2"
)

// Options say where the binaries are and how big the cluster is.
type Options struct {
	// ControlPlane holds etcd, kube-apiserver, kube-scheduler and kube-controller-manager.
	ControlPlane string
	// Operators holds kwok, training-operator, jobset-controller, trainer-controller-manager,
	// kueue-manager, kserve-manager, katib-controller, katib-db-manager, katib-play,
	// knative-webhook, knative-controller and knative-autoscaler.
	Operators string
	// Postgres holds PostgreSQL's initdb and postgres, for Katib's db-manager.
	Postgres string
	// Dir is the working directory: kubeconfig, certificates, logs.
	Dir string
	// ExtraCRDs are further CRD files or directories to install.
	ExtraCRDs []string
	// Nodes are the simulated nodes; DefaultNodes when empty.
	Nodes []Node
	// Log receives progress lines.
	Log io.Writer
	// Logs are what the containers of some pods print; every other container prints
	// TrainingOutput.
	Logs []PodLogs
	// Node, when set, is the directory hack/node.sh prints: the cluster then also runs a real
	// node (kubelet, containerd and runc) that runs the pods sent to it (RealNodeName).
	Node string
}

// Node is a simulated node's capacity.
type Node struct {
	Name   string
	CPU    string
	Memory string
	GPUs   int
}

// DefaultNodes are three nodes of 8 CPUs and 32 GiB, one of them with 2 GPUs.
var DefaultNodes = []Node{
	{Name: "kwok-node-0", CPU: "8", Memory: "32Gi", GPUs: 2},
	{Name: "kwok-node-1", CPU: "8", Memory: "32Gi"},
	{Name: "kwok-node-2", CPU: "8", Memory: "32Gi"},
}

// Cluster is a running local cluster.
type Cluster struct {
	// Kubeconfig is the admin kubeconfig file.
	Kubeconfig string
	Config     *rest.Config
	env        *envtest.Environment
	procs      []*process
	opts       Options
	// Node is the real node, when Options.Node asked for one.
	Node *RealNode
	// beforeStop runs before any process is stopped, cleanup after every process stopped.
	beforeStop, cleanup []func()
	// ports are those freePort handed out.
	ports map[string]bool
	// katibDBManager is the address of Katib's db-manager, on loopback.
	katibDBManager string
}

// process is a component started by the cluster.
type process struct {
	name  string
	cmd   *exec.Cmd
	ports []string
	done  chan struct{}
	log   *os.File
}

// Start brings the whole cluster up and returns once nodes are Ready and the operators
// answer their health checks.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if len(o.Nodes) == 0 {
		o.Nodes = DefaultNodes
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	mods := map[string]string{}
	for _, m := range []string{KwokModule, TrainingModule, TrainerModule, JobSetModule, KServeModule, KatibModule, KueueModule,
		KnativeServingModule, knativeNetworkingModule, knativeCachingModule} {
		if mods[m], err = moduleDir(m); err != nil {
			return nil, err
		}
	}
	training, trainer, jobSet, kserve := mods[TrainingModule], mods[TrainerModule], mods[JobSetModule], mods[KServeModule]
	c = &Cluster{opts: o}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	logf(o, "starting etcd and kube-apiserver")
	crds := []string{
		filepath.Join(training, "manifests", "base", "crds", "kubeflow.org_tfjobs.yaml"),
		filepath.Join(training, "manifests", "base", "crds", "kubeflow.org_pytorchjobs.yaml"),
		filepath.Join(trainer, "manifests", "base", "crds", "trainer.kubeflow.org_trainjobs.yaml"),
		filepath.Join(trainer, "manifests", "base", "crds", "trainer.kubeflow.org_trainingruntimes.yaml"),
		filepath.Join(trainer, "manifests", "base", "crds", "trainer.kubeflow.org_clustertrainingruntimes.yaml"),
		// Trainer runs TrainJobs as JobSets: the CRD must be there before it starts.
		filepath.Join(jobSet, "config", "components", "crd", "bases", "jobset.x-k8s.io_jobsets.yaml"),
		filepath.Join(kserve, "config", "crd", "full"),
		// The controller resolves every storage URI's container through ClusterStorageContainers.
		filepath.Join(kserve, "config", "crd", "full", "clusterstoragecontainer"),
		katibCRDs(mods[KatibModule]),
		// Kueue's controllers exit when one of its kinds is not served: all of them first.
		kueueCRDs(mods[KueueModule]),
	}
	// KServe runs Knative mode only if Knative's CRDs are there when it starts.
	crds = append(crds, knativeCRDs(mods[KnativeServingModule], mods[knativeNetworkingModule], mods[knativeCachingModule])...)
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: o.ControlPlane,
		CRDDirectoryPaths:     append(crds, o.ExtraCRDs...),
		ErrorIfCRDPathMissing: true,
		// Every operator's CRDs: envtest's default of 10 s for them all to be served is short on two
		// busy cores.
		CRDInstallOptions: envtest.CRDInstallOptions{MaxTime: time.Minute},
	}
	// The ServiceAccount admission plugin is on, as in any cluster (envtest turns it off):
	// pods run as a service account, and Trainer's status server gives the trainer pods a
	// token of it in a projected volume, which the API server refuses for a pod without one.
	// A namespace's pods wait for its default service account (WaitForDefaultServiceAccount).
	// Pod logs are fetched from the nodes' InternalIP, where kwok serves them (the Hostname
	// address would need DNS).
	//
	// Its external host is loopback: the issuer discovery document's jwks_uri (where Trainer's
	// status server fetches the keys that sign service account tokens) is then reachable,
	// not on the machine's network address.
	c.env.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins").
		Set("kubelet-preferred-address-types", "InternalIP").Set("external-hostname", "127.0.0.1")
	if c.Config, err = c.env.Start(); err != nil {
		return c, fmt.Errorf("starting the control plane: %w", err)
	}
	user, err := c.env.AddUser(envtest.User{Name: "kaptain-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return c, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return c, err
	}
	c.Kubeconfig = filepath.Join(o.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		return c, err
	}
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return c, err
	}
	certDir := c.env.ControlPlane.APIServer.CertDir

	logf(o, "starting kube-controller-manager and kube-scheduler")
	if err := c.start("kube-controller-manager", nil, nil, filepath.Join(o.ControlPlane, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"),
		"--use-service-account-credentials=false", "--controllers=*,-serviceaccount-token-controller",
		"--node-monitor-grace-period=60s"); err != nil {
		return c, err
	}
	if err := c.start("kube-scheduler", nil, nil, filepath.Join(o.ControlPlane, "kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0"); err != nil {
		return c, err
	}

	certs, err := newWebhookCerts()
	if err != nil {
		return c, err
	}
	logf(o, "starting kwok with %d simulated nodes", len(o.Nodes))
	stages, err := kwokStages(mods[KwokModule])
	if err != nil {
		return c, err
	}
	logs, err := kwokLogs(filepath.Join(o.Dir, "pod-logs"), o.Logs)
	if err != nil {
		return c, err
	}
	stageFile := filepath.Join(o.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stageFile, append(stages, logs...), 0o644); err != nil {
		return c, err
	}
	// kwok's kubelet API (pod logs) on loopback, over TLS as the API server expects; with no
	// --kubelet-certificate-authority, the API server does not verify it.
	kubeletPort, err := c.freePort()
	if err != nil {
		return c, err
	}
	kubeletCert, kubeletKey := filepath.Join(o.Dir, "kwok-serving.crt"), filepath.Join(o.Dir, "kwok-serving.key")
	if err := os.WriteFile(kubeletCert, certs.certPEM, 0o644); err != nil {
		return c, err
	}
	if err := os.WriteFile(kubeletKey, certs.keyPEM, 0o600); err != nil {
		return c, err
	}
	if err := c.start("kwok", nil, []string{kubeletPort}, filepath.Join(o.Operators, "kwok"),
		"--kubeconfig="+c.Kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-lease-duration-seconds=40", "--config="+stageFile,
		"--node-ip=127.0.0.1", "--node-port="+kubeletPort, "--server-address=127.0.0.1:"+kubeletPort,
		"--tls-cert-file="+kubeletCert, "--tls-private-key-file="+kubeletKey); err != nil {
		return c, err
	}
	for _, n := range o.Nodes {
		if err := createNode(ctx, client, n); err != nil {
			return c, err
		}
	}

	if o.Node != "" {
		logf(o, "making the real node's network and its registry (the pod sandbox and the base image)")
		if err := c.nodeNetworkAndImages(ctx); err != nil {
			return c, fmt.Errorf("the real node: %w", err)
		}
	}

	logf(o, "starting the Kubeflow Training Operator")
	webhookPort, err := c.freePort()
	if err != nil {
		return c, err
	}
	if err := c.trainingOperator(ctx, client, training, certs, webhookPort); err != nil {
		return c, err
	}

	logf(o, "starting JobSet and Kubeflow Trainer v2, with every runtime of its manifests")
	if err := c.jobSet(ctx, jobSet, certs); err != nil {
		return c, err
	}
	if err := c.trainer(ctx, client, trainer, certs); err != nil {
		return c, err
	}

	logf(o, "starting Kueue (TFJob and TrainJob integrations) with ClusterQueue %s", ClusterQueue)
	if err := c.kueue(ctx, mods[KueueModule], certs); err != nil {
		return c, err
	}

	logf(o, "starting Knative Serving: webhook, controller and autoscaler (the ingress played)")
	if err := c.knative(ctx, client, mods[KnativeServingModule], mods[knativeNetworkingModule], certs); err != nil {
		return c, err
	}

	logf(o, "starting the KServe controller and webhooks (Standard mode by default, Knative mode beside it)")
	if err := c.kserve(ctx, client, kserve, certs); err != nil {
		return c, err
	}

	logf(o, "starting Katib: PostgreSQL, db-manager, controller and webhooks, and katib-play (goptuna, metrics)")
	if err := c.katib(ctx, client, mods[KatibModule], certs); err != nil {
		return c, err
	}

	logf(o, "waiting for the nodes to be Ready")
	if err := waitNodesReady(ctx, client, len(o.Nodes)); err != nil {
		return c, err
	}
	if err := WaitForDefaultServiceAccount(ctx, client, "default"); err != nil {
		return c, err
	}
	if o.Node != "" {
		logf(o, "starting the real node %s: kubelet, containerd and runc in a network namespace of its own", RealNodeName)
		if err := c.realNode(ctx, client); err != nil {
			return c, fmt.Errorf("the real node: %w", err)
		}
	}
	logf(o, "cluster up: KUBECONFIG=%s", c.Kubeconfig)
	return c, nil
}

func logf(o Options, format string, args ...any) {
	fmt.Fprintf(o.Log, "local-cluster: "+format+"\n", args...)
}

// moduleDir returns a module's directory in the module cache, downloading it when needed.
func moduleDir(mod string) (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", mod, err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory in %s", mod, out)
	}
	return info.Dir, nil
}

// kwokStages returns kwok's stages for fast nodes and pods, with pod-complete extended to pods
// of TFJobs and PyTorchJobs (and delayed by an annotation), and a crash-loop stage for pods
// labelled CrashLoopLabel=true.
func kwokStages(kwok string) ([]byte, error) {
	stage := filepath.Join(kwok, "kustomize", "stage")
	var out bytes.Buffer
	for _, f := range []string{
		"node/fast/node-initialize.yaml",
		"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
		"pod/fast/pod-ready.yaml",
		"pod/fast/pod-complete.yaml",
		"pod/fast/pod-delete.yaml",
	} {
		data, err := os.ReadFile(filepath.Join(stage, f))
		if err != nil {
			return nil, fmt.Errorf("reading kwok stage: %w", err)
		}
		if strings.HasSuffix(f, "pod-complete.yaml") {
			patched := bytes.Replace(data, []byte("      - 'Job'\n"), []byte("      - 'Job'\n      - 'TFJob'\n      - 'PyTorchJob'\n"), 1)
			// A pod annotated pod-complete.stage.kwok.x-k8s.io/delay (a duration) completes
			// that much later: a job that keeps running, to interrupt.
			patched = bytes.Replace(patched, []byte("\n  next:\n"), []byte("\n  delay:\n    durationMilliseconds: 0\n    durationFrom:\n      expressionFrom: '.metadata.annotations[\"pod-complete.stage.kwok.x-k8s.io/delay\"]'\n  next:\n"), 1)
			// Pods that crash-loop never complete.
			patched = bytes.Replace(patched, []byte("    matchExpressions:\n"), []byte("    matchExpressions:\n    - key: '.metadata.labels[\""+CrashLoopLabel+"\"]'\n      operator: 'DoesNotExist'\n"), 1)
			if bytes.Count(patched, []byte("PyTorchJob")) != 1 || !bytes.Contains(patched, []byte("durationFrom")) || !bytes.Contains(patched, []byte(CrashLoopLabel)) {
				return nil, fmt.Errorf("kwok's pod-complete stage changed shape: cannot add TFJob and PyTorchJob owners")
			}
			data = patched
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	out.WriteString("---\n" + crashLoopStage)
	return out.Bytes(), nil
}

// CrashLoopLabel marks pods whose containers crash-loop, as a kubelet reports a script that
// keeps exiting 1 under restartPolicy OnFailure: Running, not ready, waiting in
// CrashLoopBackOff after 7 restarts. The Training Operator counts those restarts against the
// job's runPolicy.backoffLimit, the Job controller (a TrainJob's nodes) against the Job's
// backoffLimit (6 by default).
const CrashLoopLabel = "crash-loop.stage.kwok.kaptain.dev"

const crashLoopStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-crash-loop
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.labels["` + CrashLoopLabel + `"]'
      operator: 'In'
      values: ['true']
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values: ['True']
  weight: 10000
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: Ready
        reason: ContainersNotReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: ContainersReady
        reason: ContainersNotReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 7
        started: false
        lastState:
          terminated:
            exitCode: 1
            reason: Error
            finishedAt: {{ $now | Quote }}
            startedAt: {{ $now | Quote }}
        state:
          waiting:
            reason: CrashLoopBackOff
            message: back-off restarting failed container
      {{ end }}
      phase: Running
`

// CreateNode adds a simulated node to a running cluster (as a cluster autoscaler would).
func CreateNode(ctx context.Context, client kubernetes.Interface, n Node) error {
	return createNode(ctx, client, n)
}

func createNode(ctx context.Context, client kubernetes.Interface, n Node) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(n.CPU),
		corev1.ResourceMemory: resource.MustParse(n.Memory),
		corev1.ResourcePods:   resource.MustParse("110"),
		// Katib's suggestion pods ask for ephemeral storage, as a kubelet's node offers it.
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	if n.GPUs > 0 {
		capacity["nvidia.com/gpu"] = *resource.NewQuantity(int64(n.GPUs), resource.DecimalSI)
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.Name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels:      map[string]string{"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating node %s: %w", n.Name, err)
	}
	return nil
}

func waitNodesReady(ctx context.Context, client kubernetes.Interface, want int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := 0
			for _, n := range nodes.Items {
				tainted := false
				for _, t := range n.Spec.Taints {
					if t.Key == "node.kubernetes.io/not-ready" || t.Key == "node.kubernetes.io/unreachable" {
						tainted = true
					}
				}
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && !tainted {
						ready++
					}
				}
			}
			if ready == want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return errors.New("the simulated nodes did not become Ready (without taints) within 2 minutes")
}

// start runs a component with its output in Dir/<name>.log.
func (c *Cluster) start(name string, env []string, ports []string, bin string, args ...string) error {
	return c.startWith(name, nil, env, ports, bin, args...)
}

// startWith is start with attributes (a user to run as), in a process group of its own.
func (c *Cluster) startWith(name string, attr *syscall.SysProcAttr, env []string, ports []string, bin string, args ...string) error {
	log, err := os.Create(filepath.Join(c.opts.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if attr != nil {
		a := *attr
		cmd.SysProcAttr = &a
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, ports: ports, done: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	return nil
}

// Stop stops every component, newest first, and waits for their ports to close.
func (c *Cluster) Stop() error {
	var errs []error
	for _, f := range c.beforeStop {
		f()
	}
	c.beforeStop = nil
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		p.log.Close()
		for _, port := range p.ports {
			if err := waitClosed(port); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			}
		}
	}
	c.procs = nil
	for _, f := range c.cleanup {
		f()
	}
	c.cleanup = nil
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, err)
		}
		c.env = nil
	}
	return errors.Join(errs...)
}

func waitClosed(addr string) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		conn.Close()
	}
	return fmt.Errorf("%s still accepts connections", addr)
}

func (c *Cluster) freePort() (string, error) {
	// A port handed out before may be free again until its component listens: never twice.
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		l.Close()
		if !c.ports[port] {
			if c.ports == nil {
				c.ports = map[string]bool{}
			}
			c.ports[port] = true
			return port, nil
		}
	}
}

// waitHealthy polls url until it answers 200.
func waitHealthy(ctx context.Context, p *process, url string) error {
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited; see its log %s", p.name, p.log.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		resp, err := http.Get(url) //nolint:noctx // loopback health check
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s did not become healthy at %s; see its log %s", p.name, url, p.log.Name())
}

// applier creates objects from manifests through the dynamic client.
type applier struct {
	dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(cfg *rest.Config) (*applier, error) {
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &applier{dynamic: d, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// decodeFile reads a multi-document YAML file's objects.
func decodeFile(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return objs, nil
}

// decode splits a multi-document YAML file into objects.
func decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

// createFiles creates the objects of the YAML files, leaving those that exist.
func (a *applier) createFiles(ctx context.Context, files []string) error {
	for _, f := range files {
		objs, err := decodeFile(f)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if err := a.create(ctx, obj); err != nil {
				return err
			}
		}
	}
	return nil
}

// create creates obj, or leaves the existing one.
func (a *applier) create(ctx context.Context, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		a.mapper.Reset()
		if m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
	}
	var r dynamic.ResourceInterface = a.dynamic.Resource(m.Resource)
	if ns := obj.GetNamespace(); ns != "" {
		r = a.dynamic.Resource(m.Resource).Namespace(ns)
	}
	if _, err := r.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}
