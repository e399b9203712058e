//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kaptain-dev/kubectl-kaptain/test/localcluster"
)

// probe is what the real node's pod runs: Python and numpy from the base image made here, a
// request to this machine's address on the node's network, and a connection to an address
// outside, which must fail.
const probe = `import sys, socket, urllib.request
import numpy
print("numpy", numpy.__version__)
print("registry", urllib.request.urlopen("http://%s/v2/", timeout=5).status)
try:
    socket.create_connection(("192.0.2.1", 80), timeout=3)
    print("outside: reached")
except OSError as e:
    print("outside: unreachable")
`

// TestRealNodeRunsPython runs a pod on the real node (kubelet, containerd, runc and the CNI
// bridge in a network namespace of the cluster's): its container runs the base image's Python,
// reaches this machine's address on the node's network, and nothing beyond it.
func TestRealNodeRunsPython(t *testing.T) {
	node := suite.cluster.Node
	if node == nil {
		t.Fatal("the local cluster has no real node; make e2e starts one (KAPTAIN_NODE from hack/node.sh)")
	}
	ns := namespace(t)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeSelector:                 map[string]string{localcluster.RealNodeLabel: "real"},
			Tolerations:                  []corev1.Toleration{{Key: localcluster.RealNodeTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: new(bool),
			Containers: []corev1.Container{{
				Name: "probe", Image: node.BaseImage,
				Command: []string{"python3", "-c", strings.Replace(probe, "%s", node.Registry, 1)},
			}},
		},
	}
	if _, err := suite.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var phase corev1.PodPhase
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		p, err := suite.client.CoreV1().Pods(ns).Get(ctx, "probe", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if phase = p.Status.Phase; phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			if p.Spec.NodeName != localcluster.RealNodeName {
				t.Errorf("the pod ran on %s, not the real node", p.Spec.NodeName)
			}
			break
		}
	}
	logs, err := suite.client.CoreV1().Pods(ns).GetLogs("probe", &corev1.PodLogOptions{}).Do(ctx).Raw()
	t.Logf("pod %s in %s; its output (read from the real kubelet):\n%s", phase, time.Since(start).Round(100*time.Millisecond), logs)
	if err != nil || phase != corev1.PodSucceeded {
		t.Fatalf("the pod ended %s; logs: %v", phase, err)
	}
	for _, want := range []string{"numpy 1.", "registry 200", "outside: unreachable"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("the pod's output lacks %q", want)
		}
	}
}
