package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/platform"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Finding is one resource diagnose looked at, and what is wrong with it ("" when nothing).
type Finding struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Problem string `json:"problem,omitempty"`
}

// Diagnose looks at everything kubectl kaptain made in the namespace: missing CRDs
// (operators), missing permissions, each workload's state, stale credentials and pods that
// cannot run. What the permissions forbid to list is reported as such, not as an error.
func (inv *Inventory) Diagnose(ctx context.Context) ([]Finding, error) {
	var findings []Finding
	served, err := inv.Serve(Kinds(), func(k Kind, hint string) {
		findings = append(findings, Finding{Kind: "CustomResourceDefinition", Name: k.GVK.Kind + "." + k.GVK.Group, Status: "missing",
			Problem: "the cluster does not serve " + k.GVK.Kind + ": " + hint})
	})
	if err != nil {
		return nil, err
	}
	mappings := make([]*meta.RESTMapping, len(served))
	for i, s := range served {
		mappings[i] = s.Mapping
	}
	denied := permissions(ctx, inv.Kube, inv.Namespace, mappings)
	findings = append(findings, denied...)
	forbidden := func(err error) bool {
		return len(denied) > 0 && (apierrors.IsForbidden(err) || apierrors.IsForbidden(errors.Unwrap(err)))
	}
	for _, s := range served {
		objs, err := inv.List(ctx, []Served{s})
		if forbidden(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			f := o.Finding()
			if f.Problem == "" && workload.KindOf(o.Obj) != nil {
				f.Problem = inv.jobProblem(ctx, o)
			}
			findings = append(findings, f)
			if o.Group == InferenceServices {
				knative, err := inv.knativeFindings(ctx, o.Obj)
				if err != nil && !forbidden(err) {
					return nil, err
				}
				findings = append(findings, knative...)
			}
		}
	}
	creds, err := inv.Credentials(ctx, served)
	if forbidden(err) {
		return findings, nil
	}
	if err != nil {
		return nil, err
	}
	// Secrets before ServiceAccounts, as they are listed.
	for _, gvr := range []string{Secrets.Resource, ServiceAccounts.Resource} {
		for _, c := range creds {
			if c.Resource.Resource != gvr {
				continue
			}
			f := Finding{Kind: c.Obj.GetKind(), Name: c.Obj.GetName(), Status: "in use"}
			if c.Stale {
				f.Status, f.Problem = "stale", "no workload uses it; 'kubectl kaptain clean' removes it"
			}
			findings = append(findings, f)
		}
	}
	pods, err := inv.Kube.CoreV1().Pods(inv.Namespace).List(ctx, metav1.ListOptions{LabelSelector: model.ManagedSelector})
	if forbidden(err) {
		return findings, nil
	}
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		findings = append(findings, podFinding(&pods.Items[i]))
	}
	return findings, nil
}

// knativeFindings are the Knative objects behind a Knative-mode service, each with its Ready
// condition's reason when it is not Ready (a Revision whose image cannot be resolved).
func (inv *Inventory) knativeFindings(ctx context.Context, isvc *unstructured.Unstructured) ([]Finding, error) {
	objs, err := inv.KnativeObjects(ctx, isvc)
	var out []Finding
	for _, k := range objs {
		f := Finding{Kind: k.Kind + ".serving.knative.dev", Name: k.Name, Status: "Ready"}
		if !k.Ready {
			f.Status, f.Problem = "NotReady", cmp.Or(k.Problem, "not ready")
		}
		out = append(out, f)
	}
	return out, err
}

