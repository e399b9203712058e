// Package katib holds Katib v0.19.0's own judgement of what kubectl-kaptain renders: Katib's
// Experiment defaulting, its webhook's ValidateExperiment and its trial generator, run over
// every golden Experiment of pkg/workload. It is a module of its own, so that Katib never
// enters the plugin's dependencies; the plugin's goldens are its input, not its code.
package katib

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	configv1beta1 "github.com/kubeflow/katib/pkg/apis/config/v1beta1"
	commonv1beta1 "github.com/kubeflow/katib/pkg/apis/controller/common/v1beta1"
	experimentsv1beta1 "github.com/kubeflow/katib/pkg/apis/controller/experiments/v1beta1"
	"github.com/kubeflow/katib/pkg/controller.v1beta1/consts"
	"github.com/kubeflow/katib/pkg/controller.v1beta1/experiment/manifest"
	"github.com/kubeflow/katib/pkg/webhook/v1beta1/experiment/validator"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"
)

// katibClient holds what Katib's generator reads from the cluster: the katib-config
// ConfigMap, with the local Kubeflow's configuration. The client stands in for the API
// server only as the store of that one ConfigMap.
func katibClient(t *testing.T) client.Client {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "katib-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, configv1beta1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: consts.KatibConfigMapName, Namespace: consts.DefaultKatibNamespace},
		Data: map[string]string{consts.LabelKatibConfigTag: string(data)}}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(cm).Build()
}

// goldens reads every Experiment the plugin's golden tests render, decoded strictly into
// Katib's own type (a field Katib does not know is an error) and defaulted as Katib's
// mutating webhook does.
func goldens(t *testing.T) map[string]*experimentsv1beta1.Experiment {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "pkg", "workload", "testdata", "experiment-*.yaml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("the plugin's golden Experiments: %d files, %v", len(files), err)
	}
	out := map[string]*experimentsv1beta1.Experiment{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		exp := &experimentsv1beta1.Experiment{}
		if err := yaml.UnmarshalStrict(data, exp); err != nil {
			t.Errorf("%s: not a Katib Experiment: %v", f, err)
			continue
		}
		exp.Namespace = "team-a"
		exp.SetDefault()
		out[filepath.Base(f)] = exp
	}
	return out
}

func TestKatibAdmitsEveryExperimentThePluginRenders(t *testing.T) {
	v := validator.New(manifest.New(katibClient(t)))
	for name, exp := range goldens(t) {
		if errs := v.ValidateExperiment(exp, nil); len(errs) > 0 {
			t.Errorf("%s: Katib's webhook would refuse it: %v", name, errs.ToAggregate())
		}
	}
}

// TestKatibsValidatorRefusesWhatItShould shows the validator above judges for real: the same
// goldens, broken as the plugin must never render them, are refused.
func TestKatibsValidatorRefusesWhatItShould(t *testing.T) {
	v := validator.New(manifest.New(katibClient(t)))
	exp := goldens(t)["experiment-early-stopping.yaml"]
	for _, tc := range []struct {
		name   string
		change func(*experimentsv1beta1.Experiment)
		want   string
	}{
		{"a name over 40 characters", func(e *experimentsv1beta1.Experiment) { e.Name = strings.Repeat("a", 41) }, "metadata.name"},
		{"an early stopping algorithm Katib does not configure", func(e *experimentsv1beta1.Experiment) { e.Spec.EarlyStopping.AlgorithmName = "patience" }, "spec.earlyStopping.algorithmName"},
		{"a trial parameter the template does not use", func(e *experimentsv1beta1.Experiment) {
			e.Spec.TrialTemplate.TrialParameters = append(e.Spec.TrialTemplate.TrialParameters, experimentsv1beta1.TrialParameterSpec{Name: "unused", Reference: "lr2"})
		}, "spec.trialTemplate.trialParameters"},
	} {
		broken := exp.DeepCopy()
		tc.change(broken)
		errs := v.ValidateExperiment(broken, nil)
		if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%s: %v, want an error on %s", tc.name, errs.ToAggregate(), tc.want)
		}
	}
}

