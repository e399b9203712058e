//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/test/plugintest"
)

// offline is the plugin with a kubeconfig that does not exist, its own HOME (whose
// ~/.cache/kubectl-kaptain a local run keeps its models in) and the test cluster nowhere in
// reach: a local run needs none.
func offline(t *testing.T) (plugintest.Plugin, string) {
	t.Helper()
	home := t.TempDir()
	return plugintest.Plugin{Binary: shared.binary, Kubeconfig: filepath.Join(home, "no-kubeconfig"), Home: home}, home
}

// writeModel writes kaptain.yaml and the files given into a new directory.
func writeModel(t *testing.T, yaml string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["kaptain.yaml"] = yaml
	for name, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// savedTo is the TRAINED_MODEL_UPLOAD_PATH a local run's result line names.
func savedTo(t *testing.T, stderr string) string {
	t.Helper()
	m := regexp.MustCompile(`the code was told to save it to ([^\s;]+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no upload path in:\n%s", stderr)
	}
	return m[1]
}

// TestLocalLoopFromInit is a new user's first minutes: init, then train and tune here, with
// no cluster and no registry.
func TestLocalLoopFromInit(t *testing.T) {
	p, home := offline(t)
	dir := t.TempDir()
	r := p.Run(t, time.Minute, dir, nil, "init", "--framework", "pytorch")
	if r.Code != 0 || !strings.Contains(r.Stderr, "wrote kaptain.yaml and trainer.py for model dev/my-model; next:") ||
		!strings.Contains(r.Stderr, "kubectl kaptain train --local -p lr=0.1") {
		t.Fatalf("init: exit %d\n%s", r.Code, r.Stderr)
	}
	r = p.Run(t, time.Minute, dir, nil, "train", "--local", "-p", "lr=0.1")
	if r.Code != 0 {
		t.Fatalf("train --local: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"[worker-0] epoch=5 loss=", "[worker-1] epoch=5 loss=", "[worker-0] saved the model to "} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("train --local's output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !strings.Contains(r.Stderr, "trained model dev/my-model here, revision ") || !strings.Contains(r.Stderr, "hyperparameters --lr=0.1;") ||
		!strings.Contains(r.Stderr, "(it saved 1 file, ") || !strings.Contains(r.Stderr, "not recorded in the model's history") {
		t.Errorf("train --local's result line:\n%s", r.Stderr)
	}
	upload := savedTo(t, r.Stderr)
	if !strings.HasPrefix(upload, filepath.Join(home, ".cache", "kubectl-kaptain", "models", "dev", "my-model", "trained")+"/") {
		t.Errorf("the model went to %s, not under the user cache of HOME %s", upload, home)
	}
	var model map[string]float64
	if data, err := os.ReadFile(filepath.Join(upload, "model.json")); err != nil || json.Unmarshal(data, &model) != nil || model["w"] == 0 {
		t.Errorf("the trained model: %s, %v", data, err)
	}

	r = p.Run(t, 2*time.Minute, dir, nil, "tune", "--local", "--param", "lr=double:0.01:0.5", "--objective", "accuracy", "--trials", "6")
	if r.Code != 0 {
		t.Fatalf("tune --local: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if !regexp.MustCompile(`(?m)^HYPERPARAMETER\s+VALUE\nlr\s+0\.\d+\n$`).MatchString(r.Stdout) {
		t.Errorf("tune --local's table:\n%s", r.Stdout)
	}
	// Then the six trials ranked, best first, with a bar each ('#' on a pipe), the best marked.
	ranked := regexp.MustCompile(`(?m)^(\d)\s+(trial-\d)\s+(0\.\d+)\s+Succeeded\s+lr=0\.\d+\s+(#+)( best)?$`).FindAllStringSubmatch(r.Stdout, -1)
	if len(ranked) != 6 || ranked[0][5] != " best" || len(ranked[0][4]) != 24 || !strings.Contains(r.Stdout, "RANK   TRIAL") {
		t.Errorf("tune --local's ranking (%d rows):\n%s", len(ranked), r.Stdout)
	}
	for i := 1; i < len(ranked); i++ {
		if ranked[i][3] > ranked[i-1][3] || ranked[i][5] != "" || len(ranked[i][4]) > len(ranked[i-1][4]) {
			t.Errorf("ranking row %d out of order or marked: %q after %q", i+1, ranked[i][0], ranked[i-1][0])
		}
	}
	if n := strings.Count(r.Stderr, " Succeeded: accuracy="); n != 6 ||
		!regexp.MustCompile(`best trial trial-\d: accuracy=0\.9\d+, of 6 trials \(6 succeeded, 0 failed\); tuned here, not recorded in the model's history; train with them: kubectl kaptain train -p lr=0\.\d+`).MatchString(r.Stderr) {
		t.Errorf("tune --local's progress (%d trials succeeded):\n%s", n, r.Stderr)
	}
}

// argsTrainer records what the job's containers would give it: its arguments, environment and
// working directory's files, into TRAINED_MODEL_UPLOAD_PATH, one file per replica.
const argsTrainer = `import json, os, sys
files = sorted(os.path.join(d, f)[2:] for d, _, fs in os.walk(".") for f in fs)
env = {k: v for k, v in os.environ.items() if k in ("TRAINED_MODEL_UPLOAD_PATH", "MODEL_LIFECYCLE_PHASE", "TF_CONFIG", "PYTHONUNBUFFERED", "AWS_SECRET_ACCESS_KEY")}
out = os.environ["TRAINED_MODEL_UPLOAD_PATH"]
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
with open(os.path.join(out, "replica-%d.json" % index), "w") as f:
    json.dump({"argv": sys.argv, "env": env, "files": files, "cwd": os.getcwd()}, f)
print("accuracy=0.5")
`

func TestTrainLocalArgumentsAndEnvironment(t *testing.T) {
	p, _ := offline(t)
	dir := writeModel(t, `apiVersion: kaptain.dev/v1alpha1
kind: Model
spec:
  id: dev/args
  name: args
  description: a local model
  version: "0.0.1"
  framework: tensorflow
  frameworkVersion: "2.16.1"
  mainFile: trainer.py
  extraFiles: [lib]
  requirements: requirements.txt
  image: registry.example.com/args:1
  baseImage: python:3.11-slim
  hyperparameters: {epochs: 3, lr: 0.5}
  config:
    modelStorageURI: s3://kaptain/models
`, map[string]string{"trainer.py": argsTrainer, "lib/util.py": "X = 1\n", "requirements.txt": "\n", "notes.txt": "not in the image\n"})
	uploadDir := t.TempDir()
	r := p.Run(t, time.Minute, dir, []string{"AWS_SECRET_ACCESS_KEY=not-for-a-local-directory"},
		"train", "--local", "-p", "lr=0.1", "--arg", "data=/tmp/d a", "--workers", "3", "--upload", uploadDir)
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "warning: requirements.txt is not installed: the code runs with ") ||
		!strings.Contains(r.Stderr, "running trainer.py here as 3 processes, one per replica, in a copy of the image's 3 files; each gets TF_CONFIG") {
		t.Errorf("progress:\n%s", r.Stderr)
	}
	upload := savedTo(t, r.Stderr)
	if !strings.HasPrefix(upload, filepath.Join(uploadDir, "dev", "args", "trained")+"/") {
		t.Errorf("upload path %s is not under --upload %s", upload, uploadDir)
	}
	cwds := map[string]bool{}
	for i := range 3 {
		var got struct {
			Argv  []string
			Env   map[string]string
			Files []string
			Cwd   string
		}
		data, err := os.ReadFile(filepath.Join(upload, fmt.Sprintf("replica-%d.json", i)))
		if err != nil || json.Unmarshal(data, &got) != nil {
			t.Fatalf("replica %d wrote %q: %v", i, data, err)
		}
		if want := []string{"trainer.py", "--epochs=3", "--lr=0.1", "--data=/tmp/d a"}; !slices.Equal(got.Argv, want) {
			t.Errorf("replica %d: argv %q, want %q", i, got.Argv, want)
		}
		if want := []string{"lib/util.py", "requirements.txt", "trainer.py"}; !slices.Equal(got.Files, want) {
			t.Errorf("replica %d sees %q in its working directory, want the image's files %q", i, got.Files, want)
		}
		var tfConfig struct {
			Cluster struct{ Worker []string }
		}
		if err := json.Unmarshal([]byte(got.Env["TF_CONFIG"]), &tfConfig); err != nil || len(tfConfig.Cluster.Worker) != 3 {
			t.Errorf("replica %d: TF_CONFIG %q", i, got.Env["TF_CONFIG"])
		}
		if got.Env["MODEL_LIFECYCLE_PHASE"] != "training" || got.Env["TRAINED_MODEL_UPLOAD_PATH"] != upload || got.Env["PYTHONUNBUFFERED"] != "1" {
			t.Errorf("replica %d: environment %v", i, got.Env)
		}
		cwds[got.Cwd] = true
		if _, err := os.Stat(got.Cwd); !os.IsNotExist(err) {
			t.Errorf("the working directory %s is still there: %v", got.Cwd, err)
		}
	}
	if len(cwds) != 1 {
		t.Errorf("working directories %v, want one copy shared by the replicas", cwds)
	}
}

func TestTrainLocalFailure(t *testing.T) {
	p, _ := offline(t)
	dir := writeModel(t, localModel("pytorch"), map[string]string{"trainer.py": `import sys
for i in range(40):
    print("step", i)
print("Traceback: the data set is missing", file=sys.stderr)
sys.exit(1)
`})
	r := p.Run(t, time.Minute, dir, nil, "train", "--local", "--workers", "1")
	if r.Code != sdkerr.JobFailed.ExitCode() {
		t.Fatalf("exit %d, want %d (JobFailed)\n%s", r.Code, sdkerr.JobFailed.ExitCode(), r.Stderr)
	}
	if !strings.Contains(r.Stderr, "error: training failed: worker-0 exited with code 1; its last lines:\n  step 21\n") ||
		!strings.HasSuffix(r.Stderr, "  step 39\n  Traceback: the data set is missing\n") {
		t.Errorf("stderr lacks the exit code and the last 20 lines:\n%s", r.Stderr)
	}
}

func TestTrainLocalInterrupt(t *testing.T) {
	p, _ := offline(t)
	dir := writeModel(t, localModel("pytorch"), map[string]string{"trainer.py": `import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print("child", child.pid, "rank", os.environ["RANK"])
time.sleep(120)
`})
	proc := p.Start(t, dir, nil, "train", "--local")
	var pids []string
	for deadline := time.Now().Add(time.Minute); len(pids) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the replicas never started:\n%s\n%s", proc.Stdout(), proc.Stderr())
		}
		pids = nil
		for _, m := range regexp.MustCompile(`child (\d+) rank`).FindAllStringSubmatch(proc.Stdout(), -1) {
			pids = append(pids, m[1])
		}
	}
	proc.Interrupt(t)
	if code := proc.Exit(t, 30*time.Second); code != sdkerr.Interrupted.ExitCode() {
		t.Errorf("exit %d after Ctrl-C, want %d\n%s", code, sdkerr.Interrupted.ExitCode(), proc.Stderr())
	}
	if !strings.Contains(proc.Stderr(), "error: interrupted; the processes of training were stopped") {
		t.Errorf("stderr:\n%s", proc.Stderr())
	}
	for _, pid := range pids {
		if status, err := os.ReadFile("/proc/" + pid + "/status"); err == nil && !strings.Contains(string(status), "State:\tZ") {
			t.Errorf("process %s, a replica's child, outlived Ctrl-C", pid)
		}
	}
}

