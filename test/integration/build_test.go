//go:build integration

package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/image"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/test/servers"
)

// write writes a test file.
func write(t *testing.T, path, content string) { t.Helper(); servers.Write(t, path, content) }

var (
	jobs    = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// buildModel writes a model directory: kaptain.yaml naming image, a main file, a helper and
// a data directory, plus extra kaptain.yaml lines.
func buildModel(t *testing.T, dir, img, base string, extra string) string {
	t.Helper()
	write(t, filepath.Join(dir, "kaptain.yaml"), fmt.Sprintf(`apiVersion: kaptain.dev/v1alpha1
kind: Model
spec:
  id: dev/mnist
  name: MNIST
  description: digits
  version: "0.0.1"
  framework: tensorflow
  frameworkVersion: "2.16.1"
  mainFile: trainer.py
  extraFiles: [utils.py, data]
  image: %s
  baseImage: %s
%s`, img, base, extra))
	write(t, filepath.Join(dir, "trainer.py"), "import utils\nprint('training')\n")
	write(t, filepath.Join(dir, "utils.py"), "def load(): pass\n")
	data := make([]byte, 256<<10)
	_, _ = rand.Read(data)
	write(t, filepath.Join(dir, "data", "train.bin"), string(data))
	return dir
}

// pushRegistryBase pushes a base image with a 1 MiB layer to the registry, as a user would
// have it there, and returns its reference.
func pushRegistryBase(t *testing.T, reg *servers.Registry) string {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	write(t, filepath.Join(dir, "python"), string(data))
	in, err := image.Collect(&model.Model{Spec: model.Spec{MainFile: "python", BaseImage: "scratch", Config: model.Config{BaseDir: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/library/python:3.12"
	if _, err := registryClient(t, reg, nil).Build(context.Background(), in, ref, image.Options{Force: true}); err != nil {
		t.Fatalf("pushing the base image: %v", err)
	}
	return ref
}

// registryClient is an image.Registry with the registry's credentials and CA, through
// transport.
func registryClient(t *testing.T, r *servers.Registry, transport http.RoundTripper) *image.Registry {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.json")
	write(t, cfg, r.DockerConfig(r.Pass))
	kc, _, err := credentials.DockerKeychain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &image.Registry{Keychain: kc, RootCAs: r.Pool(), Transport: transport}
}

// countingTransport counts requests and uploaded bytes on their way to the registry.
type countingTransport struct {
	next            http.RoundTripper
	requests, bytes atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	if req.Body != nil && req.Body != http.NoBody {
		// Streamed layers have no Content-Length: count the bytes as they are sent.
		req = req.Clone(req.Context())
		req.Body = &countedBody{ReadCloser: req.Body, n: &c.bytes}
	}
	return c.next.RoundTrip(req)
}

// countedBody adds the bytes read from a request body to n.
type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	b.n.Add(int64(k))
	return k, err
}

func (c *countingTransport) reset() { c.requests.Store(0); c.bytes.Store(0) }

// TestBuildAgainstRegistryTransport counts, at the transport, what builds send to a real
// registry over TLS with htpasswd authentication.
func TestBuildAgainstRegistryTransport(t *testing.T) {
	reg := servers.StartRegistry(t)
	base := pushRegistryBase(t, reg)
	dir := buildModel(t, t.TempDir(), reg.Host+"/kaptain/mnist:0.0.1", base, "")
	m, err := model.LoadFile(filepath.Join(dir, "kaptain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &countingTransport{next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: reg.Pool()}}}
	r := registryClient(t, reg, tr)
	ctx := context.Background()
	inputs := func() *image.Inputs {
		in, err := image.Collect(m)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}

	first, err := r.Build(ctx, inputs(), m.Spec.Image, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.bytes.Load() >= 1<<20 {
		t.Errorf("first build sent %d bytes: the 1 MiB base layer was uploaded, not mounted", tr.bytes.Load())
	}
	if tr.bytes.Load() < 256<<10 {
		t.Errorf("first build sent %d bytes, less than the 256 KiB data file", tr.bytes.Load())
	}

	tr.reset()
	again, err := r.Build(ctx, inputs(), m.Spec.Image, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The target's manifest, and the base's manifest and configuration (the proof that the
	// image is this build's, not one carrying its checksum), a ping each: 6; no bytes.
	if !again.Skipped || tr.requests.Load() > 6 || tr.bytes.Load() != 0 || again.Pinned != first.Pinned {
		t.Fatalf("unchanged rebuild: skipped=%v requests=%d bytes=%d pinned %s vs %s", again.Skipped, tr.requests.Load(), tr.bytes.Load(), again.Pinned, first.Pinned)
	}
	t.Logf("unchanged rebuild: %d requests, %d bytes", tr.requests.Load(), tr.bytes.Load())

	write(t, filepath.Join(dir, "trainer.py"), "import utils\nprint('training again')\n")
	tr.reset()
	changed, err := r.Build(ctx, inputs(), m.Spec.Image, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := changed.Layers[1].Layer.Size()
	if changed.Skipped || tr.bytes.Load() > code+4096 {
		t.Fatalf("one-line change sent %d bytes; the code layer is %d bytes", tr.bytes.Load(), code)
	}
	t.Logf("one-line change: %d requests, %d bytes (code layer %d bytes)", tr.requests.Load(), tr.bytes.Load(), code)
}

func TestBuildCommandLocal(t *testing.T) {
	reg := servers.StartRegistry(t)
	base := pushRegistryBase(t, reg)
	img := reg.Host + "/kaptain/mnist:0.0.1"
	dir := buildModel(t, t.TempDir(), img, base, "")
	home := reg.Home(t, reg.Pass, true)
	env := []string{"HOME=" + home}

	res := kaptain(t, dir, env, "build")
	if res.code != 0 {
		t.Fatalf("build: exit %d\n%s", res.code, res.stderr)
	}
	pinned := strings.TrimSpace(res.stdout)
	if !strings.HasPrefix(pinned, reg.Host+"/kaptain/mnist@sha256:") || !strings.Contains(res.stderr, "pushed") {
		t.Fatalf("build printed %q\n%s", pinned, res.stderr)
	}
	// The pushed image: labels, entrypoint and layers as documented.
	ref, _ := name.ParseReference(pinned)
	kc, _, _ := credentials.DockerKeychain(filepath.Join(home, ".docker", "config.json"))
	pulled, err := remote.Image(ref, remote.WithAuthFromKeychain(authn.NewMultiKeychain(kc)),
		remote.WithTransport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: reg.Pool()}}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.WorkingDir != "/app" || strings.Join(cf.Config.Entrypoint, " ") != "python trainer.py" ||
		cf.Config.Labels[image.LabelModelID] != "dev/mnist" || cf.Config.Labels[image.LabelChecksum] == "" {
		t.Fatalf("image config: %+v", cf.Config)
	}

	again := kaptain(t, dir, env, "build")
	if again.code != 0 || strings.TrimSpace(again.stdout) != pinned || !strings.Contains(again.stderr, "is up to date") || !strings.Contains(again.stderr, "(6 requests, nothing pushed)") {
		t.Fatalf("rebuild: exit %d stdout %q\n%s", again.code, again.stdout, again.stderr)
	}

	// The same inputs on another path give the same digest.
	other := buildModel(t, t.TempDir(), reg.Host+"/kaptain/mnist:copy", base, "")
	data, _ := os.ReadFile(filepath.Join(dir, "data", "train.bin"))
	write(t, filepath.Join(other, "data", "train.bin"), string(data))
	copied := kaptain(t, other, env, "build")
	if copied.code != 0 || digestOf(copied.stdout) != digestOf(pinned) {
		t.Fatalf("same inputs elsewhere: exit %d, %q vs %q\n%s", copied.code, copied.stdout, pinned, copied.stderr)
	}

	// --dry-run=client contacts nothing: it works with the registry stopped too.
	dry := kaptain(t, dir, env, "build", "--dry-run=client")
	if dry.code != 0 || dry.stdout != "" || !strings.Contains(dry.stderr, "dry run: would build") {
		t.Fatalf("dry run: exit %d stdout %q\n%s", dry.code, dry.stdout, dry.stderr)
	}
}

func digestOf(ref string) string {
	_, d, _ := strings.Cut(strings.TrimSpace(ref), "@")
	return d
}

// TestBuildCommandErrors checks each documented registry error: exit code 10, a message that
// says what to do, and no credential in the output.
func TestBuildCommandErrors(t *testing.T) {
	reg := servers.StartRegistry(t)
	img := reg.Host + "/kaptain/mnist:0.0.1"
	dir := buildModel(t, t.TempDir(), img, "scratch", "")
	for _, tc := range []struct {
		name string
		home string
		args []string
		want string
	}{
		{"wrong password", reg.Home(t, "wrong-password", true), nil, "refused the credentials from "},
		{"unknown CA", reg.Home(t, reg.Pass, false), nil, "signed by an unknown authority: give its CA with --registry-ca or ~/.tls/certificate.crt"},
		{"unreachable registry", reg.Home(t, reg.Pass, true), []string{"-f", filepath.Join(buildModel(t, t.TempDir(), servers.FreePort(t)+"/kaptain/mnist:1", "scratch", ""), "kaptain.yaml")}, "cannot reach registry"},
		{"missing --registry-ca", reg.Home(t, reg.Pass, true), []string{"--registry-ca", "/nonexistent/ca.crt"}, "reading registry certificate /nonexistent/ca.crt"},
		{"missing --docker-config", reg.Home(t, reg.Pass, true), []string{"--docker-config", "/nonexistent/config.json"}, "reading Docker config /nonexistent/config.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := kaptain(t, dir, []string{"HOME=" + tc.home}, append([]string{"build"}, tc.args...)...)
			if res.code != sdkerr.ImageBuild.ExitCode() || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, want 10 with %q:\n%s", res.code, tc.want, res.stderr)
			}
			if strings.Contains(res.stderr+res.stdout, reg.Pass) || strings.Contains(res.stderr+res.stdout, "wrong-password") {
				t.Fatal("a password reached the output")
			}
		})
	}
}

// clusterModel writes a model with requirements, so that auto picks the cluster builder,
// stored in the S3 server's bucket.
func clusterModel(t *testing.T, reg *servers.Registry, s3srv *servers.S3, version string) string {
	t.Helper()
	dir := buildModel(t, t.TempDir(), reg.Host+"/kaptain/mnist:"+version, reg.Host+"/library/python:3.12", fmt.Sprintf(`  requirements: requirements.txt
  config:
    modelStorageURI: s3://kaptain/models
    storage: {endpoint: %q, forcePathStyle: true, region: us-east-1}
`, s3srv.Endpoint))
	write(t, filepath.Join(dir, "requirements.txt"), "numpy==2.1.0\n")
	return dir
}

func TestBuildCommandClusterDryRuns(t *testing.T) {
	reg := servers.StartRegistry(t)
	s3srv := servers.StartS3(t, "kaptain")
	dir := clusterModel(t, reg, s3srv, "0.0.1")
	env := append(s3srv.Env(), "HOME="+reg.Home(t, reg.Pass, true))
	ns := namespace(t)

	client := kaptain(t, dir, env, "build", "-n", ns, "--dry-run=client", "-o", "yaml")
	if client.code != 0 {
		t.Fatalf("client dry run: exit %d\n%s", client.code, client.stderr)
	}
	for _, want := range []string{"kind: Job", "name: dev-mnist-14fbf217-build-", "-docker", "-registry-ca", "-storage", "kaptain.dev/redacted: \"true\"", "PHJlZGFjdGVkPg==", "--registry-certificate=" + reg.Host + "=", "--context=s3://kaptain/models/dev-mnist-14fbf217/build/"} {
		if !strings.Contains(client.stdout, want) {
			t.Errorf("client dry run lacks %q", want)
		}
	}
	for _, secret := range []string{reg.Pass, s3srv.Secret, s3srv.Access} {
		if strings.Contains(client.stdout+client.stderr, secret) {
			t.Fatalf("a credential reached the output:\n%s", client.stdout)
		}
	}
	server := kaptain(t, dir, env, "build", "-n", ns, "--dry-run=server")
	if server.code != 0 || strings.Count(server.stdout, "(server dry run)") != 4 {
		t.Fatalf("server dry run: exit %d\n%s\n%s", server.code, server.stdout, server.stderr)
	}
	// The API server's warnings reach stderr, each once: PodSecurity in warn mode judges the
	// builder's Job (the executor runs as root).
	nsObj, err := shared.client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["pod-security.kubernetes.io/warn"] = "restricted"
	if _, err := shared.client.CoreV1().Namespaces().Update(context.Background(), nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	warned := kaptain(t, dir, env, "build", "-n", ns, "--dry-run=server")
	if warned.code != 0 || strings.Count(warned.stderr, `Warning: would violate PodSecurity "restricted:latest"`) != 1 {
		t.Errorf("server dry run in a namespace that warns: exit %d, want one PodSecurity warning on stderr\n%s", warned.code, warned.stderr)
	}
	if count(t, jobs, ns) != 0 || count(t, secrets, ns) != 0 {
		t.Fatal("a dry run created objects")
	}
	objs, _ := s3srv.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: ptrTo("kaptain")})
	if len(objs.Contents) != 0 {
		t.Fatal("a dry run uploaded the build context")
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestBuildCommandClusterLifecycle(t *testing.T) {
	reg := servers.StartRegistry(t)
	pushRegistryBase(t, reg)
	s3srv := servers.StartS3(t, "kaptain")
	dir := clusterModel(t, reg, s3srv, "0.0.1")
	env := append(s3srv.Env(), "HOME="+reg.Home(t, reg.Pass, true))
	ns := namespace(t)
	ctx := context.Background()

	r := start(t, dir, env, "build", "-n", ns)
	waitFor(t, r, "is building")
	job := createdJob(t, jobs, ns)

	// The context is in S3: the files and the generated Dockerfile.
	key := contextKey(job)
	obj, err := s3srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: ptrTo("kaptain"), Key: &key})
	if err != nil {
		t.Fatalf("the build context %s is not in S3: %v", key, err)
	}
	files := untar(t, obj.Body)
	for _, f := range []string{"Dockerfile.kaptain", "trainer.py", "utils.py", "requirements.txt", "data/train.bin"} {
		if _, ok := files[f]; !ok {
			t.Errorf("build context lacks %s (has %v)", f, keys(files))
		}
	}
	if !strings.Contains(files["Dockerfile.kaptain"], "RUN pip install --no-cache-dir -r \"requirements.txt\"") {
		t.Errorf("Dockerfile:\n%s", files["Dockerfile.kaptain"])
	}

	// Three Secrets owned by the Job; the Docker one holds only this registry's credentials.
	list, err := shared.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Fatalf("%d secrets, want docker, registry CA and storage", len(list.Items))
	}
	for _, s := range list.Items {
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Name != job.GetName() {
			t.Errorf("secret %s is not owned by the job: %v", s.Name, s.OwnerReferences)
		}
		if s.Type == "kubernetes.io/dockerconfigjson" && string(s.Data[".dockerconfigjson"]) != strings.ReplaceAll(strings.ReplaceAll(reg.DockerConfig(reg.Pass), " ", ""), "\n", "") {
			t.Errorf("docker secret holds %s", s.Data[".dockerconfigjson"])
		}
	}

	// Play the executor: push the image with this content (as kaniko would), then the Job
	// controller: Complete.
	pushed := servers.PushModel(t, filepath.Join(dir, "kaptain.yaml"), registryClient(t, reg, nil))
	setJobStatus(t, job, "Complete")
	if code := r.Exit(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, r.Stderr())
	}
	if got := r.Stdout(); got != pushed.Pinned+"\n" {
		t.Fatalf("printed %q, want %q", got, pushed.Pinned)
	}
	gone(t, ns, key, s3srv)

	// Nothing changed: the registry has it, nothing is created.
	again := kaptain(t, dir, env, "build", "-n", ns)
	if again.code != 0 || !strings.Contains(again.stderr, "is up to date") || count(t, jobs, ns) != 0 {
		t.Fatalf("rebuild: exit %d\n%s", again.code, again.stderr)
	}

	// Failure: the Job stays, the error is ImageBuild.
	write(t, filepath.Join(dir, "trainer.py"), "print('changed')\n")
	r = start(t, dir, env, "build", "-n", ns)
	waitFor(t, r, "is building")
	job = createdJob(t, jobs, ns)
	setJobStatus(t, job, "Failed")
	if code := r.Exit(t, 30*time.Second); code != sdkerr.ImageBuild.ExitCode() || !strings.Contains(r.Stderr(), "failed: BackoffLimitExceeded") || !strings.Contains(r.Stderr(), "kept for inspection") {
		t.Fatalf("failed build: exit %d\n%s", code, r.Stderr())
	}
	if count(t, jobs, ns) != 1 {
		t.Fatal("the failed Job was removed")
	}
	// ... without the push credentials and S3 keys, which its logs do not need.
	if left := secretNames(t, ns); len(left) != 0 || !strings.Contains(r.Stderr(), "; the rest is kept for inspection") {
		t.Fatalf("the failed build kept Secrets %v\n%s", left, r.Stderr())
	}
	if got := kaptain(t, dir, nil, "get", "builds", "-n", ns, "-o", "name"); got.code != 0 || strings.TrimSpace(got.stdout) != "job.batch/"+job.GetName() {
		t.Fatalf("get builds: exit %d %q\n%s", got.code, got.stdout, got.stderr)
	}
	if del := kaptain(t, dir, nil, "delete", "build", job.GetName(), "-n", ns); del.code != 0 {
		t.Fatalf("delete build: exit %d\n%s", del.code, del.stderr)
	}
	waitGone(t, ns, job.GetName())

	// Ctrl-C: the Job, its Secrets and the context go.
	r = start(t, dir, env, "build", "-n", ns, "--force-build")
	waitFor(t, r, "is building")
	job = createdJob(t, jobs, ns)
	r.Interrupt(t)
	if code := r.Exit(t, 30*time.Second); code != sdkerr.Interrupted.ExitCode() {
		t.Fatalf("interrupted build: exit %d\n%s", code, r.Stderr())
	}
	if _, err := shared.dynamic.Resource(jobs).Namespace(ns).Get(ctx, job.GetName(), metav1.GetOptions{}); err == nil {
		// Background deletion: the Job may linger with a deletion timestamp.
		waitGone(t, ns, job.GetName())
	}
	for _, s := range []string{"-docker", "-registry-ca", "-storage"} {
		if _, err := shared.client.CoreV1().Secrets(ns).Get(ctx, job.GetName()+s, metav1.GetOptions{}); err == nil {
			t.Errorf("secret %s%s survived Ctrl-C", job.GetName(), s)
		}
	}
	if _, err := s3srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: ptrTo("kaptain"), Key: ptrTo(contextKey(job))}); err == nil {
		t.Error("the build context survived Ctrl-C")
	}
}

// contextKey is the S3 key of the build context the Job reads.
func contextKey(job *unstructured.Unstructured) string {
	containers, _, _ := unstructured.NestedSlice(job.Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	for _, a := range args {
		if s, ok := strings.CutPrefix(a, "--context=s3://kaptain/"); ok {
			return s
		}
	}
	return ""
}

// setJobStatus plays the Job controller through the status subresource.
func setJobStatus(t *testing.T, job *unstructured.Unstructured, final string) {
	t.Helper()
	current, err := shared.dynamic.Resource(jobs).Namespace(job.GetNamespace()).Get(context.Background(), job.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(typ, reason string) map[string]any {
		return map[string]any{"type": typ, "status": "True", "reason": reason, "message": reason, "lastProbeTime": now, "lastTransitionTime": now}
	}
	status := map[string]any{"startTime": now}
	switch final {
	case "Complete":
		status["conditions"] = []any{cond("SuccessCriteriaMet", "CompletionsReached"), cond("Complete", "CompletionsReached")}
		status["completionTime"] = now
		status["succeeded"] = int64(1)
	case "Failed":
		status["conditions"] = []any{cond("FailureTarget", "BackoffLimitExceeded"), cond("Failed", "BackoffLimitExceeded")}
		status["failed"] = int64(1)
	}
	current.Object["status"] = status
	if _, err := shared.dynamic.Resource(jobs).Namespace(job.GetNamespace()).UpdateStatus(context.Background(), current, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating the job status: %v", err)
	}
}

// gone checks that the build left nothing: no Job, no Secret, no context in S3.
func gone(t *testing.T, ns, key string, s3srv *servers.S3) {
	t.Helper()
	list, _ := shared.dynamic.Resource(jobs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	for _, j := range list.Items {
		if j.GetDeletionTimestamp() == nil {
			t.Errorf("job %s was not removed", j.GetName())
		}
	}
	if n := count(t, secrets, ns); n != 0 {
		t.Errorf("%d secrets left", n)
	}
	if _, err := s3srv.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: ptrTo("kaptain"), Key: &key}); err == nil {
		t.Errorf("the build context %s was left in S3", key)
	}
}

func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		j, err := shared.dynamic.Resource(jobs).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil || j.GetDeletionTimestamp() != nil {
			return
		}
	}
	t.Fatalf("job %s survived Ctrl-C", name)
}

func untar(t *testing.T, r io.ReadCloser) map[string]string {
	t.Helper()
	defer r.Close()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = io.Copy(&b, tr)
		out[h.Name] = b.String()
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTrainBuildRunsThePinnedDigest(t *testing.T) {
	reg := servers.StartRegistry(t)
	base := pushRegistryBase(t, reg)
	img := reg.Host + "/kaptain/mnist:0.0.1"
	dir := buildModel(t, t.TempDir(), img, base, "")
	env := []string{"HOME=" + reg.Home(t, reg.Pass, true)}
	ns := namespace(t)

	if res := kaptain(t, dir, env, "train", "-n", ns, "--builder", "local"); res.code != sdkerr.Usage.ExitCode() || !strings.Contains(res.stderr, "--builder only applies with --build") {
		t.Fatalf("--builder without --build: exit %d\n%s", res.code, res.stderr)
	}
	res := kaptain(t, dir, env, "train", "-n", ns, "--build", "--wait=false")
	if res.code != 0 {
		t.Fatalf("train --build: exit %d\n%s", res.code, res.stderr)
	}
	m, err := model.LoadFile(filepath.Join(dir, "kaptain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sum, digest, err := registryClient(t, reg, nil).RemoteChecksum(context.Background(), img)
	if err != nil || digest == "" {
		t.Fatalf("the image was not pushed: %v", err)
	}
	in, _ := image.Collect(m)
	if sum != in.Checksum() {
		t.Fatalf("pushed checksum %s, want %s", sum, in.Checksum())
	}
	job := createdJob(t, tfJobs, ns)
	replicas, _, _ := unstructured.NestedMap(job.Object, "spec", "tfReplicaSpecs", "Worker")
	containers, _, _ := unstructured.NestedSlice(replicas, "template", "spec", "containers")
	if got := containers[0].(map[string]any)["image"]; got != reg.Host+"/kaptain/mnist@"+digest {
		t.Fatalf("the TFJob runs %v, want the pushed digest %s", got, digest)
	}
}

// secretNames lists the Secrets of a namespace.
func secretNames(t *testing.T, ns string) []string {
	t.Helper()
	return shared.kube().SecretNames(t, ns)
}
