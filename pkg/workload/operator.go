package workload

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// Kubeflow Training Operator facts (kubeflow.org/v1).
const (
	KubeflowGroupVersion = "kubeflow.org/v1"
	KindTFJob            = "TFJob"
	KindPyTorchJob       = "PyTorchJob"
	// Pod labels the Training Operator sets on a job's pods.
	LabelJobName      = "training.kubeflow.org/job-name"
	LabelReplicaType  = "training.kubeflow.org/replica-type"
	LabelReplicaIndex = "training.kubeflow.org/replica-index"
)

// operatorKind is one of the Training Operator's kinds: its replicas are pod templates under
// spec.<specs>, each with one container that must be named container (the operator's webhook
// refuses others).
type operatorKind struct {
	kind, container, specs string
}

var _ TrainingKind = operatorKind{}

func (k operatorKind) GVK() schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(KubeflowGroupVersion, k.kind)
}

func (k operatorKind) String() string { return k.kind }

func (k operatorKind) Container() string { return k.container }

func (k operatorKind) PodSelector(name string) string { return LabelJobName + "=" + name }

// LogSelector: every replica runs the trainer.
func (k operatorKind) LogSelector(name string) string { return k.PodSelector(name) }

// MaxName: the Training Operator names each replica's pod and Service
// <job>-<replica type>-<index>, worker the longest type.
func (k operatorKind) MaxName(workers int) int {
	return 63 - len("-worker-") - len(strconv.Itoa(max(workers-1, 0)))
}

// Supports: runPolicy has both a backoff limit and a TTL.
func (k operatorKind) Supports(Setting) bool { return true }

// Trial: every replica runs the trainer; a trial ends on the job's Succeeded or Failed.
func (k operatorKind) Trial() Trial {
	return Trial{PrimaryContainer: k.container, Success: conditionIs("Succeeded"), Failure: conditionIs("Failed")}
}

// Build renders the TFJob (t.Workers Workers) or PyTorchJob (a Master and t.Workers-1
// Workers) whose replicas run the model's image with the hyperparameters as arguments.
func (k operatorKind) Build(m *model.Model, t Train) (*unstructured.Unstructured, []*unstructured.Unstructured, error) {
	if err := t.check(); err != nil {
		return nil, nil, fmt.Errorf("building %s: %w", k.kind, err)
	}
	res, err := t.Resources.requirements()
	if err != nil {
		return nil, nil, fmt.Errorf("building %s: %w", k.kind, err)
	}
	command, args := t.commandLine(nil, m.Spec.MainFile)
	container := corev1.Container{
		Name:      k.container,
		Image:     cmp.Or(t.Image, m.Spec.Image),
		Command:   command,
		Args:      args,
		Env:       t.env(m),
		Resources: res,
	}
	if t.StorageSecret != "" {
		container.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: t.StorageSecret},
		}}}
	}
	replica := func(n int) replicaSpec {
		spec := corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{container},
		}
		t.Placement.apply(&spec)
		return replicaSpec{
			Replicas:      ptr.To(int32(n)), //nolint:gosec // the command checks --workers fits int32
			RestartPolicy: "OnFailure",
			Template:      corev1.PodTemplateSpec{Spec: spec},
		}
	}
	specs := map[string]replicaSpec{"Worker": replica(t.Workers)}
	if k.kind == KindPyTorchJob {
		specs = map[string]replicaSpec{"Master": replica(1)}
		if t.Workers > 1 {
			specs["Worker"] = replica(t.Workers - 1)
		}
	}
	job, err := toUnstructured(operatorJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: KubeflowGroupVersion, Kind: k.kind},
		ObjectMeta: t.meta(nil),
		Spec: map[string]any{
			"runPolicy": runPolicy{CleanPodPolicy: "Running", TTLSecondsAfterFinished: t.TTLSecondsAfterFinished, BackoffLimit: t.BackoffLimit},
			k.specs:     specs,
		},
	})
	return job, nil, err
}

// State reads the job's phase from its most recent true condition among Created, Running,
// Restarting, Succeeded and Failed (a terminal one wins), Suspended while runPolicy.suspend
// holds it (as Kueue does until it admits the job), and replica counts.
func (k operatorKind) State(job *unstructured.Unstructured) TrainingState {
	st := TrainingState{Phase: Pending, unit: "replica"}
	specs, _, _ := unstructured.NestedMap(job.Object, "spec", k.specs)
	for _, typ := range slices.Sorted(maps.Keys(specs)) {
		n, found, _ := unstructured.NestedInt64(specs, typ, "replicas")
		if !found {
			n = 1
		}
		st.Total += n
	}
	statuses, _, _ := unstructured.NestedMap(job.Object, "status", "replicaStatuses")
	for typ := range statuses {
		for field, dst := range map[string]*int64{"active": &st.Active, "succeeded": &st.Succeeded, "failed": &st.Failed} {
			n, _, _ := unstructured.NestedInt64(statuses, typ, field)
			*dst += n
		}
	}
	conditions, _, _ := unstructured.NestedSlice(job.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok || cond["status"] != "True" {
			continue
		}
		phase := Phase(fmt.Sprint(cond["type"]))
		switch phase {
		case Created, Running, Restarting, Succeeded, Failed, Suspended:
		default:
			continue
		}
		if st.Finished() && !(phase == Succeeded || phase == Failed) {
			continue
		}
		st.setCondition(phase, cond)
	}
	if suspend, _, _ := unstructured.NestedBool(job.Object, "spec", "runPolicy", "suspend"); suspend && !st.Finished() && st.Phase != Suspended {
		st.Phase, st.Reason, st.Message = Suspended, "", ""
	}
	return st
}

// The Kubeflow training types, for the fields kaptain sets (kubeflow.org/v1).
type (
	operatorJob struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              map[string]any `json:"spec"`
	}
	runPolicy struct {
		CleanPodPolicy          string `json:"cleanPodPolicy,omitempty"`
		TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
		BackoffLimit            *int32 `json:"backoffLimit,omitempty"`
	}
	replicaSpec struct {
		Replicas      *int32                 `json:"replicas,omitempty"`
		RestartPolicy string                 `json:"restartPolicy,omitempty"`
		Template      corev1.PodTemplateSpec `json:"template"`
	}
)