// localModel is a kaptain.yaml of the framework with trainer.py as its main file.
func localModel(framework string) string {
	return `apiVersion: kaptain.dev/v1alpha1
kind: Model
spec:
  id: dev/local
  name: local
  description: a local model
  version: "0.0.1"
  framework: ` + framework + `
  frameworkVersion: "1.0"
  mainFile: trainer.py
  image: registry.example.com/local:1
  baseImage: python:3.11-slim
  config:
    modelStorageURI: s3://kaptain/models
`
}

// scoreTrainer scores its hyperparameters by a known function, best at lr=0.3, momentum=0.9,
// printing it twice as an epoch-by-epoch trainer would; it fails for lr above 0.45.
const scoreTrainer = `import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--momentum", type=float)
p.add_argument("--epochs", type=int)
a = p.parse_args()
assert os.environ["MODEL_LIFECYCLE_PHASE"] == "tuning"
if a.lr > 0.45:
    raise SystemExit("diverged")
score = 1 - (a.lr - 0.3) ** 2 - (a.momentum - 0.9) ** 2
print(f"epoch=1 accuracy={score - 0.5:.6f} loss={1 - score:.6f}")
print(f"epoch={a.epochs} accuracy={score:.6f} loss={1 - score:.6f}")
open(os.path.join(os.environ["TRAINED_MODEL_UPLOAD_PATH"], "model.txt"), "w").write(str(score))
`

