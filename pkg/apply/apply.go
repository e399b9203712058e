// Package apply sends rendered objects to the cluster: server-side apply with the
// kubectl-kaptain field manager, server dry-run, dependency order, owner references between
// the objects of one action, and removal of what an action created when it fails.
package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// FieldManager is the field manager of every server-side apply.
const FieldManager = "kubectl-kaptain"

// Operation says what an apply did to an object.
type Operation string

// The operations, as kubectl prints them.
const (
	Created    Operation = "created"
	Configured Operation = "configured"
	Unchanged  Operation = "unchanged"
)

// Result is one applied object as the server returned it.
type Result struct {
	Object    *unstructured.Unstructured
	Operation Operation
}

// Applier applies the objects of one action.
type Applier struct {
	Client dynamic.Interface
	Mapper meta.RESTMapper
	// DryRun sends every request with dryRun=All.
	DryRun bool
	// ForceConflicts takes over fields owned by other managers.
	ForceConflicts bool
	// CleanupTimeout bounds the removal of created objects after a failure.
	CleanupTimeout time.Duration
}

// kindOrder is the dependency order: objects that others reference come first.
var kindOrder = []string{"Namespace", "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim", "Role", "RoleBinding", "TrainingRuntime"}

func rank(kind string) int {
	if i := slices.Index(kindOrder, kind); i >= 0 {
		return i
	}
	return len(kindOrder)
}

// Order sorts objects into dependency order, keeping the given order among equals.
func Order(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := slices.Clone(objs)
	slices.SortStableFunc(out, func(a, b *unstructured.Unstructured) int { return rank(a.GetKind()) - rank(b.GetKind()) })
	return out
}

type target struct {
	obj      *unstructured.Unstructured
	resource dynamic.ResourceInterface
	mapping  *meta.RESTMapping
}

// Apply resolves every object's resource first (so an unserved kind creates nothing), then
// applies them in dependency order and links owned objects to their owner. If any step fails
// or ctx is cancelled, the objects this call created are deleted again.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) ([]Result, error) {
	targets := make([]target, 0, len(objs))
	for _, obj := range Order(objs) {
		t, err := a.resolve(obj)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	// Owners that exist already are linked in the first pass, so that re-applying an
	// unchanged action changes nothing.
	owners := map[string]*metav1.OwnerReference{}
	for _, t := range targets {
		if link := t.obj.GetAnnotations()[render.AnnotationOwnedBy]; link != "" {
			if _, seen := owners[link]; !seen {
				ref, err := a.existingOwner(ctx, link, targets)
				if err != nil {
					return nil, err
				}
				owners[link] = ref
			}
		}
	}
	var created []target
	results := make([]Result, 0, len(targets))
	fail := func(err error) ([]Result, error) {
		if cerr := a.remove(created); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	for _, t := range targets {
		res, err := a.applyOne(ctx, t, owners[t.obj.GetAnnotations()[render.AnnotationOwnedBy]])
		if res.Operation == Created {
			// Also when the request failed: an interrupted create may have reached the server.
			created = append(created, t)
		}
		if err != nil {
			return fail(err)
		}
		results = append(results, res)
	}
	for i, t := range targets {
		link := t.obj.GetAnnotations()[render.AnnotationOwnedBy]
		if link == "" || owners[link] != nil {
			continue
		}
		ref, err := ownerReference(link, results)
		if err != nil {
			return fail(err)
		}
		res, err := a.applyOne(ctx, t, ref)
		if err != nil {
			return fail(err)
		}
		res.Operation = results[i].Operation
		results[i] = res
	}
	return results, nil
}

func (a *Applier) resolve(obj *unstructured.Unstructured) (target, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return target{}, sdkerr.Wrap(sdkerr.WorkloadDeployment, err,
				"the cluster does not serve %s (%s): %s", gvk.Kind, gvk.GroupVersion(), MissingOperatorHint(gvk))
		}
		return target{}, fmt.Errorf("finding the resource of %s: %w", gvk.Kind, err)
	}
	var ri dynamic.ResourceInterface = a.Client.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			return target{}, fmt.Errorf("%s %s has no namespace", gvk.Kind, obj.GetName())
		}
		ri = a.Client.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	}
	return target{obj: obj, resource: ri, mapping: mapping}, nil
}

// MissingOperatorHint names what to install for a kind the cluster does not serve.
func MissingOperatorHint(gvk schema.GroupVersionKind) string {
	switch {
	case gvk.Group == "kubeflow.org" && gvk.Kind == "Experiment":
		return "install Katib (kubeflow/katib) in the cluster"
	case gvk.Group == "kubeflow.org":
		return "install the Kubeflow Training Operator (kubeflow/training-operator) in the cluster"
	case gvk.Group == "trainer.kubeflow.org":
		return "install Kubeflow Trainer v2 (kubeflow/trainer) in the cluster"
	case gvk.Group == "serving.kserve.io" || gvk.Group == "serving.kubeflow.org":
		return "install KServe (kserve/kserve) in the cluster"
	}
	return "install the operator that provides it"
}

