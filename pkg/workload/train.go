// Package workload builds the Kubernetes objects of each action from a model and options. Its
// builders are pure: no client, no I/O.
package workload

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// Kubeflow training API facts.
const (
	KubeflowGroupVersion = "kubeflow.org/v1"
	KindTFJob            = "TFJob"
	KindPyTorchJob       = "PyTorchJob"
	// GPUResource is the extended resource GPUs are requested as.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
)

// Environment variables through which training code learns where to save the model.
const (
	EnvTrainedModelUploadPath = "TRAINED_MODEL_UPLOAD_PATH"
	EnvModelLifecyclePhase    = "MODEL_LIFECYCLE_PHASE"
)

// Resources are the requests and limits of each replica's container. Empty values are unset.
type Resources struct {
	CPURequest    string
	CPULimit      string
	MemoryRequest string
	MemoryLimit   string
	GPULimit      int
}

// Train holds what a training job needs beyond the model.
type Train struct {
	// Name is the job's name.
	Name string
	// Image is the image to run; the model's image when empty.
	Image string
	// Revision is the model revision this run produces; it names the upload path.
	Revision string
	// Hyperparameters reach the main file as --name=value arguments, sorted by name.
	Hyperparameters map[string]any
	// Args are further --name=value arguments, after the hyperparameters.
	Args map[string]string
	// Shell runs the trainer as sh -c and one command line, each word single-quoted, in every
	// replica: Katib's StdOut collector joins the primary container's command and arguments
	// with spaces for a shell, so that unquoted, a value with a space splits and one with ;
	// or $(...) runs a command; quoted, each reaches the trainer as given.
	Shell bool
	// Workers is the number of replicas (TFJob Workers; PyTorchJob Master plus Workers).
	Workers int
	// Resources apply to every replica.
	Resources Resources
	// TTLSecondsAfterFinished removes the finished job after so many seconds when set.
	TTLSecondsAfterFinished *int32
	// BackoffLimit, when set, fails the job once its replicas' containers restarted that many
	// times in all (the replicas restart OnFailure: without it a crashing script restarts
	// forever).
	BackoffLimit *int32
	// StorageSecret names a Secret whose keys become the container's environment (S3
	// credentials); none when empty.
	StorageSecret string
	// StorageKeys are the Secret's keys: a TrainJob references each (a trainer has no envFrom).
	StorageKeys []string
	// Queue is the Kueue LocalQueue the job is submitted to (the kueue.x-k8s.io/queue-name
	// label); none when empty.
	Queue string
}

// TrainingJob returns the TFJob (tensorflow) or PyTorchJob (pytorch) that trains m.
func TrainingJob(m *model.Model, t Train) (*unstructured.Unstructured, error) {
	if t.Name == "" {
		return nil, fmt.Errorf("building training job: no name")
	}
	if t.Workers < 1 {
		return nil, fmt.Errorf("building training job: workers must be 1 or more, got %d", t.Workers)
	}
	image := t.Image
	if image == "" {
		image = m.Spec.Image
	}
	res, err := t.Resources.requirements()
	if err != nil {
		return nil, fmt.Errorf("building training job: %w", err)
	}
	uploadPath := KubeLiteral(m.TrainedURI(t.Revision))
	command, args := t.commandLine(nil, m.Spec.MainFile)
	container := corev1.Container{
		Image:   image,
		Command: command,
		Args:    args,
		Env: []corev1.EnvVar{
			{Name: EnvTrainedModelUploadPath, Value: uploadPath},
			{Name: EnvModelLifecyclePhase, Value: "training"},
		},
		Resources: res,
	}
	if t.StorageSecret != "" {
		container.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: t.StorageSecret},
		}}}
	}
	replica := func(name string, n int) replicaSpec {
		return replicaSpec{
			Replicas:      ptr.To(int32(n)),
			RestartPolicy: "OnFailure",
			// A trainer has no use for the Kubernetes API: its pods get no ServiceAccount
			// token, which the trainer's code (and its dependencies) could otherwise use.
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				AutomountServiceAccountToken: ptr.To(false),
				Containers:                   []corev1.Container{withName(container, name)},
			}},
		}
	}
	runPolicy := runPolicy{CleanPodPolicy: "Running", TTLSecondsAfterFinished: t.TTLSecondsAfterFinished, BackoffLimit: t.BackoffLimit}
	meta := metav1.ObjectMeta{Name: t.Name}
	if t.Queue != "" {
		meta.Labels = map[string]string{LabelQueueName: t.Queue}
	}
	var obj any
	switch m.Spec.Framework {
	case "tensorflow":
		obj = tfJob{
			TypeMeta:   metav1.TypeMeta{APIVersion: KubeflowGroupVersion, Kind: KindTFJob},
			ObjectMeta: meta,
			Spec: tfJobSpec{RunPolicy: runPolicy, TFReplicaSpecs: map[string]replicaSpec{
				"Worker": replica("tensorflow", t.Workers),
			}},
		}
	case "pytorch":
		specs := map[string]replicaSpec{"Master": replica("pytorch", 1)}
		if t.Workers > 1 {
			specs["Worker"] = replica("pytorch", t.Workers-1)
		}
		obj = pyTorchJob{
			TypeMeta:   metav1.TypeMeta{APIVersion: KubeflowGroupVersion, Kind: KindPyTorchJob},
			ObjectMeta: meta,
			Spec:       pyTorchJobSpec{RunPolicy: runPolicy, PyTorchReplicaSpecs: specs},
		}
	default:
		return nil, fmt.Errorf("building training job: framework %q cannot be trained; use one of %s",
			m.Spec.Framework, strings.Join(model.TrainableFrameworks(), ", "))
	}
	return toUnstructured(obj)
}

