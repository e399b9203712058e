package plugin

import (
	"fmt"
	"sync"

	"k8s.io/client-go/openapi"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/inventory"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

// session is the cluster connection of one command, shared by the actions nested in it: its
// clients are made on first use, once, from the command's factory; a client dry run makes
// none. Safe for concurrent use.
type session struct {
	// inventory holds the clients of the namespace: dynamic, typed, metadata and the mapper.
	inventory func() (*inventory.Inventory, error)
	// clients are the action engine's, recording in the model's history when there is a model.
	clients func() (run.Clients, error)
	openAPI func() (openapi.Client, error)
}

// newSession returns the session of namespace ns through f; m, when set, is the model whose
// history the actions record.
func newSession(f cmdutil.Factory, d *Deps, ns string, m *model.Model) *session {
	s := &session{}
	s.inventory = sync.OnceValues(func() (*inventory.Inventory, error) { return newInventoryIn(f, ns) })
	s.clients = sync.OnceValues(func() (run.Clients, error) {
		inv, err := s.inventory()
		if err != nil {
			return run.Clients{}, err
		}
		c := run.Clients{Dynamic: inv.Dynamic, Pods: inv.Kube.CoreV1(), Mapper: inv.Mapper}
		if m != nil {
			c.Records = track.Recorder{Store: newStore(d, inv.Kube.CoreV1(), ns, m), ModelID: m.Spec.ID, KubeName: m.KubeName()}
		}
		return c, nil
	})
	s.openAPI = sync.OnceValues(func() (openapi.Client, error) {
		oa, err := f.OpenAPIV3Client()
		if err != nil {
			return nil, fmt.Errorf("connecting to the cluster: %w", err)
		}
		return oa, nil
	})
	return s
}
