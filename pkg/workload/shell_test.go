package workload

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// note is a fixed argument beside the searched one: a shell and the kubelet would each
// change it if it were not escaped.
const note = "--note=it's \"fixed\"; $(touch pwned) $(AWS_SECRET_ACCESS_KEY) $$ $"

// throughKatib does to a trial's command line what Katib and the kubelet do: Katib
// substitutes the value for ${trialParameters.opt} as raw text in the trial's JSON, the
// kubelet expands $(VAR) references from the container's environment, then Katib's StdOut
// collector appends the redirect and runs the line with sh -c. The trainer here is printf,
// which prints each argument it gets, NUL-terminated.
func throughKatib(t *testing.T, value string) ([]string, error) {
	t.Helper()
	_, args := Train{Shell: true}.commandLine([]string{"printf", `%s\0`, "--lr=0.1"}, "")
	line := args[0] + " " + KubeLiteral(ShellLine([]string{"--opt=${trialParameters.opt}", note}))
	spec, _ := json.Marshal(map[string]any{"args": []string{line}})
	var trial struct{ Args []string }
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(spec), "${trialParameters.opt}", value)), &trial); err != nil {
		return nil, err
	}
	expanded := kubeletExpand(trial.Args[0], map[string]string{"AWS_SECRET_ACCESS_KEY": "s3cr3t"})
	dir := t.TempDir()
	out, err := exec.Command("sh", "-c", expanded+" 1>"+dir+"/metrics.log 2>&1 && cat "+dir+"/metrics.log").Output()
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"), nil
}

func TestTrialValuesReachTheTrainerAsGiven(t *testing.T) {
	for _, v := range []string{"adam", "a b", "x;touch /tmp/pwned", "`id`", "a|b&c", "*", "~", "-1e-5", ""} {
		got, err := throughKatib(t, v)
		want := []string{"--lr=0.1", "--opt=" + v, note}
		if err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("value %q: the trainer got %q (%v), want %q", v, got, err, want)
		}
	}
}

func TestSearchRefusesValuesAShellOrKatibWouldChange(t *testing.T) {
	for _, v := range []string{"it's", `say "hi"`, `a\b`, "two\nlines", "tab\there", "$(AWS_SECRET_ACCESS_KEY)", "$(id)", "${HOME}"} {
		s := Search{Algorithm: "random", Trials: 1, ParallelTrials: 1, Params: []Param{{Name: "opt", Type: ParamCategorical, List: []string{"ok", v}}}}
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "parameter opt: value") {
			t.Errorf("value %q: %v, want a refusal", v, err)
		}
	}
}

// FuzzTrialValue: a value Validate accepts reaches the trainer exactly as given.
func FuzzTrialValue(f *testing.F) {
	for _, v := range []string{"adam", "a b", "x;touch /tmp/pwned", "$(id)", "it's", `"`, `\`} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsRune(v, 0) || strings.Contains(v, "${") || strings.Contains(v, ",") {
			return // no NUL in argv; a placeholder or a list separator is not one value
		}
		s := Search{Algorithm: "random", Trials: 1, ParallelTrials: 1, Params: []Param{{Name: "opt", Type: ParamCategorical, List: []string{v}}}}
		if s.Validate() != nil {
			return
		}
		got, err := throughKatib(t, v)
		if err != nil || len(got) != 3 || got[1] != "--opt="+v {
			t.Fatalf("value %q: the trainer got %q (%v)", v, got, err)
		}
	})
}

// kubeletExpand is the kubelet's expansion of a container's command, args and env values, as
// Kubernetes documents it: $(VAR) becomes VAR's value when the container has it (else stays),
// $$ becomes $, and any other $ stays.
func kubeletExpand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func TestValuesReachTheTrainerPastTheKubelet(t *testing.T) {
	env := map[string]string{"AWS_SECRET_ACCESS_KEY": "s3cr3t", "HOME": "/root"}
	for _, v := range []string{"$(AWS_SECRET_ACCESS_KEY)", "$$(HOME)", "a$b", "$", "$$", "cost=$5", "${trialParameters.x}"} {
		job, _, err := TFJob().Build(&model.Model{Spec: model.Spec{ID: "dev/$(HOME)", Framework: "tensorflow", Image: "m:1"}}, Train{Name: "j", Workers: 1, Hyperparameters: map[string]any{"x": v}})
		if err != nil {
			t.Fatal(err)
		}
		c, _, _ := unstructured.NestedSlice(job.Object, "spec", "tfReplicaSpecs", "Worker", "template", "spec", "containers")
		container := c[0].(map[string]any)
		args, _ := container["args"].([]any)
		if got := kubeletExpand(args[0].(string), env); got != "--x="+v && !strings.HasPrefix(v, katibPlaceholder) {
			t.Errorf("hyperparameter %q reaches the trainer as %q", v, got)
		}
		upload := container["env"].([]any)[0].(map[string]any)["value"].(string)
		if got := kubeletExpand(upload, env); !strings.Contains(got, "dev/$(HOME)") {
			t.Errorf("the upload path reaches the trainer as %q", got)
		}
	}
}