func TestTuneLocal(t *testing.T) {
	p, home := offline(t)
	dir := writeModel(t, strings.Replace(localModel("pytorch"), "  config:", "  hyperparameters: {epochs: 2}\n  config:", 1), map[string]string{"trainer.py": scoreTrainer})
	r := p.Run(t, 3*time.Minute, dir, nil, "tune", "--local", "--param", "lr=double:0.01:0.5", "--param", "momentum=double:0.5:0.99",
		"--objective", "accuracy", "--objective", "loss", "--algorithm", "tpe", "--algorithm-setting", "random_state=3",
		"--trials", "20", "--parallel-trials", "3", "--failed-trials", "20", "--workers", "1", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	var best struct {
		Trial           string
		Hyperparameters map[string]string
		Metrics         map[string]string
		ModelURI        string
		Trials          struct{ Total, Succeeded, Failed int }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &best); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.Stdout)
	}
	lr, _ := strconv.ParseFloat(best.Hyperparameters["lr"], 64)
	momentum, _ := strconv.ParseFloat(best.Hyperparameters["momentum"], 64)
	accuracy, _ := strconv.ParseFloat(best.Metrics["accuracy"], 64)
	if accuracy < 0.97 || lr > 0.45 || momentum < 0.5 || best.Trials.Total != 20 || best.Trials.Succeeded+best.Trials.Failed != 20 {
		t.Errorf("best %+v; want accuracy of at least 0.97 (the peak is 1 at lr=0.3, momentum=0.9) after 20 trials", best)
	}
	// Every line a trial printed of the best one's accuracy is no higher than what was chosen.
	for _, m := range regexp.MustCompile(`trial-\d+ Succeeded: accuracy=([0-9.]+)`).FindAllStringSubmatch(r.Stderr, -1) {
		if v, _ := strconv.ParseFloat(m[1], 64); v > accuracy {
			t.Errorf("a trial scored %v, above the best's %v:\n%s", v, accuracy, r.Stderr)
		}
	}
	if best.Trials.Failed > 0 && !strings.Contains(r.Stderr, "Failed (lr=") || best.Trials.Failed > 0 && !strings.Contains(r.Stderr, "diverged") {
		t.Errorf("a failed trial's line names neither its values nor its last line:\n%s", r.Stderr)
	}
	if want := filepath.Join(home, ".cache", "kubectl-kaptain", "models", "dev", "local", "tuned"); !strings.HasPrefix(best.ModelURI, want) || !strings.HasSuffix(best.ModelURI, "/"+best.Trial) {
		t.Errorf("modelUri %s, want the best trial's directory under %s", best.ModelURI, want)
	}
	if data, err := os.ReadFile(filepath.Join(best.ModelURI, "model.txt")); err != nil || !strings.HasPrefix(best.Metrics["accuracy"], strings.TrimRight(string(data)[:5], "0")) {
		t.Errorf("the best trial saved %q (%v), want its score %s", data, err, best.Metrics["accuracy"])
	}

	// A goal ends the search early.
	r = p.Run(t, 3*time.Minute, dir, nil, "tune", "--local", "--param", "lr=double:0.01:0.45", "--param", "momentum=double:0.5:0.99",
		"--objective", "accuracy", "--goal", "0.9", "--trials", "40", "--parallel-trials", "1", "--workers", "1")
	m := regexp.MustCompile(`of (\d+) trials \((\d+) succeeded`).FindStringSubmatch(r.Stderr)
	if r.Code != 0 || m == nil || m[1] == "40" {
		t.Errorf("--goal 0.9: exit %d, not ended before 40 trials:\n%s", r.Code, r.Stderr)
	}
}