// Finding says what state the object is in and what is wrong with it, from the workload
// package's state readers.
func (o Object) Finding() Finding {
	f := Finding{Kind: o.Obj.GetKind(), Name: o.Obj.GetName()}
	switch o.Group {
	case Jobs:
		st := workload.StateOf(o.Obj)
		f.Status = string(st.Phase)
		if st.Phase == workload.Failed {
			f.Problem = "failed: " + cmp.Or(st.Message, st.Reason)
		}
	case Experiments:
		st := workload.ExperimentStateOf(o.Obj)
		f.Status = st.Phase
		switch {
		case st.Phase == "Failed":
			f.Problem = "failed: " + st.Message
		case st.MetricsMissing():
			f.Problem = fmt.Sprintf("its first %d trials reported no metrics: the trainer prints no name=value lines, or Katib's collector was not injected", st.NoMetrics)
		}
	case InferenceServices:
		st := workload.ServiceStateOf(o.Obj)
		f.Status = "NotReady"
		if st.Ready {
			f.Status = "Ready"
		}
		if st.Failed {
			f.Problem = st.Reason + ": " + st.Message
		}
	case Builds:
		st := workload.BuildStateOf(o.Obj)
		f.Status = "Running"
		switch {
		case st.Failed:
			f.Status, f.Problem = "Failed", "image build failed: "+cmp.Or(st.Message, st.Reason)
		case st.Finished:
			f.Status = "Complete"
		}
	}
	return f
}

// jobProblem is what keeps a training job that has not finished from running: a TrainJob's
// runtime that does not exist, or a suspension (why Kueue holds it, or that nothing will
// resume it).
func (inv *Inventory) jobProblem(ctx context.Context, o Object) string {
	if o.Finished(o.Obj) {
		return ""
	}
	if name, found, _ := unstructured.NestedString(o.Obj.Object, "spec", "runtimeRef", "name"); found {
		kind, _, _ := unstructured.NestedString(o.Obj.Object, "spec", "runtimeRef", "kind")
		if _, err := inv.Cluster().TrainingRuntime(ctx, cmp.Or(kind, model.KindClusterTrainingRuntime), name); err != nil {
			var unreadable *platform.RuntimeUnreadableError
			if !errors.As(err, &unreadable) {
				return err.Error()
			}
		}
	}
	if !platform.Suspended(o.Obj) {
		return ""
	}
	if detail := inv.Cluster().QueueDetail(ctx, o.Obj); detail != "" {
		return "suspended: " + detail
	}
	field := "spec.suspend"
	if _, found, _ := unstructured.NestedBool(o.Obj.Object, "spec", "runPolicy", "suspend"); found {
		field = "spec.runPolicy.suspend"
	}
	return fmt.Sprintf("suspended (%s) outside any Kueue queue: nothing resumes it until %s is false", field, field)
}

func podFinding(p *corev1.Pod) Finding {
	f := Finding{Kind: "Pod", Name: p.Name, Status: string(p.Status.Phase)}
	if reason, msg, bad := workload.PodProblem(p); bad {
		f.Problem = reason + ": " + msg
		return f
	}
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			f.Problem = fmt.Sprintf("container %s is crash looping (%d restarts): %s", c.Name, c.RestartCount, w.Message)
		}
	}
	return f
}

// permissions checks, with SelfSubjectAccessReview, that the user may do what kaptain does.
func permissions(ctx context.Context, cs kubernetes.Interface, ns string, mappings []*meta.RESTMapping) []Finding {
	type need struct {
		group, resource string
		verbs           []string
	}
	needs := []need{
		{"", "secrets", []string{"get", "list", "create", "patch", "delete"}},
		{"", "serviceaccounts", []string{"get", "list", "create", "patch", "delete"}},
		{"", "configmaps", []string{"get", "create", "update"}},
		{"", "pods", []string{"get", "list", "watch"}},
		{"", "pods/log", []string{"get"}},
	}
	for _, m := range mappings {
		needs = append(needs, need{m.Resource.Group, m.Resource.Resource, []string{"get", "list", "watch", "create", "patch", "delete"}})
	}
	var out []Finding
	for _, n := range needs {
		resource, sub, _ := strings.Cut(n.resource, "/")
		var denied []string
		for _, verb := range n.verbs {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: n.group, Resource: resource, Subresource: sub},
			}}
			res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil || !res.Status.Allowed {
				denied = append(denied, verb)
			}
		}
		if len(denied) > 0 {
			name := n.resource
			if n.group != "" {
				name += "." + n.group
			}
			out = append(out, Finding{Kind: "Permission", Name: name, Status: "denied",
				Problem: "you may not " + strings.Join(denied, ", ") + " " + name + " in namespace " + ns})
		}
	}
	return out
}
