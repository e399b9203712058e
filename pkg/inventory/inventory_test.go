package inventory

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

const ns = "team-a"

var (
	tfJobs      = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1", Resource: "tfjobs"}
	pyTorchJobs = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1", Resource: "pytorchjobs"}
	isvcs       = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	batchJobs   = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	trainJobs   = schema.GroupVersionResource{Group: "trainer.kubeflow.org", Version: "v1alpha1", Resource: "trainjobs"}
)

// obj is an object of apiVersion/kind; managed ones carry kubectl kaptain's label; a
// condition of type phase is true when phase is set.
func obj(apiVersion, kind, name string, managed bool, phase string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	u.SetName(name)
	u.SetNamespace(ns)
	if managed {
		u.SetLabels(map[string]string{model.LabelManagedBy: model.ManagedByValue})
	}
	if phase != "" {
		u.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": phase, "status": "True", "message": phase + " here"}}}
	}
	return u
}

// newInventory is a fake cluster serving every managed kind but Katib's Experiment.
func newInventory(objs ...runtime.Object) *Inventory {
	listKinds := map[schema.GroupVersionResource]string{
		tfJobs: "TFJobList", pyTorchJobs: "PyTorchJobList", trainJobs: "TrainJobList", isvcs: "InferenceServiceList", batchJobs: "JobList",
		Secrets: "SecretList", ServiceAccounts: "ServiceAccountList",
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, k := range Kinds() {
		if k.Group != Experiments {
			mapper.Add(k.GVK, meta.RESTScopeNamespace)
		}
	}
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"}, meta.RESTScopeNamespace)
	return &Inventory{
		Dynamic:   dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, objs...),
		Kube:      fake.NewClientset(),
		Mapper:    mapper,
		Namespace: ns,
	}
}

func TestKindsOf(t *testing.T) {
	for group, want := range map[string]string{
		"jobs": "tfjob, pytorchjob, trainjob", "tfjob": "tfjob, pytorchjob, trainjob", "isvc": "inferenceservice",
		"experiment": "experiment", "builds": "job", "all": "tfjob, pytorchjob, trainjob, experiment, inferenceservice, job",
	} {
		kinds, err := KindsOf(group)
		if err != nil || Names(kinds) != want {
			t.Errorf("KindsOf(%q) = %s, %v; want %s", group, Names(kinds), err, want)
		}
	}
	if _, err := KindsOf("pods"); sdkerr.ClassOf(err) != sdkerr.Usage {
		t.Errorf("KindsOf(pods): %v, want a usage error", err)
	}
	jobs, _ := KindsOf(Jobs)
	for _, kind := range []string{"tfjob", "pytorchjob", "trainjob", "TrainJob"} {
		if only, err := Only(jobs, kind); err != nil || Names(only) != strings.ToLower(kind) {
			t.Errorf("Only(%s) = %s, %v", kind, Names(only), err)
		}
	}
	if _, err := Only(jobs, "experiment"); sdkerr.ClassOf(err) != sdkerr.Usage || !strings.Contains(err.Error(), `--kind "experiment" is not one of tfjob, pytorchjob, trainjob`) {
		t.Errorf("Only(experiment) of jobs: %v", err)
	}
}

func TestServeWarnsAboutKindsTheClusterLacks(t *testing.T) {
	inv := newInventory()
	var warnings bytes.Buffer
	served, err := inv.Serve(Kinds(), Warn(func(f string, _ ...any) { warnings.WriteString(strings.TrimSpace(f) + "\n") }))
	if err != nil {
		t.Fatal(err)
	}
	if len(served) != len(Kinds())-1 {
		t.Errorf("served %d kinds, want all but the Experiment", len(served))
	}
	if strings.Count(warnings.String(), "\n") != 1 {
		t.Errorf("warnings:\n%s", warnings.String())
	}
}

