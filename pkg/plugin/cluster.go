package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

// clusterArgs are what the inspection commands complete alike: their arguments and the
// inventory of the cluster's namespace.
type clusterArgs struct {
	args []string
	inv  *inventory.Inventory
}

// Complete keeps the arguments and makes the clients; it contacts nothing.
func (c *clusterArgs) Complete(f cmdutil.Factory, _ *cobra.Command, args []string) (err error) {
	c.args = args
	c.inv, err = newInventory(f)
	return err
}

// newInventory connects to the cluster and its namespace from kubeconfig. It contacts
// nothing yet.
func newInventory(f cmdutil.Factory) (*inventory.Inventory, error) {
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	return newInventoryIn(f, ns)
}

// newInventoryIn is newInventory in namespace ns, already read from kubeconfig.
func newInventoryIn(f cmdutil.Factory, ns string) (*inventory.Inventory, error) {
	dyn, err := f.DynamicClient()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	cs, err := f.KubernetesClientSet()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	mapper, err := f.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	cfg, err := f.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return &inventory.Inventory{Dynamic: dyn, Kube: cs, Metadata: md, Mapper: mapper, Namespace: ns}, nil
}

// newStore is the store of m's record in namespace ns.
func newStore(d *Deps, cms corev1client.ConfigMapsGetter, ns string, m *model.Model) *track.Store {
	return &track.Store{
		ConfigMaps: cms, Namespace: ns,
		Labels:      map[string]string{model.LabelManagedBy: model.ManagedByValue, model.LabelModel: m.KubeName()},
		Annotations: m.Annotations(),
		NewRevision: d.NewRevision, Now: time.Now,
	}
}

// completeNames completes the names of the managed objects of a group from the cluster.
func completeNames(d *Deps, group string) []string {
	kinds, err := inventory.KindsOf(group)
	if err != nil {
		return nil
	}
	inv, err := newInventory(d.Factory)
	if err != nil {
		return nil
	}
	served, err := inv.Serve(kinds, nil)
	if err != nil {
		return nil
	}
	objs, err := inv.List(context.Background(), served)
	if err != nil {
		return nil
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Obj.GetName()
	}
	return names
}

// completeGroupThenName completes "jobs|experiments|..." then a name from the cluster.
func completeGroupThenName(d *Deps, groups ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return groups, cobra.ShellCompDirectiveNoFileComp
		case 1:
			return completeNames(d, args[0]), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
