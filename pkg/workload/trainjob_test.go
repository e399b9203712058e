package workload

import (
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

var torch = Runtime{Kind: model.KindClusterTrainingRuntime, Name: "torch-distributed", Torch: true}

func TestTrainJobGolden(t *testing.T) {
	ttl := int32(600)
	for _, tc := range []struct {
		name    string
		train   Train
		runtime Runtime
	}{
		{"trainjob-defaults", Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 2}, torch},
		{"trainjob-full", Train{
			Name: "mnist-train-abc123", Revision: "rev-1", Workers: 4, Image: "registry.example.com/kaptain/mnist@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Hyperparameters:         map[string]any{"lr": 0.001, "epochs": 10},
			Args:                    map[string]string{"data-dir": "/data"},
			Resources:               Resources{CPURequest: "500m", CPULimit: "2", MemoryRequest: "1Gi", MemoryLimit: "4Gi", GPULimit: 1},
			TTLSecondsAfterFinished: &ttl, StorageSecret: "mnist-train-abc123-storage",
			StorageKeys: []string{"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}, Queue: "team-a",
		}, torch},
		{"trainjob-own-runtime", Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 1},
			Runtime{Kind: model.KindTrainingRuntime, Name: "my-tf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job, err := TrainJob(testModel("pytorch"), tc.train, tc.runtime)
			if err != nil {
				t.Fatal(err)
			}
			out, err := yaml.Marshal(job.Object)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, filepath.Join("testdata", tc.name+".yaml"), out)
		})
	}
}

func TestTrainJobRejects(t *testing.T) {
	long := strings.Repeat("a", MaxTrainJobName(2)+1)
	for name, tc := range map[string]struct {
		train   Train
		runtime Runtime
	}{
		"no name":         {Train{Workers: 1}, torch},
		"no workers":      {Train{Name: "x"}, torch},
		"no runtime":      {Train{Name: "x", Workers: 1}, Runtime{}},
		"bad quantity":    {Train{Name: "x", Workers: 1, Resources: Resources{MemoryLimit: "much"}}, torch},
		"name too long":   {Train{Name: long, Workers: 2}, torch},
		"keys, no secret": {Train{Name: "x", Workers: 1, StorageKeys: []string{"K"}}, torch},
	} {
		if _, err := TrainJob(testModel("pytorch"), tc.train, tc.runtime); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMaxTrainJobName(t *testing.T) {
	// <name>-node-0-<index>-abcde must fit in 63 characters.
	for nodes, want := range map[int]int{1: 48, 10: 48, 11: 47, 100: 47, 101: 46} {
		if got := MaxTrainJobName(nodes); got != want {
			t.Errorf("MaxTrainJobName(%d) = %d, want %d", nodes, got, want)
		}
	}
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

func TestTrainJobStateOf(t *testing.T) {
	active := []any{map[string]any{"name": "node", "active": int64(1), "ready": int64(1)}}
	for _, tc := range []struct {
		name string
		job  *unstructured.Unstructured
		want string
		done bool
	}{
		{"new", trainJobObj(2, false, nil, nil, nil), "Created (2 nodes)", false},
		{"running", trainJobObj(2, false, []any{cond("Suspended", "False", "")}, active, nil), "Running (2 nodes; node: 1 active, 1 ready)", false},
		{"progress", trainJobObj(1, false, nil, active, map[string]any{"progressPercentage": int64(42), "estimatedRemainingSeconds": int64(190),
			"metrics": []any{map[string]any{"name": "loss", "value": "0.12"}}}), "Running (1 node; node: 1 active, 1 ready; 42%, about 3m10s left, loss=0.12)", false},
		{"suspended by its spec", trainJobObj(2, true, []any{cond("Suspended", "True", "TrainJob is suspended")}, nil, nil), "Suspended (2 nodes; TrainJob is suspended)", false},
		{"complete", trainJobObj(2, false, []any{cond("Complete", "True", "jobset completed")}, []any{map[string]any{"name": "node", "succeeded": int64(1)}}, nil), "Succeeded (2 nodes; node: 1 succeeded)", true},
		{"failed", trainJobObj(2, false, []any{cond("Failed", "True", "jobset failed: node-0 failed")}, nil, nil), "Failed: jobset failed: node-0 failed", true},
		{"its job's pods done, not yet complete", trainJobObj(2, false, nil, []any{map[string]any{"name": "node", "ready": int64(1)}}, nil), "Running (2 nodes; node: 1 ready)", false},
		{"complete, then suspended: still complete", trainJobObj(2, true, []any{cond("Complete", "True", ""), cond("Suspended", "True", "")}, nil, nil), "Succeeded (2 nodes)", true},
	} {
		st := StateOf(tc.job)
		if st.String() != tc.want || st.Finished() != tc.done {
			t.Errorf("%s: %q finished=%v, want %q finished=%v", tc.name, st.String(), st.Finished(), tc.want, tc.done)
		}
	}
}

func TestTrainJobPods(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{
		LabelJobSetName: "mnist-train-abc123", LabelReplicatedJobName: "node", LabelJobCompletionIndex: "1"}}}
	if got := ReplicaName(pod); got != "node-1" {
		t.Errorf("ReplicaName = %q, want node-1", got)
	}
	if got := PodSelector(KindTrainJob, "x"); got != "jobset.sigs.k8s.io/jobset-name=x" {
		t.Errorf("PodSelector(TrainJob) = %q", got)
	}
	if got := PodSelector(KindTFJob, "x"); got != "training.kubeflow.org/job-name=x" {
		t.Errorf("PodSelector(TFJob) = %q", got)
	}
}