func TestFindOne(t *testing.T) {
	inv := newInventory(
		obj("kubeflow.org/v1", "TFJob", "mine", true, ""),
		obj("kubeflow.org/v1", "TFJob", "theirs", false, ""),
		obj("kubeflow.org/v1", "TFJob", "both", true, ""),
		obj("kubeflow.org/v1", "PyTorchJob", "both", true, ""),
	)
	jobs, _ := KindsOf(Jobs)
	served, err := inv.Serve(jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := inv.FindOne(context.Background(), served, "mine"); err != nil || o.GVK.Kind != "TFJob" || o.Container != "tensorflow" {
		t.Errorf("FindOne(mine) = %v, %v", o, err)
	}
	for name, want := range map[string]string{
		"missing": "no tfjob, pytorchjob, trainjob named missing in namespace team-a",
		"theirs":  "tfjob theirs was not made by kubectl kaptain",
		"both":    "both exists as tfjob, pytorchjob; say which with --kind",
	} {
		if _, err := inv.FindOne(context.Background(), served, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("FindOne(%s) = %v, want %q", name, err, want)
		}
	}
}

func TestPruneKeepsWhatIsRunningUnlessForced(t *testing.T) {
	inv := newInventory(
		obj("kubeflow.org/v1", "TFJob", "done", true, "Succeeded"),
		obj("kubeflow.org/v1", "TFJob", "running", true, "Running"),
		obj("kubeflow.org/v1", "TFJob", "users", false, "Succeeded"),
		obj("batch/v1", "Job", "failed-build", true, "Failed"),
	)
	served, _ := inv.Serve(Kinds(), nil)
	objs, err := inv.List(context.Background(), served)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("listed %d managed objects, want 3 (not the user's)", len(objs))
	}
	var deleted []string
	kept, err := inv.Prune(context.Background(), served, false, func(n string) { deleted = append(deleted, n) })
	if err != nil || kept != 1 || strings.Join(deleted, " ") != "tfjob.kubeflow.org/done job.batch/failed-build" {
		t.Errorf("Prune: kept %d, deleted %v, %v", kept, deleted, err)
	}
	if kept, _ := inv.Prune(context.Background(), served, true, func(string) {}); kept != 0 {
		t.Errorf("Prune --force kept %d", kept)
	}
	if _, err := inv.Dynamic.Resource(tfJobs).Namespace(ns).Get(context.Background(), "users", metav1.GetOptions{}); err != nil {
		t.Errorf("the user's job was deleted: %v", err)
	}
}

func TestCredentialsAreStaleWhenNothingUsesThem(t *testing.T) {
	job := obj("kubeflow.org/v1", "TFJob", "j", true, "")
	job.Object["spec"] = map[string]any{"template": map[string]any{"envFrom": []any{map[string]any{"secretRef": map[string]any{"name": "used"}}}}}
	sa := obj("v1", "ServiceAccount", "sa-used", true, "")
	sa.Object["secrets"] = []any{map[string]any{"name": "via-sa"}}
	isvc := obj("serving.kserve.io/v1beta1", "InferenceService", "svc", true, "")
	isvc.Object["spec"] = map[string]any{"predictor": map[string]any{"serviceAccountName": "sa-used"}}
	inv := newInventory(job, sa, isvc,
		obj("v1", "Secret", "used", true, ""), obj("v1", "Secret", "via-sa", true, ""),
		obj("v1", "Secret", "stale", true, ""), obj("v1", "ServiceAccount", "sa-stale", true, ""),
		obj("v1", "Secret", "users", false, ""))
	served, _ := inv.Serve(Kinds(), nil)
	creds, err := inv.Credentials(context.Background(), served)
	if err != nil {
		t.Fatal(err)
	}
	var stale, inUse []string
	for _, c := range creds {
		if c.Stale {
			stale = append(stale, c.Obj.GetName())
		} else {
			inUse = append(inUse, c.Obj.GetName())
		}
	}
	if strings.Join(stale, " ") != "sa-stale stale" || len(inUse) != 3 {
		t.Errorf("stale %v, in use %v", stale, inUse)
	}
}

func TestFindingsComeFromTheStateReaders(t *testing.T) {
	noMetrics := obj("kubeflow.org/v1beta1", "Experiment", "e", true, "Running")
	noMetrics.Object["status"].(map[string]any)["trialMetricsUnavailable"] = int64(3)
	for _, tc := range []struct {
		obj                    *unstructured.Unstructured
		group, status, problem string
	}{
		{obj("kubeflow.org/v1", "TFJob", "j", true, "Failed"), Jobs, "Failed", "failed: Failed here"},
		{obj("kubeflow.org/v1beta1", "Experiment", "e", true, "Succeeded"), Experiments, "Succeeded", ""},
		{obj("kubeflow.org/v1beta1", "Experiment", "e", true, "Failed"), Experiments, "Failed", "failed: Failed here"},
		{obj("batch/v1", "Job", "b", true, "Failed"), Builds, "Failed", "image build failed: Failed here"},
		{obj("batch/v1", "Job", "b", true, ""), Builds, "Running", ""},
		{noMetrics, Experiments, "Running", "its first 3 trials reported no metrics: the trainer prints no name=value lines, or Katib's collector was not injected"},
	} {
		f := Object{Served: Served{Kind: Kind{Group: tc.group}}, Obj: tc.obj}.Finding()
		if f.Status != tc.status || f.Problem != tc.problem {
			t.Errorf("%s %s: finding %+v, want status %q problem %q", tc.group, tc.obj.GetName(), f, tc.status, tc.problem)
		}
	}
}
