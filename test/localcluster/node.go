package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The real node: kubelet, containerd and runc running the pods sent to it.
const (
	// RealNodeName is the real node's name.
	RealNodeName = "real-node-0"
	// RealNodeLabel is the real node's label (value "real"), for a pod's nodeSelector.
	RealNodeLabel = "kaptain.dev/node"
	// RealNodeTaint keeps every pod off the real node but those that tolerate it.
	RealNodeTaint = "kaptain.dev/real-node"
)

// nodeNetwork is the real node's network: a network namespace the cluster creates, joined to
// this machine by a veth pair (hostIP here, nodeIP there), with no default route, so that the
// node's containerd and its pods reach this machine's hostIP and nothing else. The pods' bridge
// and their own namespaces live below it, on podCIDR.
type nodeNetwork struct {
	netns, hostIf, nodeIf string
	hostIP, nodeIP        string
	podCIDR, podGateway   string
}

// newNodeNetwork names the network of a cluster run by process pid: /30 and /24 subnets of
// 10.201.0.0/16 and 10.202.0.0/16 from it, so that two clusters on one machine do not meet.
func newNodeNetwork(pid int) nodeNetwork {
	k := pid%250 + 1
	id := fmt.Sprintf("%d", pid%100000)
	return nodeNetwork{
		netns: "kaptain-node-" + id, hostIf: "kpn" + id + "h", nodeIf: "kpn" + id + "n",
		hostIP: fmt.Sprintf("10.201.%d.1", k), nodeIP: fmt.Sprintf("10.201.%d.2", k),
		podCIDR: fmt.Sprintf("10.202.%d.0/24", k), podGateway: fmt.Sprintf("10.202.%d.1", k),
	}
}

// run runs a command of the network's set-up.
func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// create makes the namespace, the veth pair and the route to the pods.
func (n nodeNetwork) create() error {
	in := []string{"ip", "netns", "exec", n.netns}
	for _, cmd := range [][]string{
		{"ip", "netns", "add", n.netns},
		{"ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", n.nodeIf},
		{"ip", "link", "set", n.nodeIf, "netns", n.netns},
		{"ip", "addr", "add", n.hostIP + "/30", "dev", n.hostIf},
		{"ip", "link", "set", n.hostIf, "up"},
		append(slices.Clone(in), "ip", "addr", "add", n.nodeIP+"/30", "dev", n.nodeIf),
		append(slices.Clone(in), "ip", "link", "set", n.nodeIf, "up"),
		append(slices.Clone(in), "ip", "link", "set", "lo", "up"),
		// The node forwards between its pods and this machine; it has no default route.
		append(slices.Clone(in), "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"),
		{"ip", "route", "add", n.podCIDR, "via", n.nodeIP},
	} {
		if err := run(cmd...); err != nil {
			return fmt.Errorf("making the real node's network: %w", err)
		}
	}
	return nil
}

// remove deletes what create made; the pods' namespaces went with their sandboxes.
func (n nodeNetwork) remove() {
	_ = run("ip", "route", "del", n.podCIDR)
	_ = run("ip", "link", "del", n.hostIf)
	_ = run("ip", "netns", "del", n.netns)
}

// RealNode is the real node of a cluster started with Options.Node.
type RealNode struct {
	// BaseImage is the image made from Debian's packages (python3, numpy, boto3,
	// scikit-learn, XGBoost), in the node's registry.
	BaseImage string
	// Registry is the node's image registry (host:port), the only one its containerd pulls
	// from; HostIP is this machine's address on the node's network, where pods reach it.
	Registry, HostIP string
	// ModelServer and StorageInitializer are the images the local cluster's KServe runs for
	// the ServedRuntimes, made on BaseImage.
	ModelServer, StorageInitializer string
	// MetricsCollector is Katib's StdOut and File metrics collector, the sidecar Katib adds
	// to every trial's pods.
	MetricsCollector string

	pause   string
	network nodeNetwork
}

// nodeNetworkAndImages makes the real node's network and a registry of its images on hostIP
// (the pod sandbox and the base image, pushed from Options.Node) and sets c.Node, before the
// operators start: those whose settings name an image the real node runs (KServe's runtimes
// and storage initializer, Katib's metrics collector) read its name; realNode pushes them.
func (c *Cluster) nodeNetworkAndImages(ctx context.Context) error {
	n := newNodeNetwork(os.Getpid())
	c.cleanup = append(c.cleanup, n.remove)
	if err := n.create(); err != nil {
		return err
	}
	reg, err := c.nodeRegistry(n.hostIP)
	if err != nil {
		return err
	}
	pause, base := reg+"/kaptain/pause:1", reg+"/kaptain/python:3"
	if err := pushImages(ctx, c.opts.Node, pause, base); err != nil {
		return err
	}
	c.Node = &RealNode{
		BaseImage: base, Registry: reg, HostIP: n.hostIP,
		ModelServer: reg + "/kaptain/modelserver:1", StorageInitializer: reg + "/kaptain/storage-initializer:1",
		MetricsCollector: reg + "/kaptain/katib-file-metricscollector:1",
		pause:            pause, network: n,
	}
	return nil
}

