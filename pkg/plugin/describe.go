package plugin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/kubectl/pkg/describe"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// NewCmdDescribe returns kubectl kaptain describe.
func NewCmdDescribe(d *Deps) *cobra.Command {
	return &cobra.Command{
		ValidArgsFunction: completeGroupThenName(d, "job", "experiment", "inferenceservice", "build"),
		Use:               "describe job|experiment|inferenceservice|build NAME",
		Short:             "Describe a workload with kubectl's describer and its events, plus what kaptain knows of it",
		Long: `Describe a job, experiment or inference service as kubectl describe does (fields and
events), followed by a Kaptain section: a job's replicas and their pods, an experiment's best
trial, a service's URL and traffic split.`,
		Example: `  kubectl kaptain describe job dev-mnist-14fbf217-train-6f1c2b
  kubectl kaptain describe inferenceservice dev-mnist-14fbf217`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return sdkerr.New(sdkerr.Usage, "describe needs job, experiment or inferenceservice and a NAME")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			kinds, mappings, err := servedKindsOf(d, args[0], d.progress().Printf)
			if err != nil {
				return err
			}
			ns, _, err := d.ConfigFlags.ToRawKubeConfigLoader().Namespace()
			if err != nil {
				return err
			}
			client, err := d.Factory.DynamicClient()
			if err != nil {
				return err
			}
			cfg, err := d.Factory.ToRESTConfig()
			if err != nil {
				return err
			}
			for i, m := range mappings {
				obj, err := client.Resource(m.Resource).Namespace(ns).Get(ctx, args[1], metav1.GetOptions{})
				if err != nil {
					continue
				}
				describer, ok := describe.GenericDescriberFor(m, cfg)
				if !ok {
					return fmt.Errorf("no describer for %s", m.Resource.Resource)
				}
				text, err := describer.Describe(ns, args[1], describe.DescriberSettings{ShowEvents: true, ChunkSize: 500})
				if err != nil {
					return err
				}
				out := d.Streams.Out
				fmt.Fprint(out, text)
				fmt.Fprintln(out, "Kaptain:")
				return kaptainSection(ctx, d, out, kinds[i], obj)
			}
			return sdkerr.New(sdkerr.Unknown, "no %s named %s in namespace %s", kindNames(kinds), args[1], ns)
		},
	}
}

// kaptainSection prints what kaptain knows of a workload beyond its fields.
func kaptainSection(ctx context.Context, d *Deps, out io.Writer, k managedKind, obj *unstructured.Unstructured) error {
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "  Model:\t%s\n", orNone(obj.GetAnnotations()[model.AnnotationModelID]))
	fmt.Fprintf(w, "  Revision:\t%s\n", orNone(obj.GetLabels()[model.LabelRevision]))
	switch k.Group {
	case "jobs":
		st := workload.StateOf(obj)
		fmt.Fprintf(w, "  State:\t%s\n", st)
		cs, err := d.Factory.KubernetesClientSet()
		if err != nil {
			return err
		}
		pods, err := cs.CoreV1().Pods(obj.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: workload.LabelJobName + "=" + obj.GetName()})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  Replicas:\t%d (%d active, %d succeeded, %d failed)\n", st.Total, st.Active, st.Succeeded, st.Failed)
		items := pods.Items
		slices.SortFunc(items, func(a, b corev1.Pod) int { return strings.Compare(workload.ReplicaName(&a), workload.ReplicaName(&b)) })
		if len(items) == 0 {
			fmt.Fprintf(w, "  Pods:\t<none>\n")
		}
		for i := range items {
			p := &items[i]
			state := string(p.Status.Phase)
			if reason, msg, bad := workload.PodProblem(p); bad {
				state += " (" + reason + ": " + msg + ")"
			}
			fmt.Fprintf(w, "  Pod %s:\t%s on %s: %s\n", workload.ReplicaName(p), p.Name, orNone(p.Spec.NodeName), state)
		}
	case "experiments":
		best, found, _ := unstructured.NestedMap(obj.Object, "status", "currentOptimalTrial")
		if !found {
			fmt.Fprintf(w, "  Best trial:\t<none yet>\n")
			break
		}
		name, _, _ := unstructured.NestedString(best, "bestTrialName")
		fmt.Fprintf(w, "  Best trial:\t%s\n", orNone(name))
		params, _, _ := unstructured.NestedSlice(best, "parameterAssignments")
		for _, p := range params {
			if m, ok := p.(map[string]any); ok {
				fmt.Fprintf(w, "  Parameter %v:\t%v\n", m["name"], m["value"])
			}
		}
		metrics, _, _ := unstructured.NestedSlice(best, "observation", "metrics")
		for _, m := range metrics {
			if mm, ok := m.(map[string]any); ok {
				fmt.Fprintf(w, "  Metric %v:\t%v\n", mm["name"], firstNonNil(mm["latest"], mm["max"], mm["min"]))
			}
		}
		for _, f := range []string{"trials", "trialsSucceeded", "trialsFailed", "trialsRunning"} {
			if n, ok, _ := unstructured.NestedInt64(obj.Object, "status", f); ok {
				fmt.Fprintf(w, "  %s:\t%d\n", f, n)
			}
		}
	case "inferenceservices":
		st := workload.ServiceStateOf(obj)
		fmt.Fprintf(w, "  URL:\t%s\n", orNone(st.URL))
		fmt.Fprintf(w, "  State:\t%s\n", st)
		uri := obj.GetAnnotations()[model.AnnotationModelURI]
		previous := obj.GetAnnotations()[model.AnnotationPreviousModelURI]
		if pct, ok, _ := unstructured.NestedInt64(obj.Object, "spec", "predictor", "canaryTrafficPercent"); ok && previous != "" {
			fmt.Fprintf(w, "  Traffic:\t%d%% to %s (canary), %d%% to %s\n", pct, uri, 100-pct, previous)
		} else {
			fmt.Fprintf(w, "  Traffic:\t100%% to %s\n", orNone(uri))
		}
		traffic, _, _ := unstructured.NestedSlice(obj.Object, "status", "components", "predictor", "traffic")
		for _, t := range traffic {
			if m, ok := t.(map[string]any); ok {
				fmt.Fprintf(w, "  Revision %v:\t%v%%\n", m["revisionName"], m["percent"])
			}
		}
	}
	return nil
}

func firstNonNil(values ...any) any {
	for _, v := range values {
		if v != nil {
			return v
		}
	}
	return "<none>"
}
