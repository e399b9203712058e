package workload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/internal/golden"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// Trainer v2.3.0's runtimes, as RuntimeOf reads them from testdata/runtimes (the fields
// kubectl kaptain reads, in the shape of Trainer's manifests/base/runtimes).
var torch = Runtime{Kind: model.KindClusterTrainingRuntime, Name: "torch-distributed", Framework: "torch", Policy: PolicyTorch, TrainerStep: TrainerNode, Jobs: []string{TrainerNode}}

func readRuntime(t *testing.T, name string) Runtime {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "runtimes", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &obj.Object); err != nil {
		t.Fatal(err)
	}
	rt, err := RuntimeOf(obj)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func deepspeed(t *testing.T) Runtime { return readRuntime(t, "deepspeed-distributed") }

func TestRuntimeOf(t *testing.T) {
	for _, tc := range []struct {
		name, framework string
		policy          MLPolicy
		trainerStep     string
	}{
		{"torch-distributed", "torch", PolicyTorch, "node"},
		{"deepspeed-distributed", "deepspeed", PolicyMPI, "launcher"},
		{"mlx-distributed", "mlx", PolicyMPI, "launcher"},
		{"jax-distributed", "jax", PolicyJAX, "node"},
		{"xgboost-distributed", "xgboost", PolicyXGBoost, "node"},
	} {
		rt := readRuntime(t, tc.name)
		if rt.Framework != tc.framework || rt.Policy != tc.policy || rt.TrainerStep != tc.trainerStep || (rt.Policy == PolicyMPI) != (rt.Spec != nil) {
			t.Errorf("%s: framework %q policy %q trainer step %q spec %v", tc.name, rt.Framework, rt.Policy, rt.TrainerStep, rt.Spec != nil)
		}
		if offline := TrainerRuntime(rt.Kind, rt.Name, "pytorch"); offline.Policy != rt.Policy || offline.TrainerStep != rt.TrainerStep || offline.Framework != rt.Framework {
			t.Errorf("%s: a client dry run takes it as %+v", tc.name, offline)
		}
	}
}

