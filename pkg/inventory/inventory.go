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
	"github.com/kaptain-dev/kubectl-kaptain/pkg/platform"
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
	// Finished reports whether an object may go without --force: a finished job or
	// experiment, a service that is not ready.
	Finished func(*unstructured.Unstructured) bool
	// PodSelector selects an object's pods, when it has pods of its own; LogPods those whose
	// Container prints its output (all of them when nil).
	PodSelector, LogPods func(*unstructured.Unstructured) string
	// Container is the container of those pods that runs the workload's code.
	Container string
	// Wide are the columns 'get -o wide' adds to the server's table.
	Wide []Column
}

// Kinds is the table of managed kinds, the one place every command learns them from.
func Kinds() []Kind {
	var out []Kind
	// The training kinds: each job is read by its own kind (a TrainJob's by its runtime's).
	for _, k := range workload.TrainingKinds() {
		out = append(out, Kind{
			Group: Jobs, GVK: k.GVK(), Container: k.Container(),
			Finished:    func(o *unstructured.Unstructured) bool { return workload.StateOf(o).Finished() },
			PodSelector: func(o *unstructured.Unstructured) string { return workload.KindOf(o).PodSelector(o.GetName()) },
			LogPods:     func(o *unstructured.Unstructured) string { return workload.KindOf(o).LogSelector(o.GetName()) },
		})
	}
	return append(out,
		Kind{Group: Experiments, GVK: schema.FromAPIVersionAndKind(workload.KatibGroupVersion, workload.KindExperiment),
			Finished: func(o *unstructured.Unstructured) bool { return workload.ExperimentStateOf(o).Finished() },
			Wide: []Column{
				{Name: "Best Trial", Description: "The trial with the best objective so far", Cell: func(o *unstructured.Unstructured) string { return workload.ExperimentStateOf(o).BestTrial }},
				{Name: "Best Objective", Description: "The objective metric's value in the best trial", Cell: workload.BestObjective},
			}},
		Kind{Group: InferenceServices, GVK: schema.FromAPIVersionAndKind(workload.KServeGroupVersion, workload.KindInferenceService),
			Finished:    func(o *unstructured.Unstructured) bool { return !workload.ServiceStateOf(o).Ready },
			PodSelector: func(o *unstructured.Unstructured) string { return workload.LabelInferenceService + "=" + o.GetName() }},
		// The cluster builder's Jobs: removed after success, so those left are failed or running.
		Kind{Group: Builds, GVK: schema.FromAPIVersionAndKind("batch/v1", "Job"), Container: workload.BuilderContainer,
			Finished:    func(o *unstructured.Unstructured) bool { return workload.BuildStateOf(o).Finished },
			PodSelector: func(o *unstructured.Unstructured) string { return "batch.kubernetes.io/job-name=" + o.GetName() }},
	)
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

// Only keeps the kinds named kind (e.g. "trainjob", as --kind gives it); all of them when kind
// is empty. A kind that is not among them is a usage error that lists those that are.
func Only(kinds []Kind, kind string) ([]Kind, error) {
	if kind == "" {
		return kinds, nil
	}
	var out []Kind
	for _, k := range kinds {
		if strings.EqualFold(k.GVK.Kind, kind) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, sdkerr.New(sdkerr.Usage, "--kind %q is not one of %s", kind, Names(kinds))
	}
	return out, nil
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

// Cluster reads what the inventory's namespace of the cluster serves, with its clients.
func (inv *Inventory) Cluster() *platform.Cluster {
	return &platform.Cluster{Dynamic: inv.Dynamic, Kube: inv.Kube, Mapper: inv.Mapper, Namespace: inv.Namespace}
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

// FindUnique returns the one object named name among the served kinds, whoever made it:
// none, or one of several kinds, are errors that say what to do (the same for every command).
func (inv *Inventory) FindUnique(ctx context.Context, served []Served, name string) (Object, error) {
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
		return Object{}, sdkerr.New(sdkerr.Usage, "%s exists as %s; say which with --kind %s", name, Names(foundKinds), strings.ToLower(foundKinds[0].GVK.Kind))
	}
	return found[0], nil
}

// FindOne is FindUnique of a managed object: one made by someone else is an error.
func (inv *Inventory) FindOne(ctx context.Context, served []Served, name string) (Object, error) {
	o, err := inv.FindUnique(ctx, served, name)
	if err == nil && !model.IsManaged(o.Obj.GetLabels()) {
		return Object{}, sdkerr.New(sdkerr.Unknown, "%s %s was not made by kubectl kaptain; delete it with kubectl if you mean to", strings.ToLower(o.GVK.Kind), name)
	}
	return o, err
}

// Delete removes an object in the background (its owned objects go with it), and returns
// how kubectl names it ("tfjob.kubeflow.org/x"). An object already gone is not an error, nor
// is one made anew under the same name since obj was read (its UID differs): that one is
// left alone.
func (inv *Inventory) Delete(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, dryRun bool) (string, error) {
	policy := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &policy}
	if uid := obj.GetUID(); uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	err := inv.Dynamic.Resource(gvr).Namespace(obj.GetNamespace()).Delete(ctx, obj.GetName(), opts)
	name := strings.ToLower(obj.GetKind())
	if gvr.Group != "" {
		name += "." + gvr.Group
	}
	name += "/" + obj.GetName()
	if err != nil && !apierrors.IsNotFound(err) && (!apierrors.IsConflict(err) || opts.Preconditions == nil) {
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
