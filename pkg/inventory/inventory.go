// Package inventory knows what kubectl kaptain made in a cluster: the managed kinds (one
// table), which of them the cluster serves, listing and finding objects by name, which
// credentials went stale, what is wrong with each object (diagnose) and what to say about one
// (describe). Commands get, delete, clean, diagnose, describe, logs and undeploy read it.
//
// Adding a kind is one row of Kinds.
package inventory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Groups of kinds, as users name them on the command line.
const (
	Jobs              = "jobs"
	Experiments       = "experiments"
	InferenceServices = "inferenceservices"
	Builds            = "builds"
	All               = "all"
)

// Kind is a kind of object kubectl kaptain makes.
type Kind struct {
	// Group is the word on the command line: jobs, experiments, inferenceservices or builds.
	Group string
	GVK   schema.GroupVersionKind
	// Container is the main container of a training kind's replicas.
	Container string
	// Finished reports whether an object may go without --force: a finished job or
	// experiment, a service that is not ready.
	Finished func(*unstructured.Unstructured) bool
	// PodSelector selects an object's pods, when it has pods of its own.
	PodSelector func(*unstructured.Unstructured) string
}

// Kinds is the table of managed kinds, the one place every command learns them from.
func Kinds() []Kind {
	training := func(o *unstructured.Unstructured) bool { return workload.StateOf(o).Finished() }
	jobPods := func(o *unstructured.Unstructured) string { return workload.PodSelector(o.GetKind(), o.GetName()) }
	return []Kind{
		{Jobs, schema.FromAPIVersionAndKind(workload.KubeflowGroupVersion, workload.KindTFJob), "tensorflow", training, jobPods},
		{Jobs, schema.FromAPIVersionAndKind(workload.KubeflowGroupVersion, workload.KindPyTorchJob), "pytorch", training, jobPods},
		{Jobs, schema.FromAPIVersionAndKind(workload.TrainerGroupVersion, workload.KindTrainJob), workload.TrainerNode, training, jobPods},
		{Experiments, schema.FromAPIVersionAndKind(workload.KatibGroupVersion, workload.KindExperiment), "",
			func(o *unstructured.Unstructured) bool { return workload.ExperimentStateOf(o).Finished() }, nil},
		{InferenceServices, schema.FromAPIVersionAndKind(workload.KServeGroupVersion, workload.KindInferenceService), "",
			func(o *unstructured.Unstructured) bool { return !workload.ServiceStateOf(o).Ready },
			func(o *unstructured.Unstructured) string { return workload.LabelInferenceService + "=" + o.GetName() }},
		// The cluster builder's Jobs: removed after success, so those left are failed or running.
		{Builds, schema.FromAPIVersionAndKind("batch/v1", "Job"), workload.BuilderContainer,
			func(o *unstructured.Unstructured) bool { return workload.BuildStateOf(o).Finished },
			func(o *unstructured.Unstructured) string { return "batch.kubernetes.io/job-name=" + o.GetName() }},
	}
}

// aliases maps what users type to a group.
var aliases = map[string]string{
	"jobs": Jobs, "job": Jobs, "tfjobs": Jobs, "tfjob": Jobs, "pytorchjobs": Jobs, "pytorchjob": Jobs, "trainjobs": Jobs, "trainjob": Jobs,
	"experiments": Experiments, "experiment": Experiments,
	"inferenceservices": InferenceServices, "inferenceservice": InferenceServices, "isvc": InferenceServices, "isvcs": InferenceServices,
	"builds": Builds, "build": Builds,
	"all": All,
}

// KindsOf returns the kinds of a group as users name it ("all" for every group).
func KindsOf(group string) ([]Kind, error) {
	g, ok := aliases[strings.ToLower(group)]
	if !ok {
		return nil, sdkerr.New(sdkerr.Usage, "%q is not one of jobs, experiments, inferenceservices, builds or all", group)
	}
	var out []Kind
	for _, k := range Kinds() {
		if g == All || k.Group == g {
			out = append(out, k)
		}
	}
	return out, nil
}

// Only keeps the kinds named kind (e.g. "tfjob"); all of them when kind is empty.
func Only(kinds []Kind, kind string) []Kind {
	if kind == "" {
		return kinds
	}
	var out []Kind
	for _, k := range kinds {
		if strings.EqualFold(k.GVK.Kind, kind) {
			out = append(out, k)
		}
	}
	return out
}

// Names lists kinds as "tfjob, pytorchjob".
func Names(kinds []Kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = strings.ToLower(k.GVK.Kind)
	}
	return strings.Join(slices.Compact(names), ", ")
}

// Served is a kind the cluster serves, with its resource.
type Served struct {
	Kind
	Mapping *meta.RESTMapping
}

// Object is one object kubectl kaptain made.
type Object struct {
	Served
	Obj *unstructured.Unstructured
}

// Inventory reads one namespace of a cluster.
type Inventory struct {
	Dynamic dynamic.Interface
	Kube    kubernetes.Interface
	// Metadata, when set, lists Secrets by their metadata only: clean and diagnose need
	// no Secret's values.
	Metadata  metadata.Interface
	Mapper    meta.RESTMapper
	Namespace string
}

