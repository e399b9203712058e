package workload

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

// DefaultBuilderImage is the kaniko-style executor of the cluster builder. Kaniko's upstream is
// archived; any executor that takes kaniko's flags (--context, --dockerfile, --destination,
// --digest-file, --registry-certificate) can replace it with --builder-image.
const DefaultBuilderImage = "gcr.io/kaniko-project/executor:v1.23.2"

// BuilderContainer is the name of the build Job's container.
const BuilderContainer = "executor"

// Build holds what the cluster builder's Job needs.
type Build struct {
	// Name is the Job's name; its Secrets are named after it.
	Name string
	// BuilderImage is the executor image; DefaultBuilderImage when empty.
	BuilderImage string
	// Context is the s3:// URI of the uploaded build context, Dockerfile the file in it.
	Context    string
	Dockerfile string
	// Destination is the image to push.
	Destination string
	// Registry is the destination's host, for the CA flag.
	Registry string
	// DockerConfigJSON, when set, becomes a kubernetes.io/dockerconfigjson Secret mounted as
	// the executor's Docker config.
	DockerConfigJSON []byte
	// StorageSecret, when set, names the Secret with the S3 variables the executor reads.
	StorageSecret string
	// RegistryCA, when set, is the PEM CA of the registry, mounted from its own Secret.
	RegistryCA []byte
	// Insecure skips TLS verification of the registry.
	Insecure bool
	// Resources of the executor (the KAPTAIN_SDK_DOCKER_BUILDER_* settings).
	Resources Resources
	// Timeout, when positive, is the Job's activeDeadlineSeconds: the cluster stops a build
	// that outlives the plugin's wait for it.
	Timeout time.Duration
}

// Mount paths in the executor.
const (
	builderDockerDir = "/kaniko/.docker"
	builderCADir     = "/kaptain/registry-ca"
)

// BuildObjects returns the cluster builder's Secrets (Docker credentials, registry CA; the S3
// Secret is made by Secret) and its batch/v1 Job. The executor writes the pushed digest to its
// termination message.
func BuildObjects(b Build) ([]*unstructured.Unstructured, error) {
	if b.Name == "" || b.Context == "" || b.Destination == "" {
		return nil, fmt.Errorf("building the build job: name, context and destination are required")
	}
	image := b.BuilderImage
	if image == "" {
		image = DefaultBuilderImage
	}
	req, err := b.Resources.requirements()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--context=" + b.Context,
		"--dockerfile=" + b.Dockerfile,
		"--destination=" + b.Destination,
		"--digest-file=/dev/termination-log",
		"--reproducible",
		// A registry's 429 or 5xx on the push is retried, not the end of the build.
		"--push-retry=3",
	}
	c := corev1.Container{
		Name:                     BuilderContainer,
		Image:                    image,
		Args:                     args,
		Resources:                req,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
	// The executor runs the build's steps (pip install: arbitrary code) beside the push
	// credentials: it gets no ServiceAccount token on top.
	pod := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: ptr.To(false)}
	var objs []*unstructured.Unstructured
	if len(b.DockerConfigJSON) > 0 {
		name := b.Name + "-docker"
		s, err := toUnstructured(corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: b.DockerConfigJSON},
		})
		if err != nil {
			return nil, err
		}
		objs = append(objs, s)
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "docker-config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: name, Items: []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}},
		}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "docker-config", MountPath: builderDockerDir, ReadOnly: true})
	}
	if len(b.RegistryCA) > 0 {
		name := b.Name + "-registry-ca"
		s, err := Secret(name, map[string]string{"ca.crt": string(b.RegistryCA)})
		if err != nil {
			return nil, err
		}
		objs = append(objs, s)
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "registry-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "registry-ca", MountPath: builderCADir, ReadOnly: true})
		c.Args = append(c.Args, "--registry-certificate="+b.Registry+"="+builderCADir+"/ca.crt")
	}
	if b.Insecure {
		// The push, and pulls from that registry only (a base image elsewhere keeps TLS).
		c.Args = append(c.Args, "--skip-tls-verify", "--insecure", "--skip-tls-verify-registry="+b.Registry, "--insecure-registry="+b.Registry)
	}
	if b.StorageSecret != "" {
		c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: b.StorageSecret}}}}
	}
	pod.Containers = []corev1.Container{c}
	job, err := toUnstructured(batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: b.Name},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: deadline(b.Timeout),
			// A failed or timed-out build is kept a day for inspection, then goes.
			TTLSecondsAfterFinished: ptr.To[int32](BuildJobTTLSeconds),
			Template:                corev1.PodTemplateSpec{Spec: pod},
		},
	})
	if err != nil {
		return nil, err
	}
	return append(objs, job), nil
}

// BuildJobTTLSeconds is how long a finished build Job stays: a day.
const BuildJobTTLSeconds = 24 * 60 * 60

// deadline is a timeout in whole seconds (at least 1), nil when not positive.
func deadline(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	return ptr.To(max(int64(d/time.Second), 1))
}

// BuildState is the state of a build Job read from its conditions.
type BuildState struct {
	Finished, Failed bool
	// Reason and Message are the finishing condition's.
	Reason, Message string
	Active          int64
}

// BuildStateOf reads a batch/v1 Job's Complete and Failed conditions and active count.
func BuildStateOf(job *unstructured.Unstructured) BuildState {
	var st BuildState
	st.Active, _, _ = unstructured.NestedInt64(job.Object, "status", "active")
	conds, _, _ := unstructured.NestedSlice(job.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["status"] != "True" {
			continue
		}
		switch m["type"] {
		case "Complete":
			st.Finished = true
		case "Failed":
			st.Finished, st.Failed = true, true
		default:
			continue
		}
		st.Reason, _ = m["reason"].(string)
		st.Message, _ = m["message"].(string)
	}
	return st
}

// String is a progress line: running, succeeded or failed.
func (s BuildState) String() string {
	switch {
	case s.Failed:
		return "failed"
	case s.Finished:
		return "succeeded"
	case s.Active > 0:
		return "running"
	}
	return "created"
}
