// Package model reads kaptain.yaml: its types, strict loading, defaults, validation and the
// mapping of model ids to Kubernetes names.
package model

// APIVersion and Kind identify a kaptain.yaml document.
const (
	APIVersion = "kaptain.dev/v1alpha1"
	Kind       = "Model"
)

// DefaultModelStorageURI is the SDK's default base_model_storage_uri.
const DefaultModelStorageURI = "s3://kaptain/models"

// Model is the kaptain.yaml document: the SDK's Model(...) and Config(...) arguments.
type Model struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata,omitempty"`
	Spec       Spec     `json:"spec"`

	// Path is the file the model was read from; empty for a model built in code.
	Path string `json:"-"`
	// lines maps a field path such as "spec.framework" to its line in the file.
	lines map[string]int
}

// Metadata is optional object metadata, accepted so kaptain.yaml reads like a Kubernetes object.
type Metadata struct {
	Name        string            `json:"name,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec holds the model's properties; field names are camelCase versions of the SDK's arguments.
type Spec struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Version          string            `json:"version"`
	Framework        string            `json:"framework"`
	FrameworkVersion string            `json:"frameworkVersion"`
	MainFile         string            `json:"mainFile"`
	ExtraFiles       []string          `json:"extraFiles,omitempty"`
	Requirements     string            `json:"requirements,omitempty"`
	Image            string            `json:"image"`
	BaseImage        string            `json:"baseImage"`
	Labels           map[string]string `json:"labels,omitempty"`
	Serving          Serving           `json:"serving,omitempty"`
	Training         Training          `json:"training,omitempty"`
	Hyperparameters  map[string]any    `json:"hyperparameters,omitempty"`
	Tune             Tune              `json:"tune,omitempty"`
	Config           Config            `json:"config,omitempty"`
}

// Tune is the default search of 'kubectl kaptain tune' (the SDK's tune arguments); flags
// override it.
type Tune struct {
	// Parameters maps names to domains: "double:0.001:0.1", "int:1:5:1",
	// "discrete:0.5,0.9", "categorical:sgd,adam".
	Parameters        map[string]string `json:"parameters,omitempty"`
	Objectives        []string          `json:"objectives,omitempty"`
	ObjectiveType     string            `json:"objectiveType,omitempty"`
	Goal              *float64          `json:"goal,omitempty"`
	Trials            *int              `json:"trials,omitempty"`
	ParallelTrials    *int              `json:"parallelTrials,omitempty"`
	FailedTrials      *int              `json:"failedTrials,omitempty"`
	Algorithm         string            `json:"algorithm,omitempty"`
	AlgorithmSettings map[string]string `json:"algorithmSettings,omitempty"`
	// EarlyStopping is Katib's early stopping algorithm (medianstop), which stops trials whose
	// objective trails the median of the finished ones; none when empty.
	EarlyStopping         string            `json:"earlyStopping,omitempty"`
	EarlyStoppingSettings map[string]string `json:"earlyStoppingSettings,omitempty"`
}

// Training says how 'kubectl kaptain train' and tune's trials run; flags override it.
type Training struct {
	// API is the training API: TrainingAPIV1 (the Training Operator's TFJob and PyTorchJob)
	// or TrainingAPIV2 (Kubeflow Trainer's TrainJob); empty chooses by what the cluster serves.
	API string `json:"api,omitempty"`
	// Runtime names the ClusterTrainingRuntime (or trainingruntime/NAME, a TrainingRuntime of
	// the namespace) a TrainJob runs on; DefaultTrainingRuntime when empty.
	Runtime string `json:"runtime,omitempty"`
	// Queue is the Kueue LocalQueue the jobs are submitted to; none when empty.
	Queue string `json:"queue,omitempty"`
}

// Training APIs.
const (
	TrainingAPIV1 = "v1"
	TrainingAPIV2 = "v2"
)

// DefaultTrainingRuntime is the ClusterTrainingRuntime a pytorch TrainJob runs on, the one
// Kubeflow Trainer installs for PyTorch.
const DefaultTrainingRuntime = "torch-distributed"

// Serving is the SDK's serving_config: settings for the model server.
type Serving struct {
	// ModelFormat is KServe's modelFormat of what the trainer saves, when it is not the
	// framework's (a PyTorch trainer that exports ONNX: onnx).
	ModelFormat     string `json:"modelFormat,omitempty"`
	Runtime         string `json:"runtime,omitempty"`
	ProtocolVersion string `json:"protocolVersion,omitempty"`
	MinReplicas     *int   `json:"minReplicas,omitempty"`
	MaxReplicas     *int   `json:"maxReplicas,omitempty"`
	DeploymentMode  string `json:"deploymentMode,omitempty"`
}

// Config is the SDK's Config(...): where files, images and trained models live.
type Config struct {
	BaseDir         string   `json:"baseDir,omitempty"`
	ModelStorageURI string   `json:"modelStorageURI,omitempty"`
	Registry        Registry `json:"registry,omitempty"`
	Storage         Storage  `json:"storage,omitempty"`
}

// Registry configures the Docker registry: URL, Docker config and CA certificate paths.
// LoadFile resolves relative paths against the directory of kaptain.yaml; ~/ is the home
// directory.
type Registry struct {
	URL          string `json:"url,omitempty"`
	DockerConfig string `json:"dockerConfig,omitempty"`
	Certificate  string `json:"certificate,omitempty"`
}

// Storage configures S3 or MinIO access.
type Storage struct {
	Endpoint         string `json:"endpoint,omitempty"`
	Region           string `json:"region,omitempty"`
	ForcePathStyle   bool   `json:"forcePathStyle,omitempty"`
	SignatureVersion string `json:"signatureVersion,omitempty"`
}

// Line returns the line of a field path such as "spec.framework" in the file, or 0.
func (m *Model) Line(path string) int {
	if m == nil {
		return 0
	}
	return m.lines[path]
}
