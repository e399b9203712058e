package plugin

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest/fake"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	"k8s.io/kubectl/pkg/scheme"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// harness runs commands in-process against kubectl's test factory: its dynamic client is
// a fake that records every request, and its server (localhost:8080) does not answer.
type harness struct {
	tf          *cmdtesting.TestFactory
	requests    *[]string
	deps        *Deps
	out, errOut *bytes.Buffer
	dir         string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	tf := cmdtesting.NewTestFactory().WithNamespace("test")
	t.Cleanup(tf.Cleanup)
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	var requests []string
	tf.Client = &fake.RESTClient{
		NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
		Client: fake.CreateHTTPClient(func(req *http.Request) (*http.Response, error) {
			requests = append(requests, req.Method+" "+req.URL.Path)
			return nil, errors.New("no cluster in this test")
		}),
	}
	h := &harness{tf: tf, requests: &requests, out: out, errOut: errOut, dir: t.TempDir()}
	h.deps = &Deps{
		Streams: streams, ConfigFlags: genericclioptions.NewConfigFlags(true), Factory: tf,
		Env:         config.Env{Lookup: func(string) (string, bool) { return "", false }},
		NewRevision: func() string { return "6f1c2b3a-0000-4000-8000-000000000001" },
	}
	// The example model, with and without requirements.
	src := filepath.Join("..", "..", "examples", "mnist-tensorflow")
	for _, f := range []string{"kaptain.yaml", "trainer.py", "requirements.txt"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(h.dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(filepath.Join(h.dir, "kaptain.yaml"))
	noReqs := strings.ReplaceAll(string(data), "requirements: requirements.txt", "")
	if err := os.WriteFile(filepath.Join(h.dir, "no-requirements.yaml"), []byte(noReqs), 0o644); err != nil {
		t.Fatal(err)
	}
	pytorch := strings.ReplaceAll(noReqs, "framework: tensorflow", "framework: pytorch")
	if err := os.WriteFile(filepath.Join(h.dir, "pytorch.yaml"), []byte(pytorch), 0o644); err != nil {
		t.Fatal(err)
	}
	sklearn := strings.ReplaceAll(string(data), "framework: tensorflow", "framework: sklearn")
	if err := os.WriteFile(filepath.Join(h.dir, "sklearn.yaml"), []byte(sklearn), 0o644); err != nil {
		t.Fatal(err)
	}
	standard := strings.Replace(string(data), "    protocolVersion: v1\n", "    protocolVersion: v1\n    deploymentMode: Standard\n", 1)
	if err := os.WriteFile(filepath.Join(h.dir, "standard.yaml"), []byte(standard), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", h.dir)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(h.dir, "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(h.dir, "none"))
	return h
}

// run executes kubectl kaptain args from the model's directory.
func (h *harness) run(t *testing.T, args ...string) error {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(h.dir); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Chdir(wd) }()
	root := NewCmdKaptain(h.deps)
	root.SetArgs(args)
	return root.ExecuteContext(context.Background())
}

// TestCommandsRefuseBadInput checks each command's Complete and Validate: bad input is an
// error of the documented class that names the flag or argument, and reaches no cluster.
func TestCommandsRefuseBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		class sdkerr.Class
		want  string
	}{
		{"train workers", []string{"train", "--dry-run=client", "--workers", "0"}, sdkerr.Usage, "--workers must be 1 or more"},
		{"train workers beyond int32", []string{"train", "--dry-run=client", "--workers", "2147483648"}, sdkerr.Usage, "--workers must be at most 2147483647"},
		{"train timeout", []string{"train", "--dry-run=client", "--timeout", "0s"}, sdkerr.Usage, "--timeout must be positive"},
		{"train node selector", []string{"train", "--dry-run=client", "--node-selector", "pool"}, sdkerr.Usage, `--node-selector "pool": expected key=value`},
		{"tune toleration effect", []string{"tune", "--dry-run=client", "--objective", "accuracy", "--param", "lr=double:0.1:1", "--toleration", "gpu:Never"}, sdkerr.Usage, `--toleration "gpu:Never": the effect "Never" is none of`},
		{"deploy node selector value", []string{"deploy", "--dry-run=client", "--model-uri", "s3://kaptain/m", "--node-selector", "pool=a b"}, sdkerr.Usage, `"a b" is not a label value`},
		{"train local placement", []string{"train", "--local", "--toleration", "gpu"}, sdkerr.Usage, "--toleration has no meaning with --local"},
		{"train backoff", []string{"train", "--dry-run=client", "--backoff-limit", "-1"}, sdkerr.Usage, "--backoff-limit must be 0 or more"},
		{"train arg clash", []string{"train", "--dry-run=client", "-p", "lr=1", "--arg", "lr=2"}, sdkerr.Usage, "--arg lr is also a hyperparameter"},
		{"train build flag without --build", []string{"train", "--dry-run=client", "--builder", "local"}, sdkerr.Usage, "--builder only applies with --build"},
		{"train unknown builder", []string{"train", "--dry-run=client", "--build", "--builder", "docker"}, sdkerr.Usage, `--builder "docker" is not supported`},
		{"train local builder with requirements", []string{"train", "--dry-run=client", "--build", "--builder", "local"}, sdkerr.Usage, "--builder local cannot pip install"},
		{"train bad hyperparameter", []string{"train", "--dry-run=client", "-p", "lr"}, sdkerr.Usage, "--hyperparameter"},
		{"train NaN hyperparameter", []string{"train", "--dry-run=client", "-p", "lr=NaN"}, sdkerr.Usage, `--hyperparameter lr="NaN" reads as a number that is not finite`},
		{"train infinite hyperparameter", []string{"train", "--dry-run=client", "-p", "lr=+Inf"}, sdkerr.Usage, `--hyperparameter lr="+Inf" reads as a number that is not finite`},
		{"train missing patch", []string{"train", "--dry-run=client", "--patch", "nope.yaml"}, sdkerr.Usage, "--patch"},
		{"train untrainable framework", []string{"train", "--dry-run=client", "-f", "sklearn.yaml"}, sdkerr.ModelValidation, "cannot be trained"},
		{"train bad dry run", []string{"train", "--dry-run=maybe"}, sdkerr.Usage, "--dry-run"},
		{"train bad training api", []string{"train", "--dry-run=client", "--training-api", "v3"}, sdkerr.Usage, `--training-api "v3" is not a training API; use v1 (TFJob, PyTorchJob) or v2 (TrainJob)`},
		{"train bad runtime", []string{"train", "--dry-run=client", "--training-api", "v2", "--runtime", "job/x"}, sdkerr.Usage, "--runtime \"job/x\": the kind before / must be"},
		{"train runtime on v1", []string{"train", "--dry-run=client", "--training-api", "v1", "--runtime", "x"}, sdkerr.Usage, "it needs --training-api v2"},
		{"train tensorflow on trainer v2", []string{"train", "--dry-run=client", "--training-api", "v2"}, sdkerr.Usage, "Kubeflow Trainer v2 has no TensorFlow runtime"},
		{"train bad queue", []string{"train", "--dry-run=client", "--queue", "Team A"}, sdkerr.Usage, `--queue "Team A" is not a LocalQueue name`},
		{"train backoff on a trainjob", []string{"train", "--dry-run=client", "-f", "pytorch.yaml", "--training-api", "v2", "--backoff-limit", "1"}, sdkerr.Usage, "a TrainJob has none"},
		{"tune tensorflow on trainer v2", []string{"tune", "--dry-run=client", "--objective", "accuracy", "--param", "lr=double:0.1:0.2", "--training-api", "v2"}, sdkerr.Usage, "Kubeflow Trainer v2 has no TensorFlow runtime"},
		{"train bad output", []string{"train", "--dry-run=client", "-o", "xml"}, sdkerr.Usage, "--output"},
		{"tune no objective", []string{"tune", "--dry-run=client", "--param", "lr=double:0.1:0.2"}, sdkerr.Usage, "tune needs --objective"},
		{"tune objective type", []string{"tune", "--dry-run=client", "--objective", "acc", "--objective-type", "best", "--param", "lr=double:0.1:0.2"}, sdkerr.Usage, "--objective-type"},
		{"tune bad domain", []string{"tune", "--dry-run=client", "--objective", "acc", "--param", "lr=float:1:2"}, sdkerr.Usage, "lr"},
		{"tune parameter twice", []string{"tune", "--dry-run=client", "--objective", "acc", "--param", "lr=double:0.1:0.2", "--param", "lr=double:0.1:0.3"}, sdkerr.Usage, "--param lr is given twice"},
		{"tune timeout", []string{"tune", "--dry-run=client", "--objective", "acc", "--param", "lr=double:0.1:0.2", "--timeout", "0s"}, sdkerr.Usage, "--timeout must be positive"},
		{"build platform", []string{"build", "--dry-run=client", "--platform", "amd64"}, sdkerr.Usage, "--platform"},
		{"build timeout", []string{"build", "--dry-run=client", "--build-timeout", "0s"}, sdkerr.Usage, "--build-timeout must be positive"},
		{"build local with requirements", []string{"build", "--dry-run=client", "--builder", "local"}, sdkerr.Usage, "--builder local cannot pip install"},
		{"deploy canary range", []string{"deploy", "--dry-run=client", "--model-uri", "s3://b/m", "--canary-traffic-percent", "100"}, sdkerr.Usage, "--canary-traffic-percent must be between 1 and 99"},
		{"deploy canary and replace", []string{"deploy", "--dry-run=client", "--model-uri", "s3://b/m", "--canary-traffic-percent", "10", "--replace"}, sdkerr.Usage, "cannot be combined"},
		{"deploy Standard-mode canary offline", []string{"deploy", "-f", "standard.yaml", "--dry-run=client", "--model-uri", "s3://b/m", "--canary-traffic-percent", "10"}, sdkerr.Usage, "--dry-run=client cannot show a Standard-mode canary"},
		{"deploy client dry run needs a URI", []string{"deploy", "--dry-run=client"}, sdkerr.Usage, "--dry-run=client needs --model-uri"},
		{"deploy autoscale", []string{"deploy", "--dry-run=client", "--model-uri", "s3://b/m", "--autoscale", "0"}, sdkerr.Usage, "--autoscale must be 1 or more"},
		{"promote client dry run", []string{"promote", "--dry-run=client"}, sdkerr.Usage, "promote reads the deployment from the cluster"},
		{"rollback client dry run", []string{"rollback", "--dry-run=client"}, sdkerr.Usage, "roll back reads the deployment from the cluster"},
		{"undeploy client dry run", []string{"undeploy", "--dry-run=client"}, sdkerr.Usage, "undeploy reads the deployment from the cluster"},
		{"get without kind", []string{"get"}, sdkerr.Usage, "get needs jobs"},
		{"get pods", []string{"get", "pods"}, sdkerr.Usage, `"pods" is not one of`},
		{"describe without name", []string{"describe", "job"}, sdkerr.Usage, "describe needs"},
		{"describe unknown kind", []string{"describe", "pod", "x"}, sdkerr.Usage, `"pod" is not one of`},
		{"logs without job", []string{"logs"}, sdkerr.Usage, "logs needs the name of one training job"},
		{"logs kind", []string{"logs", "j", "--kind", "mpijob"}, sdkerr.Usage, "--kind"},
		{"logs tail", []string{"logs", "j", "--tail", "-2"}, sdkerr.Usage, "--tail"},
		{"delete force without all", []string{"delete", "job", "j", "--force"}, sdkerr.Usage, "--force only applies with --all"},
		{"delete without name", []string{"delete", "job"}, sdkerr.Usage, "delete needs"},
		{"delete all with name", []string{"delete", "jobs", "j", "--all"}, sdkerr.Usage, "delete --all takes"},
		{"delete kind", []string{"delete", "job", "j", "--kind", "mpijob"}, sdkerr.Usage, "--kind"},
		{"diagnose output", []string{"diagnose", "-o", "yaml"}, sdkerr.Usage, "--output"},
		{"init framework", []string{"init", "-f", "new.yaml", "--framework", "caffe"}, sdkerr.Usage, "--framework"},
		{"init id", []string{"init", "-f", "new.yaml", "--id", " "}, sdkerr.Usage, "--id"},
		{"init existing file", []string{"init"}, sdkerr.Usage, "exists"},
		{"version output", []string{"version", "-o", "yaml"}, sdkerr.Usage, "--output"},
		{"completion without shell", []string{"completion"}, sdkerr.Usage, "completion needs one shell"},
		{"completion shell", []string{"completion", "tcsh"}, sdkerr.Usage, `shell "tcsh" is not supported`},
		{"model meta output", []string{"model", "meta", "-o", "xml"}, sdkerr.Usage, "--output"},
		{"model history output", []string{"model", "history", "-o", "xml"}, sdkerr.Usage, "--output"},
		{"model log-data arguments", []string{"model", "log-data", "mnist"}, sdkerr.Usage, "log-data needs a NAME and a URI"},
		{"model log-metrics type", []string{"model", "log-metrics", "--type", "accuracy", "a=1"}, sdkerr.UnsupportedMetricsType, "--type"},
		{"model log-metrics value", []string{"model", "log-metrics", "--type", "testing", "a=high"}, sdkerr.Usage, `metric a="high" is not a number`},
		{"model log-metrics NaN", []string{"model", "log-metrics", "--type", "testing", "a=NaN"}, sdkerr.Usage, `metric a="NaN" is not a finite number`},
		{"model log-metrics none", []string{"model", "log-metrics", "--type", "testing"}, sdkerr.Usage, "at least one NAME=VALUE"},
		{"unknown flag", []string{"train", "--wokers", "2"}, sdkerr.Usage, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			err := h.run(t, tc.args...)
			if err == nil || sdkerr.ClassOf(err) != tc.class || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: error %v (class %s), want class %s with %q", tc.args, err, sdkerr.ClassOf(err), tc.class, tc.want)
			}
			if actions := h.tf.FakeDynamicClient.Actions(); len(actions) > 0 || len(*h.requests) > 0 {
				t.Errorf("%v reached the cluster: %v %v", tc.args, actions, *h.requests)
			}
			if h.out.Len() > 0 {
				t.Errorf("%v printed on stdout:\n%s", tc.args, h.out.String())
			}
		})
	}
}