func TestRuntimeOfRefuses(t *testing.T) {
	runtime := func(policy map[string]any, jobs ...any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"kind": model.KindClusterTrainingRuntime, "metadata": map[string]any{"name": "r"},
			"spec": map[string]any{"mlPolicy": policy, "template": map[string]any{"spec": map[string]any{"replicatedJobs": jobs}}}}}
	}
	trainer := map[string]any{"name": "node", "template": map[string]any{"metadata": map[string]any{"labels": map[string]any{LabelAncestorStep: AncestorTrainer}}}}
	for name, tc := range map[string]struct {
		obj  *unstructured.Unstructured
		want string
	}{
		"a policy it does not know": {runtime(map[string]any{"numNodes": int64(1), "flux": map[string]any{}}, trainer), "it knows torch, mpi, jax, xgboost"},
		"no policy":                 {runtime(map[string]any{"numNodes": int64(1)}, trainer), "has no ML policy"},
		"no trainer step":           {runtime(map[string]any{"torch": map[string]any{}}, map[string]any{"name": "node"}), "no replicated job labelled"},
		"mpi without a launcher":    {runtime(map[string]any{"mpi": map[string]any{}}, trainer), "not Trainer's MPI shape"},
	} {
		if _, err := RuntimeOf(tc.obj); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestBuildGolden renders each kind's job from the same options: the Training Operator's
// kinds and a TrainJob on each of Trainer's runtimes.
func TestBuildGolden(t *testing.T) {
	ttl := int32(600)
	full := Train{
		Name: "mnist-train-abc123", Revision: "rev-1", Workers: 4, Image: "registry.example.com/kaptain/mnist@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Hyperparameters:         map[string]any{"lr": 0.001, "epochs": 10, "optimizer": "adam", "nesterov": true},
		Args:                    map[string]string{"data-dir": "/data"},
		Resources:               Resources{CPURequest: "500m", CPULimit: "2", MemoryRequest: "1Gi", MemoryLimit: "4Gi", GPULimit: 1},
		TTLSecondsAfterFinished: &ttl, StorageSecret: "mnist-train-abc123-storage",
		Placement: gpuPool,
	}
	trainJobFull := full
	trainJobFull.Hyperparameters = map[string]any{"lr": 0.001, "epochs": 10}
	trainJobFull.StorageKeys, trainJobFull.Queue = []string{"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}, "team-a"
	for _, tc := range []struct {
		name, framework string
		kind            TrainingKind
		train           Train
	}{
		{"tfjob-defaults", "tensorflow", TFJob(), Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 2}},
		{"tfjob-full", "tensorflow", TFJob(), full},
		{"pytorchjob-one-worker", "pytorch", PyTorchJob(), Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 1}},
		{"pytorchjob-three-workers", "pytorch", PyTorchJob(), Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 3,
			Hyperparameters: map[string]any{"lr": 0.01}, Resources: Resources{CPURequest: "1", CPULimit: "1", GPULimit: 2}}},
		{"trainjob-defaults", "pytorch", TrainJobOn(torch), Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 2}},
		{"trainjob-full", "pytorch", TrainJobOn(torch), trainJobFull},
		{"trainjob-own-runtime", "pytorch", TrainJobOn(Runtime{Kind: model.KindTrainingRuntime, Name: "my-tf"}), Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 1}},
		{"trainjob-deepspeed", "pytorch", TrainJobOn(deepspeed(t)), Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 3,
			Hyperparameters: map[string]any{"lr": 0.05}, StorageSecret: "mnist-train-abc123-storage", StorageKeys: []string{"AWS_ACCESS_KEY_ID"}, Placement: gpuPool}},
		{"trainjob-deepspeed-offline", "pytorch", TrainJobOn(TrainerRuntime(model.KindClusterTrainingRuntime, "deepspeed-distributed", "pytorch")), Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 2}},
		{"trainjob-jax", "jax", TrainJobOn(readRuntime(t, "jax-distributed")), Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 2, Hyperparameters: map[string]any{"lr": 0.05}}},
		{"trainjob-xgboost", "xgboost", TrainJobOn(readRuntime(t, "xgboost-distributed")), Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 2, Hyperparameters: map[string]any{"eta": 0.3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job, companions, err := tc.kind.Build(testModel(tc.framework), tc.train)
			if err != nil {
				t.Fatal(err)
			}
			if job.GroupVersionKind() != tc.kind.GVK() {
				t.Errorf("built a %s, the kind says %s", job.GroupVersionKind(), tc.kind.GVK())
			}
			out, err := yaml.Marshal(job.Object)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range companions {
				data, _ := yaml.Marshal(c.Object)
				out = append(append(out, "---\n"...), data...)
			}
			golden.Assert(t, filepath.Join("testdata", tc.name+".yaml"), out)
		})
	}
}