func TestLocalRefusals(t *testing.T) {
	p, _ := offline(t)
	dir := writeModel(t, localModel("mlx"), map[string]string{"trainer.py": "print('accuracy=1')\n"})
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"train", "--local", "--dry-run=client"}, sdkerr.Usage.ExitCode(), "error: --dry-run has no meaning with --local, which runs the code on this machine, not the cluster; drop it"},
		{[]string{"train", "--local", "--cpu", "1"}, sdkerr.Usage.ExitCode(), "error: --cpu has no meaning with --local"},
		{[]string{"train", "--python", "python3"}, sdkerr.Usage.ExitCode(), "error: --python applies to a local run; add --local"},
		{[]string{"train", "--local", "--workers", "2"}, sdkerr.Usage.ExitCode(), "error: --workers 2: a local run of a mlx model starts 1 process"},
		{[]string{"train", "--local", "--workers", "1", "--python", "no-such-python"}, sdkerr.Usage.ExitCode(), "error: --python no-such-python: "},
		{[]string{"train", "--local", "--workers", "1", "--venv"}, sdkerr.Usage.ExitCode(), "error: --venv installs spec.requirements, and kaptain.yaml names none"},
		{[]string{"tune", "--local", "--workers", "1", "--param", "lr=double:0.1:0.3:0.1", "--objective", "accuracy", "--trials", "3", "--algorithm", "grid"},
			sdkerr.UnsupportedAlgorithm.ExitCode(), `error: algorithm "grid" runs only in Katib; a local tune runs cmaes, random, sobol, tpe`},
		{[]string{"tune", "--local", "--workers", "1", "--param", "lr=double:0.1:0.3", "--objective", "accuracy", "--early-stopping", "medianstop"},
			sdkerr.Usage.ExitCode(), "error: early stopping (medianstop) runs only in Katib"},
		{[]string{"tune", "--local", "--workers", "1", "--param", "lr=double:0.1:0.3", "--objective", "accuracy", "--delete-experiment"},
			sdkerr.Usage.ExitCode(), "error: --delete-experiment has no meaning with --local"},
	} {
		r := p.Run(t, time.Minute, dir, nil, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), r.Code, r.Stdout, r.Stderr, tc.code, tc.want)
		}
	}
}

