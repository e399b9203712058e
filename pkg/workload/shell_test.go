package workload

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// throughKatib does to a trial's command line what Katib does: it substitutes the value for
// ${trialParameters.opt} as raw text in the trial's JSON, then its StdOut collector appends
// the redirect and runs the line with sh -c. The trainer here is printf, which prints each
// argument it gets, NUL-terminated.
func throughKatib(t *testing.T, value string) ([]string, error) {
	t.Helper()
	line := ShellLine([]string{"printf", `%s\0`, "--lr=0.1", "--opt=${trialParameters.opt}", "--note=it's \"fixed\"; $(touch pwned)"})
	spec, _ := json.Marshal(map[string]any{"args": []string{line}})
	var trial struct{ Args []string }
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(spec), "${trialParameters.opt}", value)), &trial); err != nil {
		return nil, err
	}
	dir := t.TempDir()
	out, err := exec.Command("sh", "-c", trial.Args[0]+" 1>"+dir+"/metrics.log 2>&1 && cat "+dir+"/metrics.log").Output()
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"), nil
}

func TestTrialValuesReachTheTrainerAsGiven(t *testing.T) {
	for _, v := range []string{"adam", "a b", "x;touch /tmp/pwned", "$(id)", "`id`", "a|b&c", "*", "~", "${HOME}", "-1e-5", ""} {
		got, err := throughKatib(t, v)
		want := []string{"--lr=0.1", "--opt=" + v, `--note=it's "fixed"; $(touch pwned)`}
		if err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("value %q: the trainer got %q (%v), want %q", v, got, err, want)
		}
	}
}

func TestSearchRefusesValuesAShellOrKatibWouldChange(t *testing.T) {
	for _, v := range []string{"it's", `say "hi"`, `a\b`, "two\nlines", "tab\there"} {
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