// MaxJobName is the longest TFJob or PyTorchJob name whose replicas' names fit in a DNS label
// with workers replicas: the Training Operator names each replica's pod and Service
// <job>-<replica type>-<index>, worker the longest type.
func MaxJobName(workers int) int {
	return 63 - len("-worker-") - len(strconv.Itoa(max(workers-1, 0)))
}

// Arguments renders hyperparameters and then args as --name=value flags, each group sorted
// by name.
func Arguments(hyperparameters map[string]any, args map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(hyperparameters)) {
		out = append(out, "--"+k+"="+FormatValue(hyperparameters[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		out = append(out, "--"+k+"="+args[k])
	}
	return out
}

// commandLine is the trainer's command and arguments: the given command (none: the image's
// entrypoint) and the --name=value arguments, or with Shell, sh -c and one quoted command line
// (python mainFile when no command is given).
// Every word is a KubeLiteral.
func (t Train) commandLine(command []string, mainFile string) (cmd, args []string) {
	args = Arguments(t.Hyperparameters, t.Args)
	if !t.Shell {
		return kubeLiterals(command), kubeLiterals(args)
	}
	if len(command) == 0 {
		command = []string{"python", mainFile}
	}
	return []string{"sh", "-c"}, []string{KubeLiteral(ShellLine(append(slices.Clone(command), args...)))}
}

// katibPlaceholder opens the placeholders Katib replaces with a trial's values, before the
// kubelet sees the pod.
const katibPlaceholder = "${trialParameters."

// KubeLiteral escapes s for a container's command, args or env value, where the kubelet
// replaces $(VAR) with a variable of the container's environment (its envFrom Secrets
// included) and $$ with $: every $ is doubled, so that the program gets s as written and
// '$(AWS_SECRET_ACCESS_KEY)' stays text, except the $ opening one of Katib's
// ${trialParameters.x} placeholders, which Katib replaces first.
func KubeLiteral(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && !strings.HasPrefix(s[i:], katibPlaceholder) {
			b.WriteByte('$')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// kubeLiterals is KubeLiteral of each word.
func kubeLiterals(words []string) []string {
	if words == nil {
		return nil
	}
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = KubeLiteral(w)
	}
	return out
}

// ShellLine joins words into one sh command line, each single-quoted ('\” for a quote).
func ShellLine(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

// FormatValue renders a hyperparameter value as a command-line value.
func FormatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func (r Resources) requirements() (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	set := func(list *corev1.ResourceList, name corev1.ResourceName, v string) error {
		if v == "" {
			return nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("%s %q is not a quantity: %w", name, v, err)
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
		return nil
	}
	for _, s := range []struct {
		list *corev1.ResourceList
		name corev1.ResourceName
		v    string
	}{
		{&out.Requests, corev1.ResourceCPU, r.CPURequest},
		{&out.Requests, corev1.ResourceMemory, r.MemoryRequest},
		{&out.Limits, corev1.ResourceCPU, r.CPULimit},
		{&out.Limits, corev1.ResourceMemory, r.MemoryLimit},
	} {
		if err := set(s.list, s.name, s.v); err != nil {
			return out, err
		}
	}
	if r.GPULimit > 0 {
		if err := set(&out.Limits, GPUResource, strconv.Itoa(r.GPULimit)); err != nil {
			return out, err
		}
	}
	return out, nil
}

func withName(c corev1.Container, name string) corev1.Container {
	c.Name = name
	return c
}

// toUnstructured converts a typed object through JSON, so omitempty and omitzero apply.
func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", obj, err)
	}
	return u, nil
}

// The Kubeflow training types, for the fields kaptain sets (kubeflow.org/v1).
type (
	tfJob struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              tfJobSpec `json:"spec"`
	}
	tfJobSpec struct {
		RunPolicy      runPolicy              `json:"runPolicy"`
		TFReplicaSpecs map[string]replicaSpec `json:"tfReplicaSpecs"`
	}
	pyTorchJob struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              pyTorchJobSpec `json:"spec"`
	}
	pyTorchJobSpec struct {
		RunPolicy           runPolicy              `json:"runPolicy"`
		PyTorchReplicaSpecs map[string]replicaSpec `json:"pytorchReplicaSpecs"`
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