// TestMPINodesRunTheModel: on an MPI runtime every node runs the model's image, the launcher
// starts the main file on each through the hostfile, and the job runs on the derived runtime.
func TestMPINodesRunTheModel(t *testing.T) {
	job, companions, err := TrainJobOn(deepspeed(t)).Build(testModel("pytorch"), Train{Name: "j", Owner: "o", Workers: 3, Image: "m@sha256:1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(companions) != 1 || companions[0].GetKind() != model.KindTrainingRuntime || companions[0].GetName() != "o" {
		t.Fatalf("companions %v, want the TrainingRuntime o", companions)
	}
	if ref, _, _ := unstructured.NestedStringMap(job.Object, "spec", "runtimeRef"); ref["name"] != "o" || ref["kind"] != model.KindTrainingRuntime {
		t.Errorf("runtimeRef %v", ref)
	}
	jobs, _, _ := unstructured.NestedSlice(companions[0].Object, "spec", "template", "spec", "replicatedJobs")
	for _, j := range jobs {
		c, _, _ := unstructured.NestedSlice(j.(map[string]any), "template", "spec", "template", "spec", "containers")
		if image := c[0].(map[string]any)["image"]; image != "m@sha256:1" {
			t.Errorf("job %v runs %v", j.(map[string]any)["name"], image)
		}
	}
	cmd, _, _ := unstructured.NestedStringSlice(job.Object, "spec", "trainer", "command")
	if strings.Join(cmd, " ") != "mpirun --hostfile /etc/mpi/hostfile python -u trainer.py" {
		t.Errorf("launcher command %q", cmd)
	}
}

func TestBuildRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		kind  TrainingKind
		train Train
	}{
		"tfjob, no name":              {TFJob(), Train{Workers: 1}},
		"tfjob, no workers":           {TFJob(), Train{Name: "x", Workers: 0}},
		"tfjob, bad quantity":         {TFJob(), Train{Name: "x", Workers: 1, Resources: Resources{CPULimit: "lots"}}},
		"pytorchjob, no workers":      {PyTorchJob(), Train{Name: "x"}},
		"trainjob, no name":           {TrainJobOn(torch), Train{Workers: 1}},
		"trainjob, no workers":        {TrainJobOn(torch), Train{Name: "x"}},
		"trainjob, no runtime":        {TrainJobOn(Runtime{}), Train{Name: "x", Workers: 1}},
		"trainjob, bad quantity":      {TrainJobOn(torch), Train{Name: "x", Workers: 1, Resources: Resources{MemoryLimit: "much"}}},
		"trainjob, name too long":     {TrainJobOn(torch), Train{Name: strings.Repeat("a", TrainJobOn(torch).MaxName(2)+1), Workers: 2}},
		"trainjob, keys, no secret":   {TrainJobOn(torch), Train{Name: "x", Workers: 1, StorageKeys: []string{"K"}}},
		"mpi trainjob, name too long": {TrainJobOn(deepspeed(t)), Train{Name: strings.Repeat("a", TrainJobOn(deepspeed(t)).MaxName(2)+1), Workers: 2}},
	} {
		if _, _, err := tc.kind.Build(testModel("pytorch"), tc.train); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestKinds: what each kind answers for its callers.
func TestKinds(t *testing.T) {
	mpi := TrainJobOn(deepspeed(t))
	for _, tc := range []struct {
		kind                 TrainingKind
		container, pods, log string
		maxName              map[int]int
		supports             bool
		primary              map[string]string
	}{
		// <name>-worker-<index> must fit in 63 characters.
		{TFJob(), "tensorflow", "training.kubeflow.org/job-name=x", "training.kubeflow.org/job-name=x", map[int]int{1: 54, 10: 54, 11: 53}, true, nil},
		{PyTorchJob(), "pytorch", "training.kubeflow.org/job-name=x", "training.kubeflow.org/job-name=x", map[int]int{1: 54, 101: 52}, true, nil},
		// <name>-node-0-<index>-abcde, or -launcher-0-: the longest replicated job's.
		{TrainJobOn(torch), "node", "jobset.sigs.k8s.io/jobset-name=x", "jobset.sigs.k8s.io/jobset-name=x", map[int]int{1: 48, 10: 48, 11: 47, 100: 47, 101: 46}, false,
			map[string]string{LabelReplicatedJobName: "node", LabelJobCompletionIndex: "0"}},
		{mpi, "node", "jobset.sigs.k8s.io/jobset-name=x", "jobset.sigs.k8s.io/jobset-name=x,jobset.sigs.k8s.io/replicatedjob-name=launcher", map[int]int{1: 44, 11: 43}, false,
			map[string]string{LabelReplicatedJobName: "launcher", LabelJobCompletionIndex: "0"}},
	} {
		name := tc.kind.String()
		if got := tc.kind.Container(); got != tc.container {
			t.Errorf("%s: container %q, want %q", name, got, tc.container)
		}
		if got := tc.kind.PodSelector("x"); got != tc.pods {
			t.Errorf("%s: pods %q, want %q", name, got, tc.pods)
		}
		if got := tc.kind.LogSelector("x"); got != tc.log {
			t.Errorf("%s: logged pods %q, want %q", name, got, tc.log)
		}
		for workers, want := range tc.maxName {
			if got := tc.kind.MaxName(workers); got != want {
				t.Errorf("%s: MaxName(%d) = %d, want %d", name, workers, got, want)
			}
		}
		if tc.kind.Supports(SettingBackoffLimit) != tc.supports || tc.kind.Supports(SettingTTL) != tc.supports {
			t.Errorf("%s: supports backoff %v, TTL %v, want %v", name, tc.kind.Supports(SettingBackoffLimit), tc.kind.Supports(SettingTTL), tc.supports)
		}
		if trial := tc.kind.Trial(); trial.PrimaryContainer != tc.container || len(trial.PrimaryPodLabels) != len(tc.primary) ||
			trial.PrimaryPodLabels[LabelReplicatedJobName] != tc.primary[LabelReplicatedJobName] {
			t.Errorf("%s: trial %+v", name, trial)
		}
	}
	if got := TrainJobOn(deepspeed(t)).String(); got != "TrainJob on deepspeed-distributed (mpi)" {
		t.Errorf("String = %q", got)
	}
}

// TestKindOf: a job read back from the cluster gets its kind, and a TrainJob kubectl kaptain
// made on an MPI runtime follows its launcher's logs.
func TestKindOf(t *testing.T) {
	job, _, err := TrainJobOn(deepspeed(t)).Build(testModel("pytorch"), Train{Name: "j", Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := KindOf(job).LogSelector("j"); !strings.HasSuffix(got, LabelReplicatedJobName+"=launcher") {
		t.Errorf("an MPI TrainJob's logs: %q", got)
	}
	for _, k := range TrainingKinds() {
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(k.GVK())
		if KindOf(obj).GVK() != k.GVK() {
			t.Errorf("KindOf(%s) = %s", k.GVK(), KindOf(obj).GVK())
		}
	}
	other := &unstructured.Unstructured{}
	other.SetAPIVersion("batch/v1")
	other.SetKind("Job")
	if KindOf(other) != nil {
		t.Errorf("a batch Job has a training kind")
	}
	if got := KindNames(TrainingKinds()); got != "TFJob, PyTorchJob or TrainJob" {
		t.Errorf("KindNames = %q", got)
	}
}

func jobState(kind string, replicas map[string]any, conditions []any, statuses map[string]any, suspend bool) *unstructured.Unstructured {
	field := map[string]string{KindTFJob: "tfReplicaSpecs", KindPyTorchJob: "pytorchReplicaSpecs"}[kind]
	return &unstructured.Unstructured{Object: map[string]any{
		"kind": kind, "apiVersion": KubeflowGroupVersion,
		"spec":   map[string]any{field: replicas, "runPolicy": map[string]any{"suspend": suspend}},
		"status": map[string]any{"conditions": conditions, "replicaStatuses": statuses},
	}}
}

func trainJobObj(nodes int64, suspend bool, conditions []any, jobs []any, trainer map[string]any) *unstructured.Unstructured {
	status := map[string]any{"conditions": conditions, "jobsStatus": jobs}
	if trainer != nil {
		status["trainerStatus"] = trainer
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"kind": KindTrainJob, "apiVersion": TrainerGroupVersion,
		"spec":   map[string]any{"suspend": suspend, "trainer": map[string]any{"numNodes": nodes}},
		"status": status,
	}}
}

func cond(typ, status, msg string) any {
	return map[string]any{"type": typ, "status": status, "reason": "r" + typ, "message": msg}
}

// TestStateOf reads every kind's status the way the wait, get and describe show it.
func TestStateOf(t *testing.T) {
	two := map[string]any{"Worker": map[string]any{"replicas": int64(2)}}
	pt := map[string]any{"Master": map[string]any{"replicas": int64(1)}, "Worker": map[string]any{"replicas": int64(3)}}
	active := []any{map[string]any{"name": "node", "active": int64(1), "ready": int64(1)}}
	for _, tc := range []struct {
		name string
		job  *unstructured.Unstructured
		want string
		done bool
	}{
		{"tfjob: no status", jobState(KindTFJob, two, nil, nil, false), "Pending", false},
		{"tfjob: created", jobState(KindTFJob, two, []any{cond("Created", "True", "")}, nil, false), "Created", false},
		{"tfjob: running", jobState(KindTFJob, two, []any{cond("Created", "True", ""), cond("Running", "True", "")}, map[string]any{"Worker": map[string]any{"active": int64(1)}}, false), "Running (1/2 replicas active)", false},
		{"tfjob: false conditions are ignored", jobState(KindTFJob, two, []any{cond("Running", "True", ""), cond("Succeeded", "False", "")}, nil, false), "Running (0/2 replicas active)", false},
		{"pytorchjob: succeeded", jobState(KindPyTorchJob, pt, []any{cond("Created", "True", ""), cond("Running", "False", ""), cond("Succeeded", "True", "")}, map[string]any{"Master": map[string]any{"succeeded": int64(1)}, "Worker": map[string]any{"succeeded": int64(3)}}, false), "Succeeded (4/4 replicas succeeded)", true},
		{"pytorchjob: failed", jobState(KindPyTorchJob, pt, []any{cond("Running", "True", ""), cond("Failed", "True", "Master failed")}, nil, false), "Failed: Master failed", true},
		{"tfjob: a terminal condition wins over a later running one", jobState(KindTFJob, two, []any{cond("Succeeded", "True", ""), cond("Running", "True", "")}, nil, false), "Succeeded (0/2 replicas succeeded)", true},
		{"tfjob: replicas default to one", jobState(KindTFJob, map[string]any{"Chief": map[string]any{}, "Worker": map[string]any{"replicas": int64(2)}}, []any{cond("Running", "True", "")}, nil, false), "Running (0/3 replicas active)", false},
		{"tfjob: held by runPolicy.suspend", jobState(KindTFJob, two, []any{cond("Created", "True", "")}, nil, true), "Suspended (2 replicas)", false},
		{"tfjob: suspended condition", jobState(KindTFJob, two, []any{cond("Created", "True", ""), cond("Suspended", "True", "TFJob x is suspended.")}, nil, true), "Suspended (2 replicas; TFJob x is suspended.)", false},
		{"tfjob: suspended, then succeeded", jobState(KindTFJob, two, []any{cond("Suspended", "True", ""), cond("Succeeded", "True", "")}, nil, true), "Succeeded (0/2 replicas succeeded)", true},
		{"trainjob: new", trainJobObj(2, false, nil, nil, nil), "Created (2 nodes)", false},
		{"trainjob: running", trainJobObj(2, false, []any{cond("Suspended", "False", "")}, active, nil), "Running (2 nodes; node: 1 active, 1 ready)", false},
		{"trainjob: progress", trainJobObj(1, false, nil, active, map[string]any{"progressPercentage": int64(42), "estimatedRemainingSeconds": int64(190),
			"metrics": []any{map[string]any{"name": "loss", "value": "0.12"}}}), "Running (1 node; node: 1 active, 1 ready; 42%, about 3m10s left, loss=0.12)", false},
		{"trainjob: suspended by its spec", trainJobObj(2, true, []any{cond("Suspended", "True", "TrainJob is suspended")}, nil, nil), "Suspended (2 nodes; TrainJob is suspended)", false},
		{"trainjob: complete", trainJobObj(2, false, []any{cond("Complete", "True", "jobset completed")}, []any{map[string]any{"name": "node", "succeeded": int64(1)}}, nil), "Succeeded (2 nodes; node: 1 succeeded)", true},
		{"trainjob: failed", trainJobObj(2, false, []any{cond("Failed", "True", "jobset failed: node-0 failed")}, nil, nil), "Failed: jobset failed: node-0 failed", true},
		{"trainjob: its job's pods done, not yet complete", trainJobObj(2, false, nil, []any{map[string]any{"name": "node", "ready": int64(1)}}, nil), "Running (2 nodes; node: 1 ready)", false},
		{"trainjob: complete, then suspended: still complete", trainJobObj(2, true, []any{cond("Complete", "True", ""), cond("Suspended", "True", "")}, nil, nil), "Succeeded (2 nodes)", true},
	} {
		st := StateOf(tc.job)
		if st.String() != tc.want || st.Finished() != tc.done {
			t.Errorf("%s: %q finished=%v, want %q finished=%v", tc.name, st.String(), st.Finished(), tc.want, tc.done)
		}
	}
}

func TestTrainJobReplicaName(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{
		LabelJobSetName: "mnist-train-abc123", LabelReplicatedJobName: "launcher", LabelJobCompletionIndex: "0"}}}
	if got := ReplicaName(pod); got != "launcher-0" {
		t.Errorf("ReplicaName = %q, want launcher-0", got)
	}
}

// gpuPool places pods on a GPU node pool that is tainted for them.
var gpuPool = Placement{
	NodeSelector: map[string]string{"cloud.google.com/gke-accelerator": "nvidia-l4"},
	Tolerations: []corev1.Toleration{
		{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ml"},
	},
}
