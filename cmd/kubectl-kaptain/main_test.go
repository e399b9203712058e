package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kaptain-dev/kubectl-kaptain/internal/golden"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// unreachable is a kubeconfig whose server refuses connections: a command that succeeds
// with it did not need the network.
const unreachable = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: team-a}}]
current-context: c
`

type outcome struct {
	code           int
	stdout, stderr string
}

// kaptain runs the plugin in-process from dir with a kubeconfig that cannot be reached and
// a clean KAPTAIN_SDK_* and AWS_* environment.
func kaptain(t *testing.T, dir string, args ...string) outcome {
	t.Helper()
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); strings.HasPrefix(k, "KAPTAIN_SDK_") || strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
		}
	}
	return kaptainKeepEnv(t, dir, args...)
}

// noAWSFiles keeps the AWS SDK from the machine's ~/.aws (it reads HOME at start-up).
func noAWSFiles(t *testing.T, home string) {
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "no-credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "no-config"))
}

// fixedRevision makes rendered names and labels reproducible.
func init() { newRevision = func() string { return "6f1c2b3a-0000-4000-8000-000000000001" } }

func TestTrainClientDryRunGolden(t *testing.T) {
	for _, tc := range []struct {
		name, example string
		args          []string
	}{
		{"tensorflow-yaml", "mnist-tensorflow", []string{"-o", "yaml"}},
		{"pytorch-yaml", "mnist-pytorch", []string{"-o", "yaml", "--workers", "4", "--cpu-request", "1", "--memory-limit", "4Gi", "--gpu-limit", "1", "--ttl-seconds-after-finished", "3600"}},
		{"tensorflow-json", "mnist-tensorflow", []string{"-o", "json", "-p", "lr=0.2", "--arg", "data-dir=/data"}},
		{"tensorflow-name", "mnist-tensorflow", []string{"-n", "other"}},
		{"tensorflow-1-worker", "mnist-tensorflow", []string{"-o", "yaml", "--workers", "1"}},
		{"tensorflow-4-workers-gpu", "mnist-tensorflow", []string{"-o", "yaml", "--workers", "4", "--cpu", "2", "--memory", "8Gi", "--gpus", "1"}},
		{"pytorch-2-workers-cpu", "mnist-pytorch", []string{"-o", "yaml", "--workers", "2", "--cpu", "500m", "--memory", "1Gi"}},
		{"pytorch-deepspeed", "mnist-pytorch", []string{"-o", "yaml", "--workers", "3", "--runtime", "deepspeed-distributed"}},
		{"jax-yaml", "regression-jax", []string{"-o", "yaml", "--workers", "2"}},
		{"xgboost-yaml", "iris-xgboost", []string{"-o", "yaml", "--workers", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := filepath.Abs(filepath.Join("..", "..", "examples", tc.example))
			r := kaptain(t, dir, append([]string{"train", "--dry-run=client"}, tc.args...)...)
			// A pytorch model's client dry run says that the cluster may make a TrainJob.
			// A TrainJob's, that the runtime was not read.
			note := map[string]string{
				"mnist-pytorch": "note: a client dry run renders a PyTorchJob; where the cluster serves Kubeflow Trainer v2, train makes a TrainJob on torch-distributed instead: " +
					"render that with --training-api v2, or ask the cluster with --dry-run=server\n",
				"regression-jax": "note: a client dry run reads no runtime: it takes clustertrainingruntime jax-distributed to have the jax ML policy; " +
					"on the cluster, the runtime labelled trainer.kubeflow.org/framework=jax; --dry-run=server reads it\n",
				"iris-xgboost": "note: a client dry run reads no runtime: it takes clustertrainingruntime xgboost-distributed to have the xgboost ML policy; " +
					"on the cluster, the runtime labelled trainer.kubeflow.org/framework=xgboost; --dry-run=server reads it\n",
			}[tc.example]
			if tc.name == "pytorch-deepspeed" {
				note = "note: a client dry run reads no runtime: it takes clustertrainingruntime deepspeed-distributed to have the mpi ML policy, " +
					"and shows no TrainingRuntime derived from it (the cluster's runs the model's image on every node); --dry-run=server reads it\n"
			}
			if r.code != 0 || r.stderr != note {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			golden.Assert(t, filepath.Join(testdataDir(t), "train-"+tc.name+".golden"), []byte(r.stdout))
		})
	}
}

func testdataDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// Tests chdir into examples; golden files live beside this file.
	for !strings.HasSuffix(wd, filepath.Join("cmd", "kubectl-kaptain")) {
		wd = filepath.Join(wd, "..", "..", "cmd", "kubectl-kaptain")
		wd, _ = filepath.Abs(wd)
	}
	return filepath.Join(wd, "testdata")
}

func TestTrainTTLFromEnvironment(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join("..", "..", "examples", "mnist-tensorflow"))
	t.Setenv("KAPTAIN_SDK_TTL_SECONDS_AFTER_FINISHED", "120")
	r := kaptainKeepEnv(t, dir, "train", "--dry-run=client", "-o", "jsonpath={.spec.runPolicy.ttlSecondsAfterFinished}")
	if r.code != 0 || r.stdout != "120" {
		t.Errorf("exit %d, stdout %q, stderr %q; want the TTL from the variable", r.code, r.stdout, r.stderr)
	}
	r = kaptainKeepEnv(t, dir, "train", "--dry-run=client", "--ttl-seconds-after-finished", "5", "-o", "jsonpath={.spec.runPolicy.ttlSecondsAfterFinished}")
	if r.stdout != "5" {
		t.Errorf("stdout %q, want the flag to win over the variable", r.stdout)
	}
	t.Setenv("KAPTAIN_SDK_TTL_SECONDS_AFTER_FINISHED", "soon")
	r = kaptainKeepEnv(t, dir, "train", "--dry-run=client")
	if r.code != sdkerr.Usage.ExitCode() || !strings.Contains(r.stderr, "KAPTAIN_SDK_TTL_SECONDS_AFTER_FINISHED") {
		t.Errorf("exit %d, stderr %q; want a usage error naming the variable", r.code, r.stderr)
	}
}

// kaptainKeepEnv is kaptain without clearing the variables the test set.
func kaptainKeepEnv(t *testing.T, dir string, args ...string) outcome {
	t.Helper()
	home := t.TempDir()
	kc := filepath.Join(home, "config")
	if err := os.WriteFile(kc, []byte(unreachable), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kc)
	t.Setenv("HOME", home)
	noAWSFiles(t, home)
	if dir != "" {
		t.Chdir(dir)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return outcome{code: code, stdout: out.String(), stderr: errOut.String()}
}

func TestErrorsAndExitCodes(t *testing.T) {
	example, _ := filepath.Abs(filepath.Join("..", "..", "examples", "mnist-tensorflow"))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"train", "--wrokers", "2"}, 2, "unknown flag: --wrokers"},
		{"unknown command", []string{"trian"}, 1, `unknown command "trian"`},
		{"zero workers", []string{"train", "--dry-run=client", "--workers", "0"}, 2, "--workers must be 1 or more"},
		{"mixed resources", []string{"train", "--dry-run=client", "--cpu", "1", "--memory-limit", "2Gi"}, 2, "cannot be combined"},
		{"bad quantity", []string{"train", "--dry-run=client", "--memory", "lots"}, 2, `--memory "lots" is not a resource quantity`},
		{"bad hyperparameter", []string{"train", "--dry-run=client", "-p", "lr"}, 2, `--hyperparameter "lr": expected name=value`},
		{"arg clashes with hyperparameter", []string{"train", "--dry-run=client", "--arg", "lr=1"}, 2, "--arg lr is also a hyperparameter"},
		{"bad dry-run", []string{"train", "--dry-run=maybe"}, 2, "Invalid dry-run value"},
		{"bad output", []string{"train", "--dry-run=client", "-o", "toml"}, 2, "unable to match a printer"},
		{"missing patch", []string{"train", "--dry-run=client", "--patch", "nope.yaml"}, 2, "reading patch nope.yaml"},
		{"missing model", []string{"train", "-f", "absent.yaml"}, 4, "absent.yaml not found"},
		{"completion without shell", []string{"completion"}, 2, "completion needs one shell"},
		{"version bad output", []string{"version", "-o", "xml"}, 2, `--output "xml" is not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kaptain(t, example, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d; stderr %q", r.code, tc.code, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "error: ") != 1 {
				t.Errorf("stderr = %q, want one 'error: ...' line containing %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing on failure", r.stdout)
			}
		})
	}
}

