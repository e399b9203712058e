package plugin

import (
	"context"
	"fmt"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// NewCmdClean returns kubectl kaptain clean.
func NewCmdClean(d *Deps) *cobra.Command {
	del := &DeleteOptions{deps: d}
	cmd := &cobra.Command{
		Use:   "clean [--all] [--force]",
		Short: "Delete stale Secrets and ServiceAccounts kaptain made; with --all, finished workloads too (the SDK's clean, clean_all)",
		Long: `Find the Secrets and ServiceAccounts kaptain made that no workload uses any more: their
owner is gone and no job, experiment or inference service names them.

WARNING: use with caution. Without --force, clean only prints what it would delete; check
the list, then run it again with --force.

With --all, it also deletes the workloads kaptain made, as 'delete all --all' does: without
--force only finished jobs and experiments and services that are not ready, with --force all
of them. Model records (ConfigMaps kaptain-model-*) are kept.`,
		Example: `  kubectl kaptain clean            # what would go
  kubectl kaptain clean --force    # delete it
  kubectl kaptain clean --all --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := del.Complete(); err != nil {
				return err
			}
			ctx := cmd.Context()
			if del.All {
				if err := del.Run(ctx, []string{"all"}); err != nil {
					return err
				}
			}
			stale, err := staleCredentials(ctx, del)
			if err != nil {
				return err
			}
			for _, s := range stale {
				if !del.Force {
					fmt.Fprintf(d.Streams.Out, "%s/%s would be deleted (not used by any workload)\n", s.resource.Resource, s.obj.GetName())
					continue
				}
				if err := del.remove(ctx, s.resource, s.obj); err != nil {
					return err
				}
			}
			if len(stale) > 0 && !del.Force {
				d.progress().Printf("nothing was deleted; check the list, then run again with --force")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&del.All, "all", false, "Also delete the workloads kaptain made (finished ones only, without --force).")
	cmd.Flags().BoolVar(&del.Force, "force", false, "Delete, instead of printing what would be deleted.")
	return cmd
}

type staleObject struct {
	resource schema.GroupVersionResource
	obj      *unstructured.Unstructured
}

// staleCredentials returns the Secrets and ServiceAccounts kaptain made that no live owner
// holds and no workload names.
func staleCredentials(ctx context.Context, o *DeleteOptions) ([]staleObject, error) {
	kinds, mappings, err := served(o.mapper, managedKinds, func(string, ...any) {})
	if err != nil {
		return nil, err
	}
	workloads, err := listManaged(ctx, o.client, o.namespace, kinds, mappings)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, w := range workloads {
		referencedNames(w.obj.Object, used)
	}
	selector := metav1.ListOptions{LabelSelector: model.ManagedSelector}
	serviceAccounts := schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	secrets := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	var stale []staleObject
	// ServiceAccounts first: a used one makes its Secrets used.
	for _, gvr := range []schema.GroupVersionResource{serviceAccounts, secrets} {
		list, err := o.client.Resource(gvr).Namespace(o.namespace).List(ctx, selector)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		for i := range list.Items {
			obj := &list.Items[i]
			live, err := ownerAlive(ctx, o, obj)
			if err != nil {
				return nil, err
			}
			if live || used[obj.GetName()] {
				if gvr == serviceAccounts {
					referencedNames(obj.Object, used)
				}
				continue
			}
			stale = append(stale, staleObject{resource: gvr, obj: obj})
		}
	}
	return stale, nil
}

// referencedNames adds the Secret and ServiceAccount names an object refers to: every
// secretRef / secretKeyRef name, secretName, serviceAccountName, and a ServiceAccount's secrets.
func referencedNames(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch k {
			case "secretRef", "secretKeyRef":
				if m, ok := val.(map[string]any); ok {
					if n, ok := m["name"].(string); ok {
						into[n] = true
					}
				}
			case "secretName", "serviceAccountName":
				if n, ok := val.(string); ok {
					into[n] = true
				}
			case "secrets":
				if items, ok := val.([]any); ok {
					for _, item := range items {
						if m, ok := item.(map[string]any); ok {
							if n, ok := m["name"].(string); ok {
								into[n] = true
							}
						}
					}
				}
			}
			referencedNames(val, into)
		}
	case []any:
		for _, item := range x {
			referencedNames(item, into)
		}
	}
}

// ownerAlive reports whether one of obj's owners still exists with the same UID.
func ownerAlive(ctx context.Context, o *DeleteOptions, obj *unstructured.Unstructured) (bool, error) {
	for _, ref := range obj.GetOwnerReferences() {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			continue
		}
		m, err := o.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
		if err != nil {
			continue // the owner's kind is not even served
		}
		owner, err := o.client.Resource(m.Resource).Namespace(obj.GetNamespace()).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if owner.GetUID() == ref.UID {
			return true, nil
		}
	}
	return false, nil
}
