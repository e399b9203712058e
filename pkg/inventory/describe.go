package inventory

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Describe writes what kubectl kaptain knows of an object beyond its fields: its model and
// revision, a job's replicas and their pods, an experiment's best trial, a service's URL and
// traffic split.
func (inv *Inventory) Describe(ctx context.Context, out io.Writer, o Object) error {
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	defer w.Flush()
	obj := o.Obj
	fmt.Fprintf(w, "  Model:\t%s\n", orNone(obj.GetAnnotations()[model.AnnotationModelID]))
	fmt.Fprintf(w, "  Revision:\t%s\n", orNone(obj.GetLabels()[model.LabelRevision]))
	switch o.Group {
	case Jobs:
		st := workload.StateOf(obj)
		fmt.Fprintf(w, "  State:\t%s\n", st)
		pods, err := inv.Kube.CoreV1().Pods(obj.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: o.PodSelector(obj)})
		if err != nil {
			return fmt.Errorf("listing the pods of %s: %w", obj.GetName(), err)
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
	case Experiments:
		st := workload.ExperimentStateOf(obj)
		fmt.Fprintf(w, "  State:\t%s\n", st.Phase)
		if st.BestTrial == "" {
			fmt.Fprintf(w, "  Best trial:\t<none yet>\n")
		} else {
			fmt.Fprintf(w, "  Best trial:\t%s\n", st.BestTrial)
		}
		for _, k := range slices.Sorted(maps.Keys(st.BestParams)) {
			fmt.Fprintf(w, "  Parameter %s:\t%s\n", k, st.BestParams[k])
		}
		for _, k := range slices.Sorted(maps.Keys(st.BestMetrics)) {
			fmt.Fprintf(w, "  Metric %s:\t%s\n", k, st.BestMetrics[k])
		}
		fmt.Fprintf(w, "  Trials:\t%d (%d succeeded, %d failed, %d running, at most %d)\n", st.Trials, st.Succeeded, st.Failed, st.Running, st.Max)
	case InferenceServices:
		st := workload.ServiceStateOf(obj)
		fmt.Fprintf(w, "  URL:\t%s\n", orNone(st.URL))
		fmt.Fprintf(w, "  State:\t%s\n", st)
		if _, name, source := inv.DeploymentMode(ctx, obj, ""); strings.HasPrefix(source, "inferenceservice ") {
			fmt.Fprintf(w, "  Mode:\t%s\n", name)
		} else {
			fmt.Fprintf(w, "  Mode:\t%s (%s)\n", name, source)
		}
		uri := obj.GetAnnotations()[model.AnnotationModelURI]
		previous := obj.GetAnnotations()[model.AnnotationPreviousModelURI]
		if pct := workload.CanaryShare(obj); pct != nil {
			fmt.Fprintf(w, "  Traffic:\t%d%% to %s (canary), %d%% to %s\n", *pct, uri, 100-*pct, previous)
		} else {
			fmt.Fprintf(w, "  Traffic:\t100%% to %s\n", orNone(uri))
		}
		traffic, _, _ := unstructured.NestedSlice(obj.Object, "status", "components", "predictor", "traffic")
		for _, t := range traffic {
			if m, ok := t.(map[string]any); ok {
				fmt.Fprintf(w, "  Revision %v:\t%v%%\n", m["revisionName"], m["percent"])
			}
		}
		// In Knative mode, what KServe made in Knative: its Service, Route and Revisions.
		knative, err := inv.KnativeObjects(ctx, obj)
		if err != nil {
			return err
		}
		for _, k := range knative {
			fmt.Fprintf(w, "  Knative %s:\t%s (%s)\n", k.Kind, k.Name, k)
		}
	case Builds:
		st := workload.BuildStateOf(obj)
		fmt.Fprintf(w, "  State:\t%s\n", st)
		if st.Failed {
			fmt.Fprintf(w, "  Failure:\t%s\n", cmp.Or(st.Message, st.Reason))
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