// Serve returns the kinds the cluster serves, with their resources; each kind it does not
// serve is passed to missing with what to install, when missing is set.
func (inv *Inventory) Serve(kinds []Kind, missing func(k Kind, hint string)) ([]Served, error) {
	var out []Served
	for _, k := range kinds {
		m, err := inv.Mapper.RESTMapping(k.GVK.GroupKind(), k.GVK.Version)
		if meta.IsNoMatchError(err) {
			if missing != nil {
				missing(k, apply.MissingOperatorHint(k.GVK))
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("finding the resource of %s: %w", k.GVK.Kind, err)
		}
		out = append(out, Served{Kind: k, Mapping: m})
	}
	return out, nil
}

// Warn returns a missing-kind callback that prints a warning with printf.
func Warn(printf func(string, ...any)) func(Kind, string) {
	return func(k Kind, hint string) {
		printf("warning: the cluster does not serve %s (%s), skipped: %s", k.GVK.Kind, k.GVK.GroupVersion(), hint)
	}
}

func (inv *Inventory) resource(s Served) dynamic.ResourceInterface {
	return inv.Dynamic.Resource(s.Mapping.Resource).Namespace(inv.Namespace)
}

// List returns the objects of the served kinds labelled as made by kubectl kaptain.
func (inv *Inventory) List(ctx context.Context, served []Served) ([]Object, error) {
	var out []Object
	for _, s := range served {
		list, err := inv.resource(s).List(ctx, metav1.ListOptions{LabelSelector: model.ManagedSelector})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", s.Mapping.Resource.Resource, err)
		}
		for i := range list.Items {
			out = append(out, Object{Served: s, Obj: &list.Items[i]})
		}
	}
	return out, nil
}

// Find returns the objects named name among the served kinds, whoever made them.
func (inv *Inventory) Find(ctx context.Context, served []Served, name string) ([]Object, error) {
	var out []Object
	for _, s := range served {
		obj, err := inv.resource(s).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			out = append(out, Object{Served: s, Obj: obj})
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("reading %s %s: %w", strings.ToLower(s.GVK.Kind), name, err)
		}
	}
	return out, nil
}

// FindOf returns the objects named name among the kinds the cluster serves, whoever made
// them; the kinds it does not serve are skipped.
func (inv *Inventory) FindOf(ctx context.Context, kinds []Kind, name string) ([]Object, error) {
	served, err := inv.Serve(kinds, nil)
	if err != nil {
		return nil, err
	}
	return inv.Find(ctx, served, name)
}

// FindOne returns the one managed object named name among the served kinds: none, one made
// by someone else, or one of several kinds are errors that say what to do.
func (inv *Inventory) FindOne(ctx context.Context, served []Served, name string) (Object, error) {
	found, err := inv.Find(ctx, served, name)
	if err != nil {
		return Object{}, err
	}
	kinds := make([]Kind, len(served))
	for i, s := range served {
		kinds[i] = s.Kind
	}
	switch {
	case len(found) == 0:
		return Object{}, sdkerr.New(sdkerr.Unknown, "no %s named %s in namespace %s", Names(kinds), name, inv.Namespace)
	case len(found) > 1:
		foundKinds := make([]Kind, len(found))
		for i, o := range found {
			foundKinds[i] = o.Kind
		}
		return Object{}, sdkerr.New(sdkerr.Usage, "%s exists as %s; say which with --kind", name, Names(foundKinds))
	case !model.IsManaged(found[0].Obj.GetLabels()):
		return Object{}, sdkerr.New(sdkerr.Unknown, "%s %s was not made by kubectl kaptain; delete it with kubectl if you mean to", strings.ToLower(found[0].GVK.Kind), name)
	}
	return found[0], nil
}

// Delete removes an object in the background (its owned objects go with it), and returns
// how kubectl names it ("tfjob.kubeflow.org/x"). An object already gone is not an error.
func (inv *Inventory) Delete(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, dryRun bool) (string, error) {
	policy := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &policy}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	err := inv.Dynamic.Resource(gvr).Namespace(obj.GetNamespace()).Delete(ctx, obj.GetName(), opts)
	name := strings.ToLower(obj.GetKind())
	if gvr.Group != "" {
		name += "." + gvr.Group
	}
	name += "/" + obj.GetName()
	if err != nil && !apierrors.IsNotFound(err) {
		return name, fmt.Errorf("deleting %s: %w", name, err)
	}
	return name, nil
}

// Prune deletes the managed objects of the served kinds that finished (all of them with
// force), reporting each deletion to deleted, and returns how many it kept.
func (inv *Inventory) Prune(ctx context.Context, served []Served, force bool, deleted func(name string)) (kept int, err error) {
	objs, err := inv.List(ctx, served)
	if err != nil {
		return 0, err
	}
	for _, o := range objs {
		if !force && !o.Finished(o.Obj) {
			kept++
			continue
		}
		name, err := inv.Delete(ctx, o.Mapping.Resource, o.Obj, false)
		if err != nil {
			return kept, err
		}
		deleted(name)
	}
	return kept, nil
}
