package plugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// DeleteOptions deletes one workload by name, or all that kaptain made.
type DeleteOptions struct {
	deps  *Deps
	All   bool
	Force bool
	Kind  string

	namespace string
	client    dynamic.Interface
	mapper    meta.RESTMapper
}

// NewCmdDelete returns kubectl kaptain delete.
func NewCmdDelete(d *Deps) *cobra.Command {
	o := &DeleteOptions{deps: d}
	cmd := &cobra.Command{
		ValidArgsFunction: completeGroupThenName(d, "job", "experiment", "inferenceservice", "build", "jobs", "experiments", "inferenceservices", "builds", "all"),
		Use:               "delete (job|experiment|inferenceservice|build NAME | jobs|experiments|inferenceservices|builds|all --all [--force])",
		Short:             "Delete a workload kaptain made, or all of them (the SDK's delete_*)",
		Long: `Delete one job, experiment or inference service by name, or with --all every one that
kaptain made in the namespace. Without --force, --all deletes only finished jobs and
experiments and inference services that are not ready; with --force, all of them. Objects
without the label app.kubernetes.io/managed-by=kubectl-kaptain are never deleted.`,
		Example: `  kubectl kaptain delete job dev-mnist-14fbf217-train-6f1c2b
  kubectl kaptain delete jobs --all
  kubectl kaptain delete all --all --force`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(args); err != nil {
				return err
			}
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), args)
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "Delete every object of the kinds that kaptain made (finished ones only, without --force).")
	cmd.Flags().BoolVar(&o.Force, "force", false, "With --all, delete running jobs and experiments and ready services too.")
	cmd.Flags().StringVar(&o.Kind, "kind", "", "The job's kind when NAME is ambiguous: tfjob or pytorchjob.")
	return cmd
}

// Validate checks the arguments; it is pure.
func (o *DeleteOptions) Validate(args []string) error {
	switch {
	case o.All && len(args) != 1:
		return sdkerr.New(sdkerr.Usage, "delete --all takes one of jobs, experiments, inferenceservices, builds or all, and no NAME")
	case !o.All && len(args) != 2:
		return sdkerr.New(sdkerr.Usage, "delete needs job, experiment, inferenceservice or build and a NAME, or --all")
	case o.Force && !o.All:
		return sdkerr.New(sdkerr.Usage, "--force only applies with --all")
	case o.Kind != "" && o.Kind != "tfjob" && o.Kind != "pytorchjob":
		return sdkerr.New(sdkerr.Usage, "--kind %q is not supported; use tfjob or pytorchjob", o.Kind)
	}
	_, err := kindsOf(args[0])
	return err
}

// Complete makes the clients.
func (o *DeleteOptions) Complete() error {
	var err error
	if o.namespace, _, err = o.deps.ConfigFlags.ToRawKubeConfigLoader().Namespace(); err != nil {
		return err
	}
	if o.client, err = o.deps.Factory.DynamicClient(); err != nil {
		return err
	}
	o.mapper, err = o.deps.Factory.ToRESTMapper()
	return err
}

// Run deletes.
func (o *DeleteOptions) Run(ctx context.Context, args []string) error {
	kinds, _ := kindsOf(args[0])
	if o.Kind != "" {
		var only []managedKind
		for _, k := range kinds {
			if strings.ToLower(k.GVK.Kind) == o.Kind {
				only = append(only, k)
			}
		}
		kinds = only
	}
	kinds, mappings, err := served(o.mapper, kinds, o.deps.progress().Printf)
	if err != nil {
		return err
	}
	if !o.All {
		return o.deleteNamed(ctx, kinds, mappings, args[1])
	}
	objs, err := listManaged(ctx, o.client, o.namespace, kinds, mappings)
	if err != nil {
		return err
	}
	kept := 0
	for _, mo := range objs {
		if !o.Force && !mo.kind.Finished(mo.obj) {
			kept++
			continue
		}
		if err := o.remove(ctx, mo.mapping.Resource, mo.obj); err != nil {
			return err
		}
	}
	if kept > 0 {
		o.deps.progress().Printf("kept %d running or ready %s; add --force to delete them too", kept, args[0])
	}
	return nil
}

func (o *DeleteOptions) deleteNamed(ctx context.Context, kinds []managedKind, mappings []*meta.RESTMapping, name string) error {
	var found []*unstructured.Unstructured
	var resources []schema.GroupVersionResource
	for i, m := range mappings {
		obj, err := o.client.Resource(m.Resource).Namespace(o.namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if !model.IsManaged(obj.GetLabels()) {
			return sdkerr.New(sdkerr.Unknown, "%s %s was not made by kubectl kaptain; delete it with kubectl if you mean to", strings.ToLower(kinds[i].GVK.Kind), name)
		}
		found = append(found, obj)
		resources = append(resources, m.Resource)
	}
	switch len(found) {
	case 0:
		return sdkerr.New(sdkerr.Unknown, "no %s named %s in namespace %s", kindNames(kinds), name, o.namespace)
	case 1:
		return o.remove(ctx, resources[0], found[0])
	}
	return sdkerr.New(sdkerr.Usage, "%s exists as %s; say which with --kind", name, kindNames(kinds))
}

func (o *DeleteOptions) remove(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	policy := metav1.DeletePropagationBackground
	err := o.client.Resource(gvr).Namespace(obj.GetNamespace()).Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s: %w", strings.ToLower(obj.GetKind()), obj.GetName(), err)
	}
	fmt.Fprintf(o.deps.Streams.Out, "%s.%s/%s deleted\n", strings.ToLower(obj.GetKind()), gvr.Group, obj.GetName())
	return nil
}

// managedObject is one object kaptain made, with its kind and resource.
type managedObject struct {
	kind    managedKind
	mapping *meta.RESTMapping
	obj     *unstructured.Unstructured
}

// listManaged lists the objects of kinds labelled as made by kaptain.
func listManaged(ctx context.Context, client dynamic.Interface, ns string, kinds []managedKind, mappings []*meta.RESTMapping) ([]managedObject, error) {
	var out []managedObject
	for i, m := range mappings {
		list, err := client.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: model.ManagedSelector})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", m.Resource.Resource, err)
		}
		for j := range list.Items {
			out = append(out, managedObject{kind: kinds[i], mapping: m, obj: &list.Items[j]})
		}
	}
	return out, nil
}