func (a *Applier) dryRun() []string {
	if a.DryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// applyOne applies one object. Its result's Operation is Created whenever the object did
// not exist before, even if the apply then failed.
func (a *Applier) applyOne(ctx context.Context, t target, owner *metav1.OwnerReference) (Result, error) {
	obj := t.obj
	if owner != nil {
		obj = obj.DeepCopy()
		obj.SetOwnerReferences([]metav1.OwnerReference{*owner})
	}
	what := fmt.Sprintf("%s %s", strings.ToLower(obj.GetKind()), obj.GetName())
	before, err := t.resource.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		before = nil
	case err != nil:
		return Result{}, classify(err, "reading "+what)
	}
	op := Configured
	if before == nil {
		op = Created
	}
	// An object of the same name that kaptain did not make (a Secret or ServiceAccount of
	// someone else's) is never taken over, nor are credentials merged into it.
	if before != nil && !model.IsManaged(before.GetLabels()) {
		return Result{}, sdkerr.New(sdkerr.WorkloadDeployment, "%s exists and was not made by kubectl kaptain (it has no %s=%s label): kaptain does not take it over; delete or rename it, or use another namespace",
			what, model.LabelManagedBy, model.ManagedByValue)
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return Result{Operation: op}, fmt.Errorf("encoding %s: %w", what, err)
	}
	after, err := t.resource.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		FieldManager: FieldManager,
		Force:        &a.ForceConflicts,
		DryRun:       a.dryRun(),
	})
	if err != nil {
		return Result{Operation: op}, classify(err, "applying "+what)
	}
	if before != nil && before.GetResourceVersion() == after.GetResourceVersion() {
		op = Unchanged
	}
	return Result{Object: after, Operation: op}, nil
}

// classify makes the server's refusal of an object a WorkloadDeployment error; transport
// failures and server unavailability stay unclassified.
func classify(err error, what string) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) && !apierrors.IsServerTimeout(err) && !apierrors.IsServiceUnavailable(err) &&
		!apierrors.IsTimeout(err) && !apierrors.IsTooManyRequests(err) && !apierrors.IsUnauthorized(err) {
		return sdkerr.Wrap(sdkerr.WorkloadDeployment, err, "%s", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// parseLink splits an owned-by link, "apiVersion/Kind/name".
func parseLink(link string) (apiVersion, kind, name string, err error) {
	i := strings.LastIndex(link, "/")
	j := strings.LastIndex(link[:max(i, 0)], "/")
	if i < 0 || j < 0 {
		return "", "", "", fmt.Errorf("owner link %q is not apiVersion/Kind/name", link)
	}
	return link[:j], link[j+1 : i], link[i+1:], nil
}

// existingOwner returns the reference to the owner a link names when it exists in the
// cluster already, or nil.
func (a *Applier) existingOwner(ctx context.Context, link string, targets []target) (*metav1.OwnerReference, error) {
	apiVersion, kind, name, err := parseLink(link)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if t.obj.GetAPIVersion() != apiVersion || t.obj.GetKind() != kind || t.obj.GetName() != name {
			continue
		}
		owner, err := t.resource.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, classify(err, "reading "+strings.ToLower(kind)+" "+name)
		}
		return reference(owner), nil
	}
	return nil, fmt.Errorf("owner %s %s is not among the objects of the action", kind, name)
}

// ownerReference resolves an owned-by link against applied results.
func ownerReference(link string, results []Result) (*metav1.OwnerReference, error) {
	apiVersion, kind, name, err := parseLink(link)
	if err != nil {
		return nil, err
	}
	for _, r := range results {
		o := r.Object
		if o.GetAPIVersion() == apiVersion && o.GetKind() == kind && o.GetName() == name {
			return reference(o), nil
		}
	}
	return nil, fmt.Errorf("owner %s %s of the action was not applied", kind, name)
}

// reference is an owner reference to owner, without blockOwnerDeletion: the background
// garbage collection that removes a Secret with its job does not need it, and setting it
// needs update rights on the owner's finalizers wherever the OwnerReferencesPermissionEnforcement
// admission plugin runs (OpenShift enables it).
func reference(owner *unstructured.Unstructured) *metav1.OwnerReference {
	return &metav1.OwnerReference{
		APIVersion: owner.GetAPIVersion(),
		Kind:       owner.GetKind(),
		Name:       owner.GetName(),
		UID:        owner.GetUID(),
	}
}

// remove deletes the given objects in reverse order, in the background, ignoring those
// already gone.
func (a *Applier) remove(ts []target) error {
	if len(ts) == 0 {
		return nil
	}
	timeout := a.CleanupTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	policy := metav1.DeletePropagationBackground
	for _, t := range slices.Backward(ts) {
		opts := metav1.DeleteOptions{PropagationPolicy: &policy, DryRun: a.dryRun()}
		// Only the object this action made: not one made anew under its name since.
		if uid := t.obj.GetUID(); uid != "" {
			opts.Preconditions = &metav1.Preconditions{UID: &uid}
		}
		err := t.resource.Delete(ctx, t.obj.GetName(), opts)
		if err != nil && !apierrors.IsNotFound(err) && (!apierrors.IsConflict(err) || opts.Preconditions == nil) {
			errs = append(errs, fmt.Errorf("removing %s %s: %w", strings.ToLower(t.obj.GetKind()), t.obj.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// Delete removes objs (in reverse dependency order, in the background) with a context of its
// own, so that it still runs after the action's context was cancelled by Ctrl-C. Objects
// already gone are not an error.
func (a *Applier) Delete(objs []*unstructured.Unstructured) error {
	var ts []target
	for _, obj := range Order(objs) {
		t, err := a.resolve(obj)
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	return a.remove(ts)
}
