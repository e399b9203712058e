package inventory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Training runtimes' resources (Kubeflow Trainer v2).
var (
	ClusterTrainingRuntimes = schema.GroupVersionResource{Group: workload.TrainerGroup, Version: "v1alpha1", Resource: "clustertrainingruntimes"}
	TrainingRuntimes        = schema.GroupVersionResource{Group: workload.TrainerGroup, Version: "v1alpha1", Resource: "trainingruntimes"}
)

// TrainingAPIs says which training APIs the cluster serves for a framework: v1, the Training
// Operator's TFJob (tensorflow) or PyTorchJob (pytorch), and v2, Kubeflow Trainer's TrainJob.
func (inv *Inventory) TrainingAPIs(framework string) (v1, v2 bool, err error) {
	v1Kind := workload.KindTFJob
	if framework == "pytorch" {
		v1Kind = workload.KindPyTorchJob
	}
	served := func(gvk schema.GroupVersionKind) (bool, error) {
		_, err := inv.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("finding the resource of %s: %w", gvk.Kind, err)
		}
		return true, nil
	}
	if v1, err = served(schema.FromAPIVersionAndKind(workload.KubeflowGroupVersion, v1Kind)); err != nil {
		return false, false, err
	}
	v2, err = served(schema.FromAPIVersionAndKind(workload.TrainerGroupVersion, workload.KindTrainJob))
	return v1, v2, err
}

// ChooseTrainingAPI picks the training API of a job: the one asked for (flag or kaptain.yaml),
// else what the cluster serves (v1 and v2 say whether it serves the framework's v1 kind and
// TrainJob). A pytorch model takes TrainJob when the cluster serves it, PyTorchJob otherwise;
// a tensorflow model stays on TFJob, as Trainer v2 has no TensorFlow runtime: on a cluster
// with TrainJob only, it needs a runtime of the user's own (runtimeGiven) and v2 asked for.
// When the cluster serves neither, v1 is chosen and the apply names the operator to install.
func ChooseTrainingAPI(framework, asked string, runtimeGiven, v1, v2 bool) (string, error) {
	if asked != "" {
		return asked, nil
	}
	switch {
	case framework == "pytorch" && v2:
		return model.TrainingAPIV2, nil
	case framework == "tensorflow" && !v1 && v2:
		hint := "or run it on a TensorFlow runtime of your own with --training-api v2 --runtime NAME"
		if runtimeGiven {
			hint = "or ask for that runtime with --training-api v2"
		}
		return "", sdkerr.New(sdkerr.WorkloadDeployment,
			"the cluster serves Kubeflow Trainer v2 (TrainJob) but not the Training Operator's TFJob, and Trainer v2 has no TensorFlow runtime: "+
				"install the Kubeflow Training Operator v1 (kubeflow/training-operator, release-1.9) for TFJob, %s", hint)
	}
	return model.TrainingAPIV1, nil
}

// TrainingRuntime reads the runtime of a TrainJob (a ClusterTrainingRuntime, or a
// TrainingRuntime of the namespace) and returns its framework label ("torch", or "" when it
// has none). A runtime that does not exist is an error that lists the runtimes there are.
func (inv *Inventory) TrainingRuntime(ctx context.Context, kind, name string) (framework string, err error) {
	res := inv.Dynamic.Resource(ClusterTrainingRuntimes)
	get := res.Get
	if kind == model.KindTrainingRuntime {
		get = inv.Dynamic.Resource(TrainingRuntimes).Namespace(inv.Namespace).Get
	}
	obj, err := get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return obj.GetLabels()[workload.LabelRuntimeFramework], nil
	}
	if apierrors.IsForbidden(err) {
		return "", &RuntimeUnreadableError{Kind: kind, Name: name, Err: err}
	}
	if !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("reading %s %s: %w", strings.ToLower(kind), name, err)
	}
	have, lerr := inv.runtimes(ctx)
	if lerr != nil {
		return "", fmt.Errorf("%s %q not found, and listing the runtimes failed: %w", kind, name, lerr)
	}
	if len(have) == 0 {
		return "", sdkerr.New(sdkerr.WorkloadDeployment, "%s %q not found, and the cluster has no training runtimes: install Kubeflow Trainer's runtimes (e.g. torch-distributed)", kind, name)
	}
	return "", sdkerr.New(sdkerr.WorkloadDeployment, "%s %q not found; choose one with --runtime: %s", kind, name, strings.Join(have, ", "))
}

// RuntimeUnreadableError is a runtime the user may not read (the ClusterTrainingRuntimes are
// cluster-wide, and a RoleBinding grants none): whether it exists is left to Trainer's webhook.
type RuntimeUnreadableError struct {
	Kind, Name string
	Err        error
}

func (e *RuntimeUnreadableError) Error() string {
	return fmt.Sprintf("cannot read %s %s: %v", e.Kind, e.Name, e.Err)
}

func (e *RuntimeUnreadableError) Unwrap() error { return e.Err }

// runtimes lists the cluster's ClusterTrainingRuntimes and the namespace's TrainingRuntimes
// as "name (framework)", the namespaced ones as "trainingruntime/name (framework)".
func (inv *Inventory) runtimes(ctx context.Context) ([]string, error) {
	var out []string
	describe := func(prefix, name string, labels map[string]string) string {
		fw := labels[workload.LabelRuntimeFramework]
		if fw == "" {
			fw = "framework not labelled"
		}
		return fmt.Sprintf("%s%s (%s)", prefix, name, fw)
	}
	cluster, err := inv.Dynamic.Resource(ClusterTrainingRuntimes).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, r := range cluster.Items {
		out = append(out, describe("", r.GetName(), r.GetLabels()))
	}
	local, err := inv.Dynamic.Resource(TrainingRuntimes).Namespace(inv.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
		return nil, err
	}
	if err == nil {
		for _, r := range local.Items {
			out = append(out, describe("trainingruntime/", r.GetName(), r.GetLabels()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// Expired returns the finished jobs whose model.AnnotationTTLSecondsAfterFinished has passed
// at now: a TrainJob has no TTL of its own, so clean honours the one train was given. A job
// ends at the last transition of its Complete or Failed condition.
func (inv *Inventory) Expired(ctx context.Context, served []Served, now time.Time) ([]Object, error) {
	objs, err := inv.List(ctx, served)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, o := range objs {
		ttl, err := strconv.Atoi(o.Obj.GetAnnotations()[model.AnnotationTTLSecondsAfterFinished])
		if err != nil || ttl < 0 || !o.Finished(o.Obj) {
			continue
		}
		if end, ok := finishedAt(o.Obj); ok && !now.Before(end.Add(time.Duration(ttl)*time.Second)) {
			out = append(out, o)
		}
	}
	return out, nil
}

// finishedAt is when a job's Complete, Succeeded or Failed condition became true.
func finishedAt(obj *unstructured.Unstructured) (time.Time, bool) {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok || cond["status"] != "True" {
			continue
		}
		switch cond["type"] {
		case "Complete", "Succeeded", "Failed":
			at, err := time.Parse(time.RFC3339, fmt.Sprint(cond["lastTransitionTime"]))
			return at, err == nil
		}
	}
	return time.Time{}, false
}