// realNode starts the real node on the network nodeNetworkAndImages made: containerd and runc
// in the node's network namespace, the cluster's DNS server, and kubelet, registered as
// RealNodeName with RealNodeLabel=real and RealNodeTaint; then the images of its model
// servers and Katib's metrics collector.
func (c *Cluster) realNode(ctx context.Context, client kubernetes.Interface) error {
	dir := filepath.Join(c.opts.Dir, "node")
	if err := os.MkdirAll(filepath.Join(dir, "cni"), 0o755); err != nil {
		return err
	}
	n, reg, pause := c.Node.network, c.Node.Registry, c.Node.pause

	sock := filepath.Join(dir, "containerd.sock")
	config, err := writeNodeFiles(dir, n, reg, pause, sock)
	if err != nil {
		return err
	}
	// nsenter joins the network namespace only: ip netns exec would also give containerd a
	// mount namespace without the cgroup mounts runc needs.
	if err := c.start("containerd", nil, nil, "nsenter", "--net=/run/netns/"+n.netns, "containerd", "--config", config); err != nil {
		return err
	}
	runcRoot := filepath.Join(dir, "runc")
	c.beforeStop = append(c.beforeStop, func() { stopPods(client, runcRoot) })
	c.cleanup = append(c.cleanup, func() {
		killShims(sock)
		if err := unmountBelow(dir); err != nil {
			logf(c.opts, "warning: %v", err)
		}
	})
	if err := waitSocket(ctx, sock); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	port, err := c.freePort()
	if err != nil {
		return err
	}
	healthz, err := c.freePort()
	if err != nil {
		return err
	}
	if err := c.startDNS(client, n.hostIP); err != nil {
		return err
	}
	kubeletConfig := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(kubeletConfig, []byte(fmt.Sprintf(kubeletConfiguration, sock, n.hostIP, port, healthz, filepath.Join(dir, "resolv.conf"), n.hostIP, ClusterDomain)), 0o644); err != nil {
		return err
	}
	if err := c.start("kubelet", nil, []string{n.hostIP + ":" + port}, filepath.Join(c.opts.Node, "kubelet"),
		"--config="+kubeletConfig, "--kubeconfig="+c.Kubeconfig, "--hostname-override="+RealNodeName,
		"--root-dir="+filepath.Join(dir, "kubelet"), "--node-ip="+n.hostIP,
		"--node-labels="+RealNodeLabel+"=real", "--register-with-taints="+RealNodeTaint+"=true:NoSchedule"); err != nil {
		return err
	}
	if err := waitNodeReady(ctx, client, RealNodeName); err != nil {
		return err
	}
	if err := c.realNodeServing(ctx); err != nil {
		return err
	}
	return c.realNodeKatib(ctx, client)
}

// kubeletConfiguration is the real node's kubelet: cgroup v1 as this machine has it, no
// eviction or node allocatable enforcement (the node is this machine, shared), authentication
// by the admin kubeconfig's client certificate only on the node's address, and an empty
// resolv.conf: pods resolve the cluster's names only, with the cluster's DNS server on the
// node's network (clusterDNS).
const kubeletConfiguration = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
failSwapOn: false
containerRuntimeEndpoint: unix://%s
address: %s
port: %s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %s
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
resolvConf: %s
clusterDNS: [%s]
clusterDomain: %s
`

// writeNodeFiles writes containerd's configuration (its state under dir, the sandbox image
// from the node's registry, every other registry mapped to a closed port of hostIP so that no
// pull ever leaves the machine, oom_score_adj kept within what this machine allows), the CNI
// bridge of the pods and an empty resolv.conf, and returns the configuration's path.
func writeNodeFiles(dir string, n nodeNetwork, reg, pause, sock string) (string, error) {
	files := map[string]string{
		"resolv.conf": "",
		"cni/10-kaptain.conflist": fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "kaptain", "plugins": [
  {"type": "bridge", "bridge": "kaptain0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q, "gateway": %q}]], "routes": [{"dst": "%s/32"}]}},
  {"type": "loopback"}]}
`, n.podCIDR, n.podGateway, n.hostIP),
		"certs.d/" + reg + "/hosts.toml": fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", reg, reg),
		"certs.d/_default/hosts.toml":    fmt.Sprintf("server = \"http://%s:1\"\n", n.hostIP),
		"containerd.toml": fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = %q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
