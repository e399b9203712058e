package model

import (
	"bytes"
	"cmp"
	"fmt"
	"strings"
	"text/template"
)

// ScaffoldOptions are the fields of a new kaptain.yaml.
type ScaffoldOptions struct {
	ID, Name, Framework, FrameworkVersion, Image, BaseImage, MainFile string
}

// frameworkDefaults are the version and base image of a new model of a framework.
var frameworkDefaults = map[string]struct{ version, baseImage string }{
	"tensorflow": {"2.16.1", "tensorflow/tensorflow:2.16.1"},
	"pytorch":    {"2.3.1", "pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime"},
	// The images of Kubeflow Trainer v2.3.0's runtimes for these frameworks: an MPI runtime's
	// nodes run the model's image as an sshd for the launcher's mpirun, so mlx's must have one.
	"jax":     {"0.7.2", "nvcr.io/nvidia/jax:25.10-py3"},
	"xgboost": {"3.0.5", "ghcr.io/kubeflow/trainer/xgboost-runtime"},
	"mlx":     {"0.29.3", "ghcr.io/kubeflow/trainer/mlx-runtime"},
}

// Default fills what is empty from the id and framework: the name is the id's last part,
// the version and base image the framework's current ones, the image under
// registry.example.com.
func (o *ScaffoldOptions) Default() {
	if o.Name == "" {
		o.Name = o.ID[strings.LastIndex(o.ID, "/")+1:]
	}
	d := frameworkDefaults[o.Framework]
	if o.FrameworkVersion == "" {
		o.FrameworkVersion = cmp.Or(d.version, "1.0.0")
	}
	if o.BaseImage == "" {
		o.BaseImage = cmp.Or(d.baseImage, "python:3.11-slim")
	}
	if o.Image == "" {
		o.Image = "registry.example.com/kaptain/" + KubeName(o.ID) + ":0.0.1"
	}
}

// Scaffold returns a commented kaptain.yaml with every field of a model, ready to edit.
func Scaffold(o ScaffoldOptions) ([]byte, error) {
	var b bytes.Buffer
	if err := scaffold.Execute(&b, o); err != nil {
		return nil, fmt.Errorf("rendering kaptain.yaml: %w", err)
	}
	return b.Bytes(), nil
}

var scaffold = template.Must(template.New("kaptain.yaml").Funcs(template.FuncMap{"q": func(s string) string { return fmt.Sprintf("%q", s) }}).Parse(`# kaptain.yaml: a machine-learning model for kubectl kaptain.
# Field names are camelCase versions of the Kaptain SDK's Model(...) and Config(...) arguments.
apiVersion: kaptain.dev/v1alpha1
kind: Model
spec:
  # Unique id; the stage first (dev/, prod/) makes models easy to filter. Mapped to a
  # Kubernetes name: lowercase, other characters as '-', plus a hash when that changed it.
  id: {{ q .ID }}
  # Short name and description, shown in the model's history.
  name: {{ q .Name }}
  description: {{ q (printf "The %s model" .Name) }}
  version: "0.0.1"
  # tensorflow, pytorch, jax, xgboost or mlx can be trained and tuned (jax, xgboost and mlx
  # on Kubeflow Trainer v2); more frameworks can be deployed.
  framework: {{ .Framework }}
  frameworkVersion: {{ q .FrameworkVersion }}
  # The training code, relative to config.baseDir. Hyperparameters reach it as --name=value.
  mainFile: {{ q .MainFile }}
  # extraFiles: [utils.py]
  # requirements: requirements.txt
  # Where the model image is pushed, and what it is built on.
  image: {{ q .Image }}
  baseImage: {{ q .BaseImage }}
  # Labels on everything kaptain creates for this model.
  labels: {}
  # Default hyperparameters for train; -p name=value overrides them.
  hyperparameters: {}
  # Model server settings for deploy.
  serving: {}
    # modelFormat: onnx           # what the trainer saves, when not the framework's format
    # runtime: kserve-tensorflow-serving
    # protocolVersion: v1
    # minReplicas: 1
    # maxReplicas: 3
    # deploymentMode: Knative     # or Standard; Serverless and RawDeployment before KServe v0.20
  # How train and tune run: by default a pytorch model becomes a Kubeflow Trainer v2 TrainJob
  # when the cluster serves it, else a PyTorchJob; tensorflow a TFJob; jax, xgboost and mlx a
  # TrainJob on the runtime labelled trainer.kubeflow.org/framework with their name.
  training: {}
    # api: v2                     # or v1: TFJob, PyTorchJob
    # runtime: torch-distributed  # the TrainJob's ClusterTrainingRuntime, e.g. deepspeed-distributed (trainingruntime/NAME: the namespace's)
    # queue: team-a               # a Kueue LocalQueue
  config:
    # Directory of mainFile and extraFiles, relative to this file.
    baseDir: .
    # Trained models go to <modelStorageURI>/<id>/trained/<revision>.
    modelStorageURI: {{ q "s3://kaptain/models" }}
    registry: {}
      # url: registry.example.com
      # dockerConfig: ~/.docker/config.json
      # certificate: ~/.tls/certificate.crt
    storage:
      region: us-east-1
      # endpoint: http://minio.kubeflow:9000
      # forcePathStyle: true
      # signatureVersion: s3v4
`))