// TestCommandsCompleteOffline checks commands whose client dry run completes and runs without
// a cluster, and what they print.
func TestCommandsCompleteOffline(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"train", []string{"train", "--dry-run=client", "-o", "name"}, []string{"tfjob.kubeflow.org/"}},
		{"train names", []string{"train", "--dry-run=client"}, []string{" created (dry run)"}},
		{"train trainjob", []string{"train", "--dry-run=client", "-f", "pytorch.yaml", "--training-api", "v2", "--queue", "team-a", "-o", "yaml"},
			[]string{"kind: TrainJob", "kueue.x-k8s.io/queue-name: team-a", "runtimeRef:\n    name: torch-distributed", "command:\n    - torchrun\n    - trainer.py"}},
		{"tune trainjob trials", []string{"tune", "--dry-run=client", "-f", "pytorch.yaml", "--training-api", "v2", "--objective", "accuracy", "--param", "lr=double:0.1:0.2", "-o", "yaml"},
			[]string{"kind: Experiment", "primaryContainerName: node", `successCondition: status.conditions.#(type=="Complete")#|#(status=="True")#`, "kind: TrainJob"}},
		{"train tensorflow on a runtime of its own", []string{"train", "--dry-run=client", "--training-api", "v2", "--runtime", "trainingruntime/my-tf", "-o", "yaml"},
			[]string{"kind: TrainJob", "kind: TrainingRuntime\n    name: my-tf"}},
		{"tune", []string{"tune", "--dry-run=client", "--objective", "accuracy", "--param", "lr=double:0.1:0.2", "-o", "name"}, []string{"experiment.kubeflow.org/"}},
		{"train placed", []string{"train", "--dry-run=client", "--node-selector", "pool=gpu", "--toleration", "nvidia.com/gpu:NoSchedule", "-o", "yaml"},
			[]string{"nodeSelector:\n            pool: gpu\n          tolerations:\n          - effect: NoSchedule\n            key: nvidia.com/gpu\n            operator: Exists"}},
		{"tune trials placed", []string{"tune", "--dry-run=client", "-f", "pytorch.yaml", "--training-api", "v2", "--objective", "accuracy", "--param", "lr=double:0.1:0.2",
			"--node-selector", "pool=gpu", "--toleration", "nvidia.com/gpu:NoSchedule", "-o", "yaml"},
			[]string{"kind: TrainJob", "nodeSelector:\n                            pool: gpu\n                          tolerations:\n                          - effect: NoSchedule\n                            key: nvidia.com/gpu"}},
		{"deploy placed", []string{"deploy", "--dry-run=client", "--model-uri", "s3://kaptain/m/1", "--node-selector", "pool=gpu", "--toleration", "dedicated=ml", "-o", "yaml"},
			[]string{"    nodeSelector:\n      pool: gpu\n", "    tolerations:\n    - key: dedicated\n      operator: Equal\n      value: ml\n"}},
		{"build", []string{"build", "--dry-run=client", "-o", "name"}, []string{"secret/", "job.batch/"}},
		{"deploy", []string{"deploy", "--dry-run=client", "--model-uri", "s3://kaptain/m/1", "-o", "name"}, []string{"inferenceservice.serving.kserve.io/"}},
		{"deploy canary", []string{"deploy", "--dry-run=client", "--model-uri", "s3://kaptain/m/2", "--canary-traffic-percent", "30", "-o", "yaml"}, []string{"canaryTrafficPercent: 30"}},
		{"version", []string{"version", "-o", "short"}, []string{"v1.2.3\n"}},
		{"completion", []string{"completion", "bash"}, []string{"complete -o default -F __start_kaptain kaptain"}},
		{"init", []string{"init", "-f", "new.yaml", "--framework", "pytorch"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.deps.Build.Version = "v1.2.3"
			if err := h.run(t, tc.args...); err != nil {
				t.Fatalf("%v: %v\n%s", tc.args, err, h.errOut.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(h.out.String(), want) {
					t.Errorf("%v printed %.300q, want %q in it", tc.args, h.out.String(), want)
				}
			}
			if actions := h.tf.FakeDynamicClient.Actions(); len(actions) > 0 || len(*h.requests) > 0 {
				t.Errorf("%v reached the cluster: %v %v", tc.args, actions, *h.requests)
			}
		})
	}
}
