// Package workload builds the Kubernetes objects of each action from a model and options. Its
// builders are pure: no client, no I/O.
package workload

import (
	"cmp"
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

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// GPUResource is the extended resource GPUs are requested as.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// Environment variables through which training code learns where to save the model.
const (
	EnvTrainedModelUploadPath = "TRAINED_MODEL_UPLOAD_PATH"
	EnvModelLifecyclePhase    = "MODEL_LIFECYCLE_PHASE"
	// PhaseTraining and PhaseTuning are MODEL_LIFECYCLE_PHASE's values.
	PhaseTraining = "training"
	PhaseTuning   = "tuning"
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
	// Workers is the number of replicas (TFJob Workers; PyTorchJob Master plus Workers; a
	// TrainJob's nodes).
	Workers int
	// Resources apply to every replica.
	Resources Resources
	// Placement sends every replica's pod to the nodes it selects and tolerates.
	Placement Placement
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
	// Phase is MODEL_LIFECYCLE_PHASE, PhaseTraining when empty.
	Phase string
	// UploadPath is TRAINED_MODEL_UPLOAD_PATH, the model's trained URI for Revision when empty.
	UploadPath string
	// Owner names the object that owns the job's companions (see TrainingKind.Build): the
	// job itself when empty, the Experiment of a trial.
	Owner string
	// Standalone renders the job without companions, on the runtime they derive from: for a
	// server dry run, which stores nothing, so that a job naming one would be refused.
	Standalone bool
}

// Placement is where the pods that run the model's code (or serve it) may go: a nodeSelector
// and tolerations, set on each of their pod specs. Empty, the scheduler chooses. Its JSON is
// those pod spec fields.
type Placement struct {
	NodeSelector map[string]string   `json:"nodeSelector,omitempty"`
	Tolerations  []corev1.Toleration `json:"tolerations,omitempty"`
}

// apply sets the placement on a pod spec.
func (p Placement) apply(spec *corev1.PodSpec) {
	spec.NodeSelector, spec.Tolerations = p.NodeSelector, p.Tolerations
}

// check refuses what no kind can build.
func (t Train) check() error {
	if t.Name == "" {
		return fmt.Errorf("no name")
	}
	if t.Workers < 1 {
		return fmt.Errorf("workers must be 1 or more, got %d", t.Workers)
	}
	if len(t.StorageKeys) > 0 && t.StorageSecret == "" {
		return fmt.Errorf("storage keys without a Secret")
	}
	return nil
}

// env is the model's environment in every container that runs its code: where to save the
// model, and the lifecycle phase.
func (t Train) env(m *model.Model) []corev1.EnvVar {
	upload := t.UploadPath
	if upload == "" {
		upload = m.TrainedURI(t.Revision)
	}
	return []corev1.EnvVar{
		{Name: EnvTrainedModelUploadPath, Value: KubeLiteral(upload)},
		{Name: EnvModelLifecyclePhase, Value: cmp.Or(t.Phase, PhaseTraining)},
	}
}

// secretEnv references each of the storage Secret's keys, sorted, for a container without
// envFrom (a TrainJob's trainer).
func (t Train) secretEnv() []corev1.EnvVar {
	var env []corev1.EnvVar
	for _, k := range slices.Sorted(slices.Values(t.StorageKeys)) {
		env = append(env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: t.StorageSecret}, Key: k,
		}}})
	}
	return env
}

// meta is the job's name, its queue label, and the annotations given.
func (t Train) meta(annotations map[string]string) metav1.ObjectMeta {
	meta := metav1.ObjectMeta{Name: t.Name, Annotations: annotations}
	if t.Queue != "" {
		meta.Labels = map[string]string{LabelQueueName: t.Queue}
	}
	return meta
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
