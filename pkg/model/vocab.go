package model

import (
	"fmt"
	"maps"
	"strings"
)

// Label and annotation keys on everything kubectl kaptain creates for a model.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByValue = "kubectl-kaptain"
	LabelModel     = "kaptain.dev/model"
	LabelRevision  = "kaptain.dev/revision"
	LabelAction    = "kaptain.dev/action"
	// AnnotationModelID keeps the model's id, which its Kubernetes name maps from.
	AnnotationModelID = "kaptain.dev/model-id"
	// AnnotationModelURI and AnnotationPreviousModelURI keep, on an InferenceService, what
	// rollback needs: the model now deployed and the one before the canary.
	AnnotationModelURI         = "kaptain.dev/model-uri"
	AnnotationPreviousModelURI = "kaptain.dev/previous-model-uri"
	// AnnotationTTLSecondsAfterFinished keeps, on a TrainJob (which has no TTL of its own),
	// how long it may stay once finished; 'kubectl kaptain clean' removes it after that.
	AnnotationTTLSecondsAfterFinished = "kaptain.dev/ttl-seconds-after-finished"
)

// ManagedSelector is the label selector of everything kubectl kaptain manages.
const ManagedSelector = LabelManagedBy + "=" + ManagedByValue

// IsManaged is true when an object's labels say kubectl kaptain made it.
func IsManaged(labels map[string]string) bool { return labels[LabelManagedBy] == ManagedByValue }

// Actions whose objects carry the model's labels.
const (
	ActionTrain = "train"
	ActionTune  = "tune"
	ActionBuild = "build"
)

// ShortRevision is the first six characters of a revision, as job names carry it.
func ShortRevision(r string) string {
	r = strings.ReplaceAll(strings.ToLower(r), "-", "")
	if len(r) > 6 {
		r = r[:6]
	}
	return r
}

// JobName is the name of an action's workload: the model's Kubernetes name, the action and
// the revision's first six characters, e.g. "mnist-train-7b93c1".
func (m *Model) JobName(action, revision string) string {
	return fmt.Sprintf("%s-%s-%s", m.KubeName(), action, ShortRevision(revision))
}

// JobNameWithin is JobName cut to at most limit characters, by shortening the model's part:
// some kinds allow less than a DNS label (a TrainJob's pod names add to its own).
func (m *Model) JobNameWithin(action, revision string, limit int) string {
	name := m.JobName(action, revision)
	if len(name) <= limit {
		return name
	}
	suffix := fmt.Sprintf("-%s-%s", action, ShortRevision(revision))
	base := m.KubeName()
	if keep := limit - len(suffix); keep > 0 && keep < len(base) {
		base = strings.TrimRight(base[:keep], "-")
	}
	return base + suffix
}

// Labels are the labels of everything an action makes for the model: managed-by, model,
// revision, action, and the model's own labels.
func (m *Model) Labels(revision, action string) map[string]string {
	labels := maps.Clone(m.Spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManagedBy] = ManagedByValue
	labels[LabelModel] = m.KubeName()
	labels[LabelRevision] = revision
	labels[LabelAction] = action
	return labels
}

// Annotations are the annotations of everything an action makes for the model.
func (m *Model) Annotations() map[string]string {
	return map[string]string{AnnotationModelID: m.Spec.ID}
}

// storageBase is spec.config.modelStorageURI without a trailing slash.
func (m *Model) storageBase() string { return strings.TrimRight(m.Spec.Config.ModelStorageURI, "/") }

// CheckStoredURI checks a model URI read from the model's record (which others in the
// namespace may edit): a valid s3:// URI under the model's own storage,
// <modelStorageURI>/<id>/.
func (m *Model) CheckStoredURI(uri string) error {
	if _, _, err := ParseStorageURI(uri); err != nil {
		return err
	}
	if mine := m.storageBase() + "/" + m.Spec.ID + "/"; !strings.HasPrefix(uri, mine) || strings.Contains(uri[len(mine):], "..") {
		return fmt.Errorf("%q is not under the model's storage %s", uri, mine)
	}
	return nil
}

// TrainedURI is where a training revision is told to save the model.
func (m *Model) TrainedURI(revision string) string {
	return m.storageBase() + "/" + m.Spec.ID + "/trained/" + revision
}

// TunedURI is where a tuning revision's trial saved its model.
func (m *Model) TunedURI(revision, trial string) string {
	return m.storageBase() + "/" + m.Spec.ID + "/tuned/" + revision + "/" + trial
}

// BuildContextURI is where the cluster builder reads the build context with the given
// content checksum.
func (m *Model) BuildContextURI(checksum string) (string, error) {
	bucket, prefix, err := ParseStorageURI(m.Spec.Config.ModelStorageURI)
	if err != nil {
		return "", err
	}
	return "s3://" + strings.Trim(bucket+"/"+prefix, "/") + "/" + m.KubeName() + "/build/" + checksum + ".tar.gz", nil
}

// ImageRef is spec.image, under spec.config.registry.url when the image names no registry.
func (m *Model) ImageRef() string {
	img, url := m.Spec.Image, m.Spec.Config.Registry.URL
	if url == "" {
		return img
	}
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://"), "/")
	first, _, found := strings.Cut(img, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return img
	}
	return host + "/" + img
}
