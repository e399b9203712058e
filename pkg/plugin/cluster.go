package plugin

import (
	"fmt"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
)

// newInventory connects to the cluster and its namespace from kubeconfig. It contacts
// nothing yet.
func newInventory(d *Deps) (*inventory.Inventory, error) {
	ns, _, err := d.Factory.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	dyn, err := d.Factory.DynamicClient()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	cs, err := d.Factory.KubernetesClientSet()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	mapper, err := d.Factory.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return &inventory.Inventory{Dynamic: dyn, Kube: cs, Mapper: mapper, Namespace: ns}, nil
}