func TestDebugAddsTheCauseChain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KAPTAIN_SDK_DEBUG", "yes")
	r := kaptainKeepEnv(t, dir, "train", "-f", "absent.yaml")
	if r.code != sdkerr.UndefinedModelProperty.ExitCode() || !strings.Contains(r.stderr, "class: UndefinedModelProperty (exit code 4)") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestServerDryRunNeedsTheServer(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join("..", "..", "examples", "mnist-tensorflow"))
	r := kaptain(t, dir, "train", "--dry-run=server", "--request-timeout", "2s")
	if r.code != sdkerr.Unknown.ExitCode() || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("exit %d, stderr %q: want a connection error naming the server", r.code, r.stderr)
	}
}

func TestInit(t *testing.T) {
	dir := t.TempDir()
	r := kaptain(t, dir, "init", "--id", "prod/churn", "--framework", "pytorch")
	if r.code != 0 {
		t.Fatalf("init: exit %d, %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, "kaptain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id: "prod/churn"`, "framework: pytorch", `image: "registry.example.com/kaptain/prod-churn-`, "# Unique id"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("kaptain.yaml lacks %q:\n%s", want, data)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "trainer.py"), []byte("print('accuracy=1')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := kaptain(t, dir, "train", "--dry-run=client", "-o", "name"); r.code != 0 || !strings.HasPrefix(r.stdout, "pytorchjob.kubeflow.org/prod-churn-") {
		t.Errorf("train on the written file: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = kaptain(t, dir, "init")
	if r.code != sdkerr.Usage.ExitCode() || !strings.Contains(r.stderr, "kaptain.yaml already exists; pass --force") {
		t.Errorf("second init: exit %d, stderr %q", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "kaptain.yaml")); !bytes.Equal(after, data) {
		t.Error("a refused init changed the file")
	}
	if r := kaptain(t, dir, "init", "--force", "--id", "dev/other"); r.code != 0 {
		t.Errorf("init --force: exit %d, %s", r.code, r.stderr)
	}
	if r := kaptain(t, dir, "init", "-f", "x.yaml", "--framework", "keras"); r.code != sdkerr.Usage.ExitCode() || !strings.Contains(r.stderr, `--framework "keras"`) {
		t.Errorf("bad framework: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	version, commit = "v1.2.3", "abc1234"
	r := kaptain(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "kubectl-kaptain v1.2.3 (commit abc1234") {
		t.Errorf("version: %q", r.stdout)
	}
	if r := kaptain(t, "", "version", "-o", "short"); r.stdout != "v1.2.3\n" {
		t.Errorf("version -o short: %q", r.stdout)
	}
	if r := kaptain(t, "", "version", "-o", "json"); !strings.Contains(r.stdout, `"version": "v1.2.3"`) {
		t.Errorf("version -o json: %q", r.stdout)
	}
	for _, args := range [][]string{{"--help"}, {"train", "--help"}, {"init", "--help"}} {
		r := kaptain(t, "", args...)
		if r.code != 0 || strings.Contains(r.stdout, "Use \"kaptain ") || !strings.Contains(r.stdout, "kubectl kaptain") {
			t.Errorf("%v: help must read 'kubectl kaptain ...':\n%s", args, r.stdout)
		}
	}
	r = kaptain(t, "", "train", "--help")
	for _, want := range []string{"Usage:\n  kubectl kaptain train", "--dry-run=", "--hyperparameter", "Examples:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("train --help lacks %q", want)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if r := kaptain(t, "", "completion", shell); r.code != 0 || len(r.stdout) < 100 {
			t.Errorf("completion %s: exit %d, %d bytes", shell, r.code, len(r.stdout))
		}
	}
}

func TestLogTimeFormatShapesProgressLines(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KAPTAIN_SDK_LOG_TIMEFORMAT", "[%Y]")
	r := kaptainKeepEnv(t, dir, "init")
	if r.code != 0 || !strings.HasPrefix(r.stderr, "[2") || !strings.Contains(r.stderr, "] wrote kaptain.yaml") {
		t.Errorf("exit %d, stderr %q: want a progress line prefixed with the year", r.code, r.stderr)
	}
	t.Setenv("KAPTAIN_SDK_LOG_TIMEFORMAT", "%Q")
	r = kaptainKeepEnv(t, dir, "version")
	if r.code != sdkerr.Usage.ExitCode() || !strings.Contains(r.stderr, "KAPTAIN_SDK_LOG_TIMEFORMAT") || r.stdout != "" {
		t.Errorf("exit %d, stderr %q: a malformed variable must fail every command, naming it", r.code, r.stderr)
	}
}

func TestTrainWithS3CredentialsRendersARedactedSecret(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join("..", "..", "examples", "mnist-tensorflow"))
	t.Setenv("AWS_ACCESS_KEY_ID", "minio")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "minio-secret-key")
	r := kaptainKeepEnv(t, dir, "train", "--dry-run=client", "-o", "yaml")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "minio-secret-key") || strings.Contains(r.stdout, "bWluaW8tc2VjcmV0LWtleQ") {
		t.Fatal("the secret key reached stdout")
	}
	golden.Assert(t, filepath.Join(testdataDir(t), "train-tensorflow-with-storage.golden"), []byte(r.stdout))
	r = kaptainKeepEnv(t, dir, "train", "--dry-run=client", "-o", "yaml", "--show-secrets")
	if !strings.Contains(r.stdout, "bWluaW8tc2VjcmV0LWtleQ==") {
		t.Errorf("--show-secrets does not show the key:\n%s", r.stdout)
	}
}

// A client dry run contacts nothing: credentials that a provider would fetch (here
// credential_process) are not fetched, yet the Secret that will carry them is shown.
func TestClientDryRunRunsNoCredentialProcess(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join("..", "..", "examples", "mnist-tensorflow"))
	for _, args := range [][]string{
		{"train", "--dry-run=client", "-o", "yaml"},
		{"tune", "--dry-run=client", "-o", "yaml", "--objective", "accuracy", "--param", "lr=double:0.001:0.1"},
		{"deploy", "--dry-run=client", "-o", "yaml", "--model-uri", "s3://kaptain/m/1"},
	} {
		t.Run(args[0], func(t *testing.T) {
			home := t.TempDir()
			marker := filepath.Join(home, "credential-process-ran")
			script := filepath.Join(home, "creds.sh")
			body := "#!/bin/sh\ntouch " + marker + "\necho '{\"Version\":1,\"AccessKeyId\":\"ASIAPROC\",\"SecretAccessKey\":\"proc-secret\",\"SessionToken\":\"proc-token\"}'\n"
			awsConfig := filepath.Join(home, "aws-config")
			kc := filepath.Join(home, "kubeconfig")
			for name, text := range map[string]string{script: body, awsConfig: "[default]\ncredential_process = " + script + "\n", kc: unreachable} {
				if err := os.WriteFile(name, []byte(text), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			for _, e := range os.Environ() {
				if k, _, _ := strings.Cut(e, "="); strings.HasPrefix(k, "KAPTAIN_SDK_") || strings.HasPrefix(k, "AWS_") {
					t.Setenv(k, "")
				}
			}
			t.Setenv("HOME", home)
			t.Setenv("KUBECONFIG", kc)
			t.Setenv("AWS_CONFIG_FILE", awsConfig)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "no-credentials"))
			t.Chdir(dir)
			var out, errOut bytes.Buffer
			code := run(context.Background(), args, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			if _, err := os.Stat(marker); !os.IsNotExist(err) {
				t.Errorf("the client dry run ran credential_process (stat: %v)", err)
			}
			if !strings.Contains(out.String(), "kind: Secret") || !strings.Contains(out.String(), "kaptain.dev/redacted") {
				t.Errorf("no redacted storage Secret in the output:\n%s", out.String())
			}
		})
	}
}

// A train --build's patches are train's: the nested build renders its Job without them,
// and its objects print in the same YAML stream, ahead of the workload.
func TestTrainPatchesStayOutOfTheNestedBuild(t *testing.T) {
	home := t.TempDir()
	noAWSFiles(t, home)
	t.Setenv("HOME", home)
	dir := t.TempDir()
	src, _ := filepath.Abs(filepath.Join("..", "..", "examples", "mnist-tensorflow"))
	for _, f := range []string{"kaptain.yaml", "trainer.py", "requirements.txt"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	patch := "apiVersion: kubeflow.org/v1\nkind: TFJob\nspec:\n  tfReplicaSpecs:\n    Worker:\n      template:\n        spec:\n          tolerations: [{key: gpu, operator: Exists}]\n"
	if err := os.WriteFile(filepath.Join(dir, "tol.yaml"), []byte(patch), 0o644); err != nil {
		t.Fatal(err)
	}
	r := kaptain(t, dir, "train", "--build", "--builder", "cluster", "--patch", "tol.yaml", "--dry-run=client", "-o", "yaml")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	docs := strings.Split(r.stdout, "\n---\n")
	var kinds []string
	for _, doc := range docs {
		kind := ""
		for _, line := range strings.Split(doc, "\n") {
			if k, ok := strings.CutPrefix(line, "kind: "); ok {
				kind = k
			}
		}
		kinds = append(kinds, kind)
		tolerated := strings.Contains(doc, "tolerations:")
		if tolerated != (kind == "TFJob") {
			t.Errorf("%s: tolerations %v, want them on the TFJob only:\n%s", kind, tolerated, doc)
		}
	}
	if got := strings.Join(kinds, ","); got != "Secret,Job,TFJob" {
		t.Errorf("printed kinds %s, want Secret,Job,TFJob (one YAML stream)", got)
	}
}

func TestLongModelIDsMakeJobsWhoseReplicasFitADNSLabel(t *testing.T) {
	home := t.TempDir()
	noAWSFiles(t, home)
	t.Setenv("HOME", home)
	dir := t.TempDir()
	src, _ := filepath.Abs(filepath.Join("..", "..", "examples", "mnist-tensorflow"))
	data, err := os.ReadFile(filepath.Join(src, "kaptain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Replace(string(data), "id: dev/mnist-tensorflow", "id: research-vision-team/handwritten-digit-recognition-mnist", 1)
	if err := os.WriteFile(filepath.Join(dir, "kaptain.yaml"), []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"trainer.py", "requirements.txt"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args []string
		// suffix is what names a replica's pod and Service after the job's name.
		suffix string
	}{
		{[]string{"train", "--workers", "12"}, "-worker-11"},
		// Katib names each trial <experiment>-<8 characters>.
		{[]string{"tune", "--workers", "12", "--training-api", "v1", "--objective", "accuracy", "--param", "lr=double:0.001:0.1"}, "-12345678-worker-11"},
	} {
		r := kaptain(t, dir, append(tc.args, "--dry-run=client", "-o", "name")...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, r.code, r.stderr)
		}
		for _, line := range strings.Fields(r.stdout) {
			if strings.HasPrefix(line, "secret/") {
				continue
			}
			kind, name, _ := strings.Cut(line, "/")
			if n := len(name + tc.suffix); n > 63 {
				t.Errorf("%v: %s makes replicas named %s%s, %d characters: more than a DNS label", tc.args, line, name, tc.suffix, n)
			}
			// Katib's webhook refuses longer Experiment names.
			if strings.HasPrefix(kind, "experiment") && len(name) > 40 {
				t.Errorf("%v: %s is %d characters; Katib admits at most 40", tc.args, line, len(name))
			}
		}
	}
}
