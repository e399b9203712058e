package platform

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// LabelKatibInjection is the namespace label Katib's webhooks select namespaces by: Katib
// refuses an Experiment in a namespace without it set to "enabled", and injects its metrics
// collector only into the pods of such namespaces. Kubeflow profiles set it.
const LabelKatibInjection = "katib.kubeflow.org/metrics-collector-injection"

// KatibNamespace checks, before an experiment is made, that Katib accepts experiments in the
// inventory's namespace. A namespace that cannot be read (a user without namespace access)
// is not judged: Katib's webhook says the same when it refuses.
func (cl *Cluster) KatibNamespace(ctx context.Context) error {
	ns, err := cl.Kube.CoreV1().Namespaces().Get(ctx, cl.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return nil
	case apierrors.IsNotFound(err):
		return sdkerr.New(sdkerr.WorkloadDeployment, "namespace %q does not exist: create it, labelled for Katib: kubectl create namespace %[1]s && kubectl label namespace %[1]s %s=enabled", cl.Namespace, LabelKatibInjection)
	case err != nil:
		return fmt.Errorf("reading namespace %s: %w", cl.Namespace, err)
	}
	if v := ns.Labels[LabelKatibInjection]; v != "enabled" {
		now := "without it"
		if v != "" {
			now = fmt.Sprintf("set to %q", v)
		}
		return sdkerr.New(sdkerr.WorkloadDeployment, "Katib runs experiments only in namespaces labelled %s=enabled, and namespace %q is %s (Kubeflow profiles set it): kubectl label namespace %[2]s %[1]s=enabled --overwrite",
			LabelKatibInjection, cl.Namespace, now)
	}
	return nil
}
