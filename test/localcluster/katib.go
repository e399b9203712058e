package localcluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// SuggestionAddress is where katib-play serves the suggestion API: the port Katib's controller
// dials every suggestion on (6789), on loopback. One local cluster at a time can have it.
const SuggestionAddress = "127.0.0.1:6789"

// katibCertDir is where the Katib controller reads its webhook certificate; it has no
// setting for it.
const katibCertDir = "/tmp/cert"

// katibConfig is the controller's KatibConfig: its own certificate generator off, the trial
// kinds this cluster runs, and goptuna (the one Go suggestion service) for the four
// algorithms it implements. %[1]s is the webhook port, %[2]s the health address, %[3]s the
// metrics collector's image (Katib's, or the real node's build of it).
const katibConfig = `apiVersion: config.kubeflow.org/v1beta1
kind: KatibConfig
init:
  certGenerator:
    enable: false
  controller:
    webhookPort: %[1]s
    healthzAddr: %[2]s
    metricsAddr: "0"
    trialResources:
      - TrainJob.v1alpha1.trainer.kubeflow.org
      - Job.v1.batch
      - TFJob.v1.kubeflow.org
      - PyTorchJob.v1.kubeflow.org
runtime:
  metricsCollectors:
    - kind: StdOut
      image: %[3]s
    - kind: File
      image: %[3]s
  suggestions:
    - algorithmName: random
      image: ghcr.io/kubeflow/katib/suggestion-goptuna:v0.19.0
    - algorithmName: tpe
      image: ghcr.io/kubeflow/katib/suggestion-goptuna:v0.19.0
    - algorithmName: cmaes
      image: ghcr.io/kubeflow/katib/suggestion-goptuna:v0.19.0
    - algorithmName: sobol
      image: ghcr.io/kubeflow/katib/suggestion-goptuna:v0.19.0
  earlyStoppings:
    - algorithmName: medianstop
      image: ghcr.io/kubeflow/katib/earlystopping-medianstop:v0.19.0
`

// katib starts Katib: PostgreSQL (Debian's) and the db-manager on loopback, katib-play (the
// goptuna suggestion service and the metrics collector, see test/katib/cmd/katib-play), and
// the Katib controller with its webhooks registered by URL. The controller runs in a private
// mount namespace in which katib-play's hosts file is /etc/hosts, so that the names it dials
// (each Suggestion's Service, the db-manager's) reach loopback, and its certificate directory
// is the cluster's.
func (c *Cluster) katib(ctx context.Context, client kubernetes.Interface, module string, certs *webhookCerts) error {
	dbPort, err := c.postgres(ctx)
	if err != nil {
		return err
	}
	ports, err := c.freePorts(3)
	if err != nil {
		return err
	}
	managerPort, webhookPort, healthPort := ports[0], ports[1], ports[2]
	if err := c.start("katib-db-manager", []string{
		"DB_NAME=postgres", "DB_USER=katib", "DB_PASSWORD=katib", "KATIB_POSTGRESQL_DB_HOST=127.0.0.1",
		"KATIB_POSTGRESQL_DB_PORT=" + dbPort, "KATIB_POSTGRESQL_DB_DATABASE=postgres",
	}, []string{"127.0.0.1:" + managerPort}, filepath.Join(c.opts.Operators, "katib-db-manager"),
		"--listen-address=127.0.0.1:"+managerPort, "--connect-timeout=30s"); err != nil {
		return err
	}
	if err := waitListening(ctx, c.procs[len(c.procs)-1], "127.0.0.1:"+managerPort); err != nil {
		return err
	}
	c.katibDBManager = "127.0.0.1:" + managerPort
	if conn, err := net.DialTimeout("tcp", SuggestionAddress, time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("%s is taken (another local cluster's katib-play?): Katib dials suggestions on port 6789", SuggestionAddress)
	}
	hosts := filepath.Join(c.opts.Dir, "katib-hosts")
	if err := c.start("katib-play", nil, []string{SuggestionAddress}, filepath.Join(c.opts.Operators, "katib-play"),
		"--kubeconfig="+c.Kubeconfig, "--hosts="+hosts, "--listen="+SuggestionAddress, "--db-manager=127.0.0.1:"+managerPort); err != nil {
		return err
	}
	if err := waitListening(ctx, c.procs[len(c.procs)-1], SuggestionAddress); err != nil {
		return err
	}

	if err := createNamespace(ctx, client, "kubeflow"); err != nil {
		return err
	}
	collector := "ghcr.io/kubeflow/katib/file-metrics-collector:v0.19.0"
	if c.Node != nil {
		collector = c.Node.MetricsCollector
	}
	config := fmt.Sprintf(katibConfig, webhookPort, "127.0.0.1:"+healthPort, collector)
	if _, err := client.CoreV1().ConfigMaps("kubeflow").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "katib-config", Namespace: "kubeflow"},
		Data:       map[string]string{"katib-config.yaml": config},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Katib's ConfigMap: %w", err)
	}
	configFile := filepath.Join(c.opts.Dir, "katib-config.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		return err
	}
	certDir := filepath.Join(c.opts.Dir, "katib-certs")
	if err := writeCerts(certDir, certs); err != nil {
		return err
	}
	if err := os.MkdirAll(katibCertDir, 0o755); err != nil {
		return err
	}
	// unshare execs sh, which execs the controller: the process Stop signals is the controller.
	if err := c.start("katib-controller", []string{
		"KUBECONFIG=" + c.Kubeconfig, "KATIB_CORE_NAMESPACE=kubeflow", "KATIB_DB_MANAGER_SERVICE_PORT=" + managerPort,
	}, []string{"127.0.0.1:" + webhookPort, "127.0.0.1:" + healthPort}, "unshare",
		"--mount", "--propagation=private", "--", "sh", "-c",
		`mount --bind "$1" /etc/hosts && mount --bind "$2" `+katibCertDir+` && shift 2 && exec "$@"`,
		"sh", hosts, certDir, filepath.Join(c.opts.Operators, "katib-controller"), "--katib-config="+configFile); err != nil {
		return err
	}
	if err := waitHealthy(ctx, c.procs[len(c.procs)-1], "http://127.0.0.1:"+healthPort+"/readyz"); err != nil {
		return err
	}
	a, err := newApplier(c.Config)
	if err != nil {
		return err
	}
	return webhookFile{path: filepath.Join(module, "manifests", "v1beta1", "components", "webhook", "webhooks.yaml"), port: webhookPort}.register(ctx, a, certs.caPEM)
}

