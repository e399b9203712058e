package platform

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Kueue facts (sigs.k8s.io/kueue v0.19): a job's Workload carries the job's UID in this label,
// and says in its QuotaReserved condition why it waits.
const (
	kueueGroup        = "kueue.x-k8s.io"
	LabelKueueJobUID  = "kueue.x-k8s.io/job-uid"
	conditionReserved = "QuotaReserved"
	conditionAdmitted = "Admitted"
)

// Suspended reports whether a training job is held: a TrainJob's spec.suspend, or the
// Training Operator's runPolicy.suspend, which Kueue sets until it admits the job.
func Suspended(job *unstructured.Unstructured) bool {
	if s, _, _ := unstructured.NestedBool(job.Object, "spec", "suspend"); s {
		return true
	}
	s, _, _ := unstructured.NestedBool(job.Object, "spec", "runPolicy", "suspend")
	return s
}

// QueueDetail says why a job submitted to a Kueue queue waits, for a wait's Detail: while the
// job is suspended, what its Workload's QuotaReserved condition says (e.g. "queued in team-a:
// couldn't assign flavors to pod set node: insufficient quota for cpu ..."). It says nothing of
// a job without the queue label or that runs.
func (cl *Cluster) QueueDetail(ctx context.Context, job *unstructured.Unstructured) string {
	queue := job.GetLabels()[workload.LabelQueueName]
	if queue == "" || !Suspended(job) {
		return ""
	}
	prefix := "queued in " + queue
	mapping, err := cl.Mapper.RESTMapping(schema.GroupKind{Group: kueueGroup, Kind: "Workload"})
	if meta.IsNoMatchError(err) {
		return prefix + ", but the cluster does not serve Kueue's Workloads: is Kueue installed?"
	}
	if err != nil {
		return prefix
	}
	list, err := cl.Dynamic.Resource(mapping.Resource).Namespace(job.GetNamespace()).List(ctx,
		metav1.ListOptions{LabelSelector: LabelKueueJobUID + "=" + string(job.GetUID())})
	if err != nil {
		return fmt.Sprintf("%s (its Workload cannot be read: %v)", prefix, err)
	}
	if len(list.Items) == 0 {
		return prefix + ", waiting for Kueue to create its Workload"
	}
	return prefix + workloadSays(&list.Items[0])
}

// workloadSays is what a Workload's conditions say of its admission.
func workloadSays(wl *unstructured.Unstructured) string {
	conditions, _, _ := unstructured.NestedSlice(wl.Object, "status", "conditions")
	var reserved, admitted map[string]any
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok {
			continue
		}
		switch cond["type"] {
		case conditionReserved:
			reserved = cond
		case conditionAdmitted:
			admitted = cond
		}
	}
	switch {
	case admitted != nil && admitted["status"] == "True":
		return ": admitted, starting"
	case reserved != nil && reserved["status"] == "False":
		msg, _ := reserved["message"].(string)
		return ": " + strings.TrimSpace(msg)
	case reserved != nil && reserved["status"] == "True":
		return ": quota reserved, waiting for admission checks"
	}
	return ", waiting for Kueue to consider it"
}

// QueueHeld checks, for an Action's Accept, that Kueue holds the applied job submitted to a
// queue: its mutating webhook suspends a job of a kind it manages as it is created, until it
// admits the job. A job left unsuspended is one Kueue does not manage (its integration for the
// kind is off, as Kueue v0.19 has it for TFJob and PyTorchJob by default, the namespace is
// not one it manages, or Kueue is not installed): it would run outside the queue's quota, so
// it is refused (and removed) with the fix.
func QueueHeld(results []apply.Result) error {
	for _, r := range results {
		job := r.Object
		queue := job.GetLabels()[workload.LabelQueueName]
		if queue == "" || workload.KindOf(job) == nil || Suspended(job) {
			continue
		}
		kind := job.GetKind()
		framework := map[string]string{workload.KindTFJob: "kubeflow.org/tfjob", workload.KindPyTorchJob: "kubeflow.org/pytorchjob", workload.KindTrainJob: "trainer.kubeflow.org/trainjob"}[kind]
		fix := "enable Kueue's " + framework + " integration (its Configuration's integrations.frameworks)"
		if kind != workload.KindTrainJob {
			fix += ", or train as a TrainJob (--training-api v2), which Kueue manages by default"
		}
		return sdkerr.New(sdkerr.WorkloadDeployment, "--queue %s: Kueue did not hold %s %s for its queue, so it would run outside the queue's quota: "+
			"Kueue does not manage %ss in namespace %s (or is not installed); %s, or train without --queue", queue, strings.ToLower(kind), job.GetName(), kind, job.GetNamespace(), fix)
	}
	return nil
}

// QueuedTimeout is what a training wait's timeout says of the job's last version: a job Kueue
// still holds is queued (and kept, to run once admitted), any other keeps running.
func (cl *Cluster) QueuedTimeout(name string) func(ctx context.Context, last *unstructured.Unstructured) string {
	running := fmt.Sprintf("; it keeps running: see 'kubectl kaptain logs %s'", name)
	return func(ctx context.Context, last *unstructured.Unstructured) string {
		if last == nil || !Suspended(last) {
			return running
		}
		detail := cl.QueueDetail(ctx, last)
		if detail == "" {
			return running
		}
		return fmt.Sprintf("; it is still %s; the job is kept and runs once Kueue admits it ('kubectl kaptain delete job %s' removes it)", detail, name)
	}
}