// TestTrialArgumentsReachTheTrainerThroughKatib makes each golden Experiment's trials with
// Katib's own generator, for every value of each categorical parameter (the goldens hold
// values with a space and a ;), then runs the primary container's command line as Katib's
// StdOut collector does: its words joined with spaces, the redirect to the metrics file
// appended, through sh -c. The trainer here prints the arguments it got.
func TestTrialArgumentsReachTheTrainerThroughKatib(t *testing.T) {
	g := manifest.New(katibClient(t))
	bin := t.TempDir()
	for _, trainer := range []string{"python", "torchrun", "mpirun"} {
		if err := os.WriteFile(filepath.Join(bin, trainer), []byte("#!/bin/sh\nprintf '%s\\0' \"$@\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, exp := range goldens(t) {
		for _, assignment := range assignments(exp) {
			run, err := g.GetRunSpecWithHyperParameters(exp, exp.Name+"-x7k2p9qd", exp.Namespace, assignment)
			if err != nil {
				t.Errorf("%s %v: Katib makes no trial: %v", name, assignment, err)
				continue
			}
			line := primaryLine(t, run, exp.Spec.TrialTemplate.PrimaryContainerName)
			if strings.Contains(line, "$") {
				t.Errorf("%s %v: the kubelet would expand $ in %q", name, assignment, line)
				continue
			}
			metrics := filepath.Join(t.TempDir(), "metrics.log")
			cmd := exec.Command("sh", "-c", line+" 1>"+metrics+" 2>&1 && echo completed >/dev/null")
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s %v: sh -c %q: %v %s", name, assignment, line, err, out)
				continue
			}
			printed, _ := os.ReadFile(metrics)
			args := strings.Split(strings.TrimSuffix(string(printed), "\x00"), "\x00")
			for _, a := range assignment {
				if !contains(args, "--"+a.Name+"="+a.Value) {
					t.Errorf("%s: the trainer got %q, want the argument --%s=%s", name, args, a.Name, a.Value)
				}
			}
		}
	}
}

// assignments are trials' parameter values: each categorical or discrete value in turn, and
// the bounds of the numeric parameters.
func assignments(exp *experimentsv1beta1.Experiment) [][]commonv1beta1.ParameterAssignment {
	longest := 1
	for _, p := range exp.Spec.Parameters {
		longest = max(longest, len(p.FeasibleSpace.List))
	}
	var out [][]commonv1beta1.ParameterAssignment
	for i := range longest {
		var trial []commonv1beta1.ParameterAssignment
		for _, p := range exp.Spec.Parameters {
			v := p.FeasibleSpace.Min
			if i%2 == 1 {
				v = p.FeasibleSpace.Max
			}
			if n := len(p.FeasibleSpace.List); n > 0 {
				v = p.FeasibleSpace.List[i%n]
			}
			trial = append(trial, commonv1beta1.ParameterAssignment{Name: p.Name, Value: v})
		}
		out = append(out, trial)
	}
	return out
}

// primaryLine is the command line Katib's StdOut collector runs for the trial's primary
// container: its command and arguments joined with spaces, less a leading sh -c.
func primaryLine(t *testing.T, run *unstructured.Unstructured, primary string) string {
	t.Helper()
	var words []string
	var visit func(any)
	visit = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["command"]; ok && (v["name"] == primary || v["name"] == nil) && words == nil {
				for _, field := range []string{"command", "args"} {
					list, _ := v[field].([]any)
					for _, w := range list {
						words = append(words, w.(string))
					}
				}
				return
			}
			for _, child := range v {
				visit(child)
			}
		case []any:
			for _, child := range v {
				visit(child)
			}
		}
	}
	visit(run.Object)
	if len(words) < 3 || words[0] != "sh" || words[1] != "-c" {
		t.Fatalf("%s: the primary container %s runs %q, not sh -c and a line", run.GetKind(), primary, words)
	}
	return strings.Join(words[2:], " ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