`, filepath.Join(dir, "containerd"), filepath.Join(dir, "containerd-state"), sock, pause,
			filepath.Join(dir, "cni"), filepath.Join(dir, "runc"), filepath.Join(dir, "certs.d")),
	}
	for f, content := range files {
		path := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "containerd.toml"), nil
}

// nodeRegistry serves an in-memory registry on hostIP, where the node's containerd pulls from.
func (c *Cluster) nodeRegistry(hostIP string) (string, error) {
	l, err := net.Listen("tcp", hostIP+":0")
	if err != nil {
		return "", fmt.Errorf("the real node's registry: %w", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	c.cleanup = append(c.cleanup, func() { _ = srv.Close() })
	return l.Addr().String(), nil
}

// pushImages pushes the pod sandbox (node/pause as /pause) and the base image (node/base.tar,
// with python3 as its command).
func pushImages(ctx context.Context, node, pause, base string) error {
	bin, err := os.ReadFile(filepath.Join(node, "pause"))
	if err != nil {
		return err
	}
	pauseLayer, err := fileLayer("pause", bin, 0o755)
	if err != nil {
		return err
	}
	baseLayer, err := tarball.LayerFromFile(filepath.Join(node, "base.tar"))
	if err != nil {
		return fmt.Errorf("the base image (hack/node.sh makes it): %w", err)
	}
	for ref, img := range map[string]struct {
		layer v1.Layer
		cfg   v1.Config
	}{
		pause: {pauseLayer, v1.Config{Entrypoint: []string{"/pause"}}},
		base:  {baseLayer, v1.Config{Cmd: []string{"python3"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}},
	} {
		image, err := mutate.AppendLayers(empty.Image, img.layer)
		if err != nil {
			return err
		}
		if image, err = mutate.Config(image, img.cfg); err != nil {
			return err
		}
		if err := pushImage(ctx, ref, image); err != nil {
			return err
		}
	}
	return nil
}

// pushImage pushes an image to ref in the node's registry (plain HTTP).
func pushImage(ctx context.Context, ref string, img v1.Image) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

// waitSocket waits until a unix socket accepts connections.
func waitSocket(ctx context.Context, sock string) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s does not accept connections", sock)
}

// waitNodeReady waits until the node reports Ready.
func waitNodeReady(ctx context.Context, client kubernetes.Interface, node string) error {
	var last string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					if cond.Status == corev1.ConditionTrue {
						return nil
					}
					last = cond.Message
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("node %s is not Ready: %s", node, last)
}

// stopPods removes the pods on the real node while its kubelet and containerd still run, so
// that their containers, sandboxes and network namespaces go the usual way; runc kills what is
// left after 45 seconds.
func stopPods(client kubernetes.Interface, runcRoot string) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	// Cordoned first, so that a controller's replacement of a deleted pod (a predictor's
	// Deployment) is not scheduled there again.
	_, _ = client.CoreV1().Nodes().Patch(ctx, RealNodeName, types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + RealNodeName})
	if err == nil {
		for _, p := range pods.Items {
			_ = client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}
	}
	for ctx.Err() == nil && len(runcContainers(runcRoot)) > 0 {
		time.Sleep(500 * time.Millisecond)
	}
	for _, id := range runcContainers(runcRoot) {
		_ = exec.Command("runc", "--root", runcRoot, "kill", id, "KILL").Run()
		_ = exec.Command("runc", "--root", runcRoot, "delete", "--force", id).Run()
	}
}

// runcContainers are the containers runc knows under root.
func runcContainers(root string) []string {
	var ids []string
	entries, _ := os.ReadDir(root)
	for _, ns := range entries {
		out, _ := exec.Command("runc", "--root", filepath.Join(root, ns.Name()), "list", "-q").Output()
		ids = append(ids, strings.Fields(string(out))...)
	}
	return ids
}

// killShims kills the containerd shims that served the socket sock.
func killShims(sock string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(cmdline, []byte("containerd-shim")) || !bytes.Contains(cmdline, []byte(sock)) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountBelow undoes every mount below dir, deepest first.
func unmountBelow(dir string) error {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	slices.Sort(points)
	var errs []error
	for _, p := range slices.Backward(points) {
		if err := exec.Command("umount", "-l", p).Run(); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
