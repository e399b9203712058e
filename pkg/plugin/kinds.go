package plugin

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// managedKind is a kind of workload kaptain makes. This list is the one place get, delete,
// clean and diagnose learn them from.
type managedKind struct {
	// Group is the word on the command line: jobs, experiments or inferenceservices.
	Group string
	// Singular is the single form: job, experiment, inferenceservice.
	Singular string
	GVK      schema.GroupVersionKind
	// Finished reports whether an object may go without --force: a finished job or
	// experiment, a service that is not ready.
	Finished func(*unstructured.Unstructured) bool
}

func finishedByConditions(obj *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if cond, ok := c.(map[string]any); ok && cond["status"] == "True" && (cond["type"] == "Succeeded" || cond["type"] == "Failed") {
			return true
		}
	}
	return false
}

var managedKinds = []managedKind{
	{"jobs", "job", schema.FromAPIVersionAndKind(workload.KubeflowGroupVersion, workload.KindTFJob), func(o *unstructured.Unstructured) bool { return workload.StateOf(o).Finished() }},
	{"jobs", "job", schema.FromAPIVersionAndKind(workload.KubeflowGroupVersion, workload.KindPyTorchJob), func(o *unstructured.Unstructured) bool { return workload.StateOf(o).Finished() }},
	{"experiments", "experiment", schema.FromAPIVersionAndKind("kubeflow.org/v1beta1", "Experiment"), finishedByConditions},
	{"inferenceservices", "inferenceservice", schema.FromAPIVersionAndKind(workload.KServeGroupVersion, workload.KindInferenceService), func(o *unstructured.Unstructured) bool { return !workload.ServiceStateOf(o).Ready }},
	// The cluster builder's Jobs: removed after success, so those left are failed or running.
	{"builds", "build", schema.FromAPIVersionAndKind("batch/v1", "Job"), func(o *unstructured.Unstructured) bool { return workload.BuildStateOf(o).Finished }},
}

// groupAliases maps what users type to a group.
var groupAliases = map[string]string{
	"jobs": "jobs", "job": "jobs", "tfjobs": "jobs", "pytorchjobs": "jobs",
	"experiments": "experiments", "experiment": "experiments",
	"inferenceservices": "inferenceservices", "inferenceservice": "inferenceservices", "isvc": "inferenceservices", "isvcs": "inferenceservices",
	"builds": "builds", "build": "builds",
	"all": "all",
}

// kindsOf returns the managed kinds of a group ("all" for every group).
func kindsOf(group string) ([]managedKind, error) {
	g, ok := groupAliases[strings.ToLower(group)]
	if !ok {
		return nil, sdkerr.New(sdkerr.Usage, "%q is not one of jobs, experiments, inferenceservices, builds or all", group)
	}
	var out []managedKind
	for _, k := range managedKinds {
		if g == "all" || k.Group == g {
			out = append(out, k)
		}
	}
	return out, nil
}

// served splits kinds into those the cluster serves, with their mappings, and warns once
// about each that it does not.
func served(mapper meta.RESTMapper, kinds []managedKind, warn func(string, ...any)) ([]managedKind, []*meta.RESTMapping, error) {
	var ok []managedKind
	var mappings []*meta.RESTMapping
	for _, k := range kinds {
		m, err := mapper.RESTMapping(k.GVK.GroupKind(), k.GVK.Version)
		if meta.IsNoMatchError(err) {
			warn("warning: the cluster does not serve %s (%s), skipped: %s", k.GVK.Kind, k.GVK.GroupVersion(), apply.MissingOperatorHint(k.GVK))
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("finding the resource of %s: %w", k.GVK.Kind, err)
		}
		ok = append(ok, k)
		mappings = append(mappings, m)
	}
	return ok, mappings, nil
}

// servedKindsOf returns the kinds of a group that the cluster serves, with their mappings,
// warning through warn about the others.
func servedKindsOf(d *Deps, group string, warn func(string, ...any)) ([]managedKind, []*meta.RESTMapping, error) {
	kinds, err := kindsOf(group)
	if err != nil {
		return nil, nil, err
	}
	mapper, err := d.Factory.ToRESTMapper()
	if err != nil {
		return nil, nil, err
	}
	return served(mapper, kinds, warn)
}

// kindNames lists the kinds as "tfjob, pytorchjob".
func kindNames(kinds []managedKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = strings.ToLower(k.GVK.Kind)
	}
	return strings.Join(slices.Compact(names), ", ")
}
