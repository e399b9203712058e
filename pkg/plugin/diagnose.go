package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Finding is one resource diagnose looked at, and what is wrong with it ("" when nothing).
type Finding struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Problem string `json:"problem,omitempty"`
}

// NewCmdDiagnose returns kubectl kaptain diagnose.
func NewCmdDiagnose(d *Deps) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "diagnose [-o json]",
		Short: "List every resource kaptain made in the namespace and what is wrong with it (the SDK's diagnose)",
		Long: `List the jobs, experiments, inference services, build Jobs, Secrets, ServiceAccounts and
Pods kaptain made in the namespace, with what is wrong: pods that cannot be scheduled, cannot
pull their image or crash, failed conditions, stale Secrets, missing CRDs (operators) and
missing RBAC permissions (checked with SelfSubjectAccessReview). Exits non-zero when it found
a problem.`,
		Example: `  kubectl kaptain diagnose
  kubectl kaptain diagnose -o json | jq '.[] | select(.problem != null)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" {
				return sdkerr.New(sdkerr.Usage, "--output %q is not supported; use json", output)
			}
			findings, err := diagnose(cmd.Context(), d)
			if err != nil {
				return err
			}
			if output == "json" {
				data, err := json.MarshalIndent(findings, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(d.Streams.Out, string(data))
			} else {
				w := tabwriter.NewWriter(d.Streams.Out, 0, 8, 3, ' ', 0)
				fmt.Fprintln(w, "KIND\tNAME\tSTATUS\tPROBLEM")
				for _, f := range findings {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Kind, f.Name, f.Status, orNone(f.Problem))
				}
				w.Flush()
			}
			problems := 0
			for _, f := range findings {
				if f.Problem != "" {
					problems++
				}
			}
			if problems > 0 {
				return sdkerr.New(sdkerr.Unknown, "diagnose found %d problem(s)", problems)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format: json.")
	return cmd
}

func diagnose(ctx context.Context, d *Deps) ([]Finding, error) {
	o := &DeleteOptions{deps: d}
	if err := o.Complete(); err != nil {
		return nil, err
	}
	cs, err := d.Factory.KubernetesClientSet()
	if err != nil {
		return nil, err
	}
	var findings []Finding
	var kinds []managedKind
	var mappings []*meta.RESTMapping
	for _, k := range managedKinds {
		m, err := o.mapper.RESTMapping(k.GVK.GroupKind(), k.GVK.Version)
		if meta.IsNoMatchError(err) {
			findings = append(findings, Finding{Kind: "CustomResourceDefinition", Name: k.GVK.Kind + "." + k.GVK.Group, Status: "missing",
				Problem: "the cluster does not serve " + k.GVK.Kind + ": " + apply.MissingOperatorHint(k.GVK)})
			continue
		}
		if err != nil {
			return nil, err
		}
		kinds, mappings = append(kinds, k), append(mappings, m)
	}
	denied := permissions(ctx, cs, o.namespace, mappings)
	findings = append(findings, denied...)
	// What the permissions above forbid to list is reported there; the rest is listed.
	forbidden := func(err error) bool { return apierrors.IsForbidden(err) && len(denied) > 0 }
	for i := range kinds {
		workloads, err := listManaged(ctx, o.client, o.namespace, kinds[i:i+1], mappings[i:i+1])
		if forbidden(errors.Unwrap(err)) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, w := range workloads {
			findings = append(findings, workloadFinding(w))
		}
	}
	selector := metav1.ListOptions{LabelSelector: model.ManagedSelector}
	jobs, err := cs.BatchV1().Jobs(o.namespace).List(ctx, selector)
	if forbidden(err) {
		return findings, nil
	}
	if err != nil {
		return nil, err
	}
	for _, j := range jobs.Items {
		f := Finding{Kind: "Job", Name: j.Name, Status: "Running"}
		for _, c := range j.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == "Complete" || c.Type == "Failed") {
				f.Status = string(c.Type)
				if c.Type == "Failed" {
					f.Problem = "image build failed: " + c.Message
				}
			}
		}
		findings = append(findings, f)
	}
	stale, err := staleCredentials(ctx, o)
	if forbidden(errors.Unwrap(err)) || forbidden(err) {
		return findings, nil
	}
	if err != nil {
		return nil, err
	}
	staleNames := map[string]bool{}
	for _, s := range stale {
		staleNames[s.resource.Resource+"/"+s.obj.GetName()] = true
	}
	for _, gvr := range []schema.GroupVersionResource{{Version: "v1", Resource: "secrets"}, {Version: "v1", Resource: "serviceaccounts"}} {
		list, err := o.client.Resource(gvr).Namespace(o.namespace).List(ctx, selector)
		if forbidden(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			f := Finding{Kind: item.GetKind(), Name: item.GetName(), Status: "in use"}
			if staleNames[gvr.Resource+"/"+item.GetName()] {
				f.Status, f.Problem = "stale", "no workload uses it; 'kubectl kaptain clean' removes it"
			}
			findings = append(findings, f)
		}
	}
	pods, err := cs.CoreV1().Pods(o.namespace).List(ctx, selector)
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

func workloadFinding(w managedObject) Finding {
	f := Finding{Kind: w.obj.GetKind(), Name: w.obj.GetName()}
	switch w.kind.Group {
	case "jobs":
		st := workload.StateOf(w.obj)
		f.Status = string(st.Phase)
		if st.Phase == workload.Failed {
			f.Problem = "failed: " + firstNonEmpty(st.Message, st.Reason)
		}
	case "inferenceservices":
		st := workload.ServiceStateOf(w.obj)
		f.Status = "NotReady"
		if st.Ready {
			f.Status = "Ready"
		}
		if st.Failed {
			f.Problem = st.Reason + ": " + st.Message
		}
	default:
		f.Status = "Running"
		conditions, _, _ := unstructured.NestedSlice(w.obj.Object, "status", "conditions")
		for _, c := range conditions {
			if m, ok := c.(map[string]any); ok && m["status"] == "True" {
				f.Status = fmt.Sprint(m["type"])
				if m["type"] == "Failed" {
					f.Problem = fmt.Sprintf("failed: %v", m["message"])
				}
			}
		}
	}
	return f
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