func TestTrainLocalVenv(t *testing.T) {
	p, home := offline(t)
	yaml := strings.Replace(localModel("xgboost"), "  config:", "  requirements: requirements.txt\n  config:", 1)
	dir := writeModel(t, yaml, map[string]string{
		"trainer.py":       "import sys\nprint('in a venv:', sys.prefix != sys.base_prefix, sys.prefix)\n",
		"requirements.txt": "# nothing to install: the machine has no package index\n",
	})
	venvs := filepath.Join(home, ".cache", "kubectl-kaptain", "venvs")
	r := p.Run(t, 3*time.Minute, dir, nil, "train", "--local", "--venv", "--workers", "1")
	if r.Code != 0 || !strings.Contains(r.Stdout, "[worker-0] in a venv: True "+venvs+"/") || !strings.Contains(r.Stderr, "making a virtual environment with requirements.txt in "+venvs) {
		t.Fatalf("first run: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	again := p.Run(t, time.Minute, dir, nil, "train", "--local", "--venv", "--workers", "1")
	if again.Code != 0 || strings.Contains(again.Stderr, "making a virtual environment") || again.Stdout != r.Stdout {
		t.Errorf("second run did not reuse the environment: exit %d\n%s\n%s", again.Code, again.Stdout, again.Stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := p.Run(t, 3*time.Minute, dir, nil, "train", "--local", "--venv", "--workers", "1")
	if changed.Code != 0 || !strings.Contains(changed.Stderr, "making a virtual environment") || changed.Stdout == r.Stdout {
		t.Errorf("changed requirements did not make a new environment: exit %d\n%s\n%s", changed.Code, changed.Stdout, changed.Stderr)
	}
}

func TestTrainLocalUploadS3(t *testing.T) {
	p, _ := offline(t)
	dir := writeModel(t, localModel("jax"), map[string]string{"trainer.py": `import os
print("upload", os.environ["TRAINED_MODEL_UPLOAD_PATH"])
print("credentials", os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY") == "local-secret")
print("process", os.environ["JAX_PROCESS_ID"], "of", os.environ["JAX_NUM_PROCESSES"])
`})
	r := p.Run(t, time.Minute, dir, []string{"AWS_ACCESS_KEY_ID=local-key", "AWS_SECRET_ACCESS_KEY=local-secret"}, "train", "--local", "--upload", "s3")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	upload := savedTo(t, r.Stderr)
	if !strings.HasPrefix(upload, "s3://kaptain/models/dev/local/trained/") || !strings.Contains(r.Stdout, "[worker-0] upload "+upload+"\n") {
		t.Errorf("upload path %s, output:\n%s", upload, r.Stdout)
	}
	for _, want := range []string{"[worker-0] credentials local-key True\n", "[worker-1] credentials local-key True\n", "[worker-1] process 1 of 2\n"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout+r.Stderr, "local-secret") {
		t.Errorf("the secret key was printed:\n%s\n%s", r.Stdout, r.Stderr)
	}
}

func TestTuneLocalInterrupt(t *testing.T) {
	p, _ := offline(t)
	dir := writeModel(t, localModel("xgboost"), map[string]string{"trainer.py": `import os, time
open(os.path.join(os.environ["TRAINED_MODEL_UPLOAD_PATH"], "pid"), "w").write(str(os.getpid()))
print("accuracy=0.1", flush=True)
time.sleep(120)
`})
	home := p.Home
	proc := p.Start(t, dir, nil, "tune", "--local", "--workers", "1", "--param", "lr=double:0.1:0.3", "--objective", "accuracy", "--trials", "4", "--parallel-trials", "2")
	tuned := filepath.Join(home, ".cache", "kubectl-kaptain", "models", "dev", "local", "tuned")
	var pids []string
	for deadline := time.Now().Add(time.Minute); len(pids) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("two trials never started:\n%s", proc.Stderr())
		}
		files, _ := filepath.Glob(filepath.Join(tuned, "*", "*", "pid"))
		pids = nil
		for _, f := range files {
			if data, err := os.ReadFile(f); err == nil && len(data) > 0 {
				pids = append(pids, string(data))
			}
		}
	}
	proc.Interrupt(t)
	if code := proc.Exit(t, 30*time.Second); code != sdkerr.Interrupted.ExitCode() || !strings.Contains(proc.Stderr(), "error: interrupted; the processes of the local tune were stopped") {
		t.Errorf("exit %d after Ctrl-C, want %d:\n%s", code, sdkerr.Interrupted.ExitCode(), proc.Stderr())
	}
	for _, pid := range pids {
		if status, err := os.ReadFile("/proc/" + pid + "/status"); err == nil && !strings.Contains(string(status), "State:\tZ") {
			t.Errorf("trial process %s outlived Ctrl-C", pid)
		}
	}
}