// postgres initialises a database cluster in a directory of its own (as user postgres when
// running as root: PostgreSQL refuses root) and starts it on loopback with the superuser katib.
// It returns the port.
func (c *Cluster) postgres(ctx context.Context) (string, error) {
	if c.opts.Postgres == "" {
		return "", fmt.Errorf("no PostgreSQL: Options.Postgres names its bin directory (hack/postgres.sh)")
	}
	dir, err := os.MkdirTemp("", "kaptain-postgres-")
	if err != nil {
		return "", err
	}
	c.cleanup = append(c.cleanup, func() { _ = os.RemoveAll(dir) })
	var attr *syscall.SysProcAttr
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running PostgreSQL as root needs the user postgres (Debian's package makes it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", err
		}
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(c.opts.Postgres, "initdb"), "-D", data, "-U", "katib", "--auth=trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = attr
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := c.freePort()
	if err != nil {
		return "", err
	}
	if err := c.startWith("postgres", attr, nil, []string{"127.0.0.1:" + port}, filepath.Join(c.opts.Postgres, "postgres"),
		"-D", data, "-h", "127.0.0.1", "-p", port, "-k", dir, "-c", "fsync=off"); err != nil {
		return "", err
	}
	return port, waitListening(ctx, c.procs[len(c.procs)-1], "127.0.0.1:"+port)
}

// waitListening waits until addr accepts connections.
func waitListening(ctx context.Context, p *process, addr string) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited; see its log %s", p.name, p.log.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s does not listen on %s; see its log %s", p.name, addr, p.log.Name())
}

// katibCRDs are Katib's CRDs: Experiment, Suggestion, Trial.
func katibCRDs(module string) string {
	return filepath.Join(module, "manifests", "v1beta1", "components", "crd")
}

// realNodeKatib lets Katib's metrics collector run beside the trials sent to the real node: its
// image (Katib's file-metricscollector, built by hack/operators.sh, on the base image), and
// the db-manager it reports to, reachable from the node's network: a forwarder on hostIP to
// the db-manager on loopback, and a Service katib-db-manager in kubeflow whose EndpointSlice
// is hostIP, the name the collector dials (the cluster's DNS server answers it).
func (c *Cluster) realNodeKatib(ctx context.Context, client kubernetes.Interface) error {
	n := c.Node
	bin, err := os.ReadFile(filepath.Join(c.opts.Operators, "katib-file-metricscollector"))
	if err != nil {
		return fmt.Errorf("the metrics collector of Katib (hack/operators.sh builds it): %w", err)
	}
	if err := pushOnBase(ctx, n.BaseImage, n.MetricsCollector, "/kaptain/file-metricscollector", bin, 0o755, "", ""); err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(c.katibDBManager)
	if err != nil {
		return err
	}
	if err := c.forward(net.JoinHostPort(n.HostIP, port), c.katibDBManager); err != nil {
		return fmt.Errorf("the db-manager of Katib on the node's network: %w", err)
	}
	p, _ := strconv.Atoi(port)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "katib-db-manager", Namespace: "kubeflow"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "api", Port: int32(p)}}},
	}
	if _, err := client.CoreV1().Services("kubeflow").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Katib's db-manager Service: %w", err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "katib-db-manager-real-node", Namespace: "kubeflow", Labels: map[string]string{
			discoveryv1.LabelServiceName: "katib-db-manager", discoveryv1.LabelManagedBy: "local-cluster.kaptain.dev",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{n.HostIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("api"), Port: ptr.To(int32(p))}},
	}
	if _, err := client.DiscoveryV1().EndpointSlices("kubeflow").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Katib's db-manager EndpointSlice: %w", err)
	}
	return nil
}

// forward accepts TCP connections on from and copies them both ways to to, until the cluster
// stops.
func (c *Cluster) forward(from, to string) error {
	l, err := net.Listen("tcp", from)
	if err != nil {
		return err
	}
	c.cleanup = append(c.cleanup, func() { _ = l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.DialTimeout("tcp", to, 5*time.Second)
				if err != nil {
					return
				}
				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
				go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return nil
}
