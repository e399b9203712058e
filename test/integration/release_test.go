//go:build integration

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// TestDocumentedClusterRoleIsEnough binds docs/rbac.yaml, and nothing else, to a user and runs
// every command as that user.
func TestDocumentedClusterRoleIsEnough(t *testing.T) {
	ns := katibNamespace(t)
	data, err := os.ReadFile(repoPath("docs", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(data), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("docs/rbac.yaml has %d documents, want the namespace role and the runtimes role", len(docs))
	}
	roles := make([]*rbacv1.ClusterRole, len(docs))
	for i, doc := range docs {
		roles[i] = &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal([]byte(doc), roles[i]); err != nil {
			t.Fatal(err)
		}
		roles[i].Name += "-" + ns
		if _, err := shared.client.RbacV1().ClusterRoles().Create(context.Background(), roles[i], metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	role, runtimesRole := roles[0], roles[1]
	user, err := shared.env.AddUser(envtest.User{Name: "scientist-" + ns}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scientist")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	tf := repoPath("examples", "mnist-tensorflow")
	// Without the binding: a clear permission error, and nothing created.
	for _, args := range [][]string{{"train", "--wait=false"}, {"get", "jobs"}, {"clean"}} {
		r := kaptain(t, tf, creds, append(append([]string{"--kubeconfig", path}, args...), "-n", ns)...)
		if r.code == 0 || !strings.Contains(r.stderr, "forbidden") || !strings.Contains(r.stderr, `User "scientist-`+ns+`" cannot`) {
			t.Errorf("%v without permissions: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if count(t, tfJobs, ns) != 0 {
		t.Fatal("a forbidden train created a job")
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kaptain", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "scientist-" + ns}},
	}
	if _, err := shared.client.RbacV1().RoleBindings(ns).Create(context.Background(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pt := repoPath("examples", "mnist-pytorch")
	// With the namespace role only, a TrainJob's runtime cannot be read: train says so, and goes on.
	r := kaptain(t, pt, creds, "--kubeconfig", path, "train", "--wait=false", "-n", ns, "--dry-run=server")
	if r.code != 0 || !strings.Contains(r.stderr, "cannot read ClusterTrainingRuntime torch-distributed") {
		t.Errorf("train of a TrainJob without the runtimes role: exit %d\n%s", r.code, r.stderr)
	}
	clusterBinding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kaptain-runtimes-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: runtimesRole.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "scientist-" + ns}},
	}
	if _, err := shared.client.RbacV1().ClusterRoleBindings().Create(context.Background(), clusterBinding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shared.client.RbacV1().ClusterRoleBindings().Delete(context.Background(), clusterBinding.Name, metav1.DeleteOptions{})
	})
	// A pytorch model trains as a TrainJob here, its runtime checked; on an MPI runtime, on a
	// TrainingRuntime derived from it.
	for _, args := range [][]string{
		{"train", "--wait=false"},
		{"train", "--wait=false", "--runtime", "deepspeed-distributed"},
		{"tune", "--wait=false", "--param", "lr=double:0.01:0.1", "--objective", "accuracy"},
		{"get", "jobs"},
	} {
		r := kaptain(t, pt, creds, append(append([]string{"--kubeconfig", path}, args...), "-n", ns)...)
		if r.code != 0 || strings.Contains(r.stderr, "cannot read") {
			t.Errorf("%v of a pytorch model as a user with docs/rbac.yaml: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"build", "--builder", "cluster", "--dry-run=server"},
		{"train", "--wait=false"},
		{"tune", "--wait=false", "--param", "lr=double:0.01:0.1", "--objective", "accuracy"},
		{"deploy", "--wait=false", "--model-uri", "s3://kaptain/m/1", "--skip-model-check"},
		{"model", "log-metrics", "--type", "testing", "accuracy=0.9"},
		{"model", "history"},
		{"get", "all"},
		{"diagnose"},
		{"delete", "jobs", "--all", "--force"},
		{"undeploy"},
		{"clean", "--all", "--force"},
	} {
		r := kaptain(t, tf, creds, append(append([]string{"--kubeconfig", path}, args...), "-n", ns)...)
		if r.code != 0 {
			t.Errorf("%v as a user with docs/rbac.yaml: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestCompletionNamesFromTheClusterAndKubectlShim(t *testing.T) {
	ns := namespace(t)
	r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "train", "-n", ns, "--wait=false", "-o", "name")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	job := strings.SplitN(strings.TrimSpace(r.stdout), "/", 2)[1]
	r = kaptain(t, ".", nil, "__complete", "get", "jobs", "-n", ns, "")
	if !strings.Contains(r.stdout, job) {
		t.Errorf("__complete get jobs does not offer %s:\n%s", job, r.stdout)
	}
	dir := t.TempDir()
	if r := kaptain(t, ".", nil, "completion", "kubectl", "--dir", dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	info, err := os.Stat(filepath.Join(dir, "kubectl_complete-kaptain"))
	if err != nil || info.Mode()&0o111 == 0 {
		t.Fatalf("the shim is missing or not executable: %v", err)
	}
	kubectl := kubectlPath(t)
	// kubectl runs the shim, which runs the plugin, for 'kubectl kaptain ...'.
	cmd := exec.Command(kubectl, "__complete", "kaptain", "logs", "--kubeconfig", shared.kubeconfig, "-n", ns, "")
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+filepath.Dir(shared.binary)+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+shared.home)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), job) {
		t.Errorf("kubectl __complete kaptain logs: %v\n%s", err, out)
	}
}

// TestTrainWithoutWatchPermissionEndsAtOnce: a user who may create and list TFJobs but not watch
// them gets an error within seconds, not a silent wait until --timeout; the job is kept.
func TestTrainWithoutWatchPermissionEndsAtOnce(t *testing.T) {
	ns := namespace(t)
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "no-watch", Namespace: ns},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"kubeflow.org"}, Resources: []string{"tfjobs"}, Verbs: []string{"get", "list", "create", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps", "pods"}, Verbs: []string{"get", "list", "watch", "create", "patch", "update"}},
		},
	}
	if _, err := shared.client.RbacV1().Roles(ns).Create(context.Background(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	user := "no-watch-" + ns
	if _, err := shared.client.RbacV1().RoleBindings(ns).Create(context.Background(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "no-watch", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	u, err := shared.env.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "--kubeconfig", path, "train", "-n", ns, "--timeout", "10m")
	if r.code != sdkerr.Unknown.ExitCode() || !strings.Contains(r.stderr, "cannot watch tfjobs:") || !strings.Contains(r.stderr, "it keeps running") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the refused watch ended the wait after %s", d)
	}
	if count(t, tfJobs, ns) != 1 {
		t.Error("the job was not kept")
	}
}
