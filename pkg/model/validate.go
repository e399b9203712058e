package model

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Frameworks lists the frameworks a model may declare: tensorflow, pytorch, jax, xgboost and
// mlx can be trained and tuned (jax, xgboost and mlx on Kubeflow Trainer v2 only); all but
// jax and mlx, which no KServe server loads, can be deployed as they are (those two with
// spec.serving.modelFormat naming what the trainer saves).
var frameworks = []string{"tensorflow", "pytorch", "jax", "mlx", "sklearn", "xgboost", "lightgbm", "onnx", "huggingface", "triton", "pmml", "paddle", "mlflow"}

// TrainableFrameworks lists the frameworks train and tune support.
func TrainableFrameworks() []string {
	return []string{"tensorflow", "pytorch", "jax", "xgboost", "mlx"}
}

// Frameworks lists every framework kaptain.yaml accepts.
func Frameworks() []string { return slices.Clone(frameworks) }

var (
	hyperparameterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	bucketName         = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// Default fills in the SDK's defaults.
func (m *Model) Default() {
	if m.Spec.Config.ModelStorageURI == "" {
		m.Spec.Config.ModelStorageURI = DefaultModelStorageURI
	}
	if m.Spec.Config.Storage.Region == "" {
		m.Spec.Config.Storage.Region = "us-east-1"
	}
}

// Validate checks every property and returns the first problem in file order, as an
// UndefinedModelProperty (missing) or InvalidModelProperty (blank or malformed) error naming
// the field and its line. It reads no files.
func (m *Model) Validate() error {
	if err := m.required("apiVersion", m.APIVersion); err != nil {
		return err
	}
	if m.APIVersion != APIVersion {
		return m.invalid("apiVersion", "%q is not supported; use %s", m.APIVersion, APIVersion)
	}
	if err := m.required("kind", m.Kind); err != nil {
		return err
	}
	if m.Kind != Kind {
		return m.invalid("kind", "%q is not supported; use %s", m.Kind, Kind)
	}
	if _, ok := m.lines["spec"]; !ok {
		return m.undefined("spec", "a Model needs a spec with id, name, framework, mainFile, image and the other required fields")
	}
	s := &m.Spec
	for _, f := range []struct{ path, value string }{
		{"spec.id", s.ID},
		{"spec.name", s.Name},
		{"spec.description", s.Description},
		{"spec.version", s.Version},
		{"spec.framework", s.Framework},
		{"spec.frameworkVersion", s.FrameworkVersion},
		{"spec.mainFile", s.MainFile},
		{"spec.image", s.Image},
		{"spec.baseImage", s.BaseImage},
	} {
		if err := m.required(f.path, f.value); err != nil {
			return err
		}
	}
	if err := ValidateID(s.ID); err != nil {
		return m.invalid("spec.id", "%v", err)
	}
	if !slices.Contains(frameworks, s.Framework) {
		return m.invalid("spec.framework", "%q is not supported; use one of: %s", s.Framework, strings.Join(frameworks, ", "))
	}
	if f := s.Serving.ModelFormat; f != "" && !slices.Contains(frameworks, f) {
		return m.invalid("spec.serving.modelFormat", "%q is not a KServe model format; use one of: %s", f, strings.Join(frameworks, ", "))
	}
	if err := relativeFile(s.MainFile); err != nil {
		return m.invalid("spec.mainFile", "%v", err)
	}
	for i, f := range s.ExtraFiles {
		if err := relativeFile(f); err != nil {
			return m.invalid(fmt.Sprintf("spec.extraFiles[%d]", i), "%v", err)
		}
	}
	if s.Requirements != "" {
		if err := relativeFile(s.Requirements); err != nil {
			return m.invalid("spec.requirements", "%v", err)
		}
	}
	for _, f := range []struct{ path, value string }{{"spec.image", s.Image}, {"spec.baseImage", s.BaseImage}} {
		if _, err := name.ParseReference(f.value); err != nil {
			return m.invalid(f.path, "%q is not an image reference (registry/repository[:tag]): %v", f.value, err)
		}
	}
	for _, k := range sortedKeys(s.Labels) {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return m.invalid("spec.labels."+k, "not a valid label key: %s", strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(s.Labels[k]); len(errs) > 0 {
			return m.invalid("spec.labels."+k, "not a valid label value: %s", strings.Join(errs, "; "))
		}
	}
	for _, k := range sortedKeys(s.Hyperparameters) {
		if f, ok := s.Hyperparameters[k].(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return m.invalid("spec.hyperparameters."+k, "%v is not a finite number: the model's record could not keep it", f)
		}
		if v, ok := s.Hyperparameters[k].(string); ok && NonFinite(v) {
			return m.invalid("spec.hyperparameters."+k, "%q reads as a number that is not finite, as the trainer would parse it; give a finite number", v)
		}
		if !hyperparameterName.MatchString(k) {
			return m.invalid("spec.hyperparameters."+k, "not a valid hyperparameter name: use letters, digits, '_', '-' and '.', starting with a letter or '_'")
		}
	}
	if err := m.validateServing(); err != nil {
		return err
	}
	if err := m.validateTraining(); err != nil {
		return err
	}
	return m.validateConfig()
}

func (m *Model) validateTraining() error {
	t := m.Spec.Training
	if err := ValidateTrainingAPI(t.API); err != nil {
		return m.invalid("spec.training.api", "%v", err)
	}
	if t.Runtime != "" {
		if _, _, err := ParseRuntime(t.Runtime); err != nil {
			return m.invalid("spec.training.runtime", "%v", err)
		}
	}
	if t.Queue != "" {
		if err := ValidateQueue(t.Queue); err != nil {
			return m.invalid("spec.training.queue", "%v", err)
		}
	}
	return nil
}

// ValidateQueue checks a Kueue LocalQueue name, which is also a label value.
func ValidateQueue(q string) error {
	errs := validation.IsDNS1123Subdomain(q)
	errs = append(errs, validation.IsValidLabelValue(q)...)
	if len(errs) > 0 {
		return fmt.Errorf("%q is not a LocalQueue name: %s", q, strings.Join(errs, "; "))
	}
	return nil
}

// ValidateTrainingAPI checks a training API name: v1, v2, or empty for the cluster's choice.
func ValidateTrainingAPI(api string) error {
	if api != "" && api != TrainingAPIV1 && api != TrainingAPIV2 {
		return fmt.Errorf("%q is not a training API; use v1 (TFJob, PyTorchJob) or v2 (TrainJob)", api)
	}
	return nil
}

// Runtime kinds a TrainJob's runtimeRef names.
const (
	KindClusterTrainingRuntime = "ClusterTrainingRuntime"
	KindTrainingRuntime        = "TrainingRuntime"
)

// ParseRuntime reads a runtime reference: NAME is a ClusterTrainingRuntime,
// trainingruntime/NAME a TrainingRuntime in the job's namespace (clustertrainingruntime/NAME
// is also accepted).
func ParseRuntime(s string) (kind, name string, err error) {
	kind, name = KindClusterTrainingRuntime, s
	if prefix, rest, ok := strings.Cut(s, "/"); ok {
		switch strings.ToLower(prefix) {
		case "trainingruntime", "trainingruntimes":
			kind = KindTrainingRuntime
		case "clustertrainingruntime", "clustertrainingruntimes":
		default:
			return "", "", fmt.Errorf("%q: the kind before / must be trainingruntime or clustertrainingruntime", s)
		}
		name = rest
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", "", fmt.Errorf("%q is not a runtime name: %s", s, strings.Join(errs, "; "))
	}
	return kind, name, nil
}

func (m *Model) validateServing() error {
	sv := m.Spec.Serving
	if sv.MinReplicas != nil && *sv.MinReplicas < 0 {
		return m.invalid("spec.serving.minReplicas", "must be 0 or more, got %d", *sv.MinReplicas)
	}
	if sv.MaxReplicas != nil && *sv.MaxReplicas < 1 {
		return m.invalid("spec.serving.maxReplicas", "must be 1 or more, got %d", *sv.MaxReplicas)
	}
	if sv.MinReplicas != nil && sv.MaxReplicas != nil && *sv.MinReplicas > *sv.MaxReplicas {
		return m.invalid("spec.serving.maxReplicas", "must not be less than minReplicas (%d)", *sv.MinReplicas)
	}
	if mode := sv.DeploymentMode; mode != "" && !slices.Contains([]string{"Knative", "Serverless", "Standard", "RawDeployment"}, mode) {
		return m.invalid("spec.serving.deploymentMode", "%q is not supported; use Knative (or its older name Serverless) or Standard (RawDeployment)", mode)
	}
	if pv := sv.ProtocolVersion; pv != "" && pv != "v1" && pv != "v2" {
		return m.invalid("spec.serving.protocolVersion", "%q is not supported; use v1 or v2", pv)
	}
	return nil
}

func (m *Model) validateConfig() error {
	c := m.Spec.Config
	if c.BaseDir != "" && !local(c.BaseDir) {
		return m.invalid("spec.config.baseDir", "%q must be a directory inside the one of %s, relative to it: the model's files cannot come from elsewhere (move %s next to its code)", c.BaseDir, m.fileName(), m.fileName())
	}
	if _, _, err := ParseStorageURI(c.ModelStorageURI); err != nil {
		return m.invalid("spec.config.modelStorageURI", "%v", err)
	}
	if hasUserinfo(c.Registry.URL) {
		return m.invalid("spec.config.registry.url", "has credentials (user:password@) in it, which messages and 'model meta' would print; write the registry host[:port] only and keep the credentials in the Docker config (spec.config.registry.dockerConfig)")
	}
	if c.Registry.URL != "" {
		if _, err := name.NewRegistry(strings.TrimPrefix(strings.TrimPrefix(c.Registry.URL, "https://"), "http://")); err != nil {
			return m.invalid("spec.config.registry.url", "%q is not a registry host[:port]: %v", c.Registry.URL, err)
		}
	}
	if hasUserinfo(c.Storage.Endpoint) {
		return m.invalid("spec.config.storage.endpoint", "has credentials (user:password@) in it, which messages and 'model meta' would print; write the URL without them (http[s]://host[:port]) and keep the credentials in the AWS settings (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS profile)")
	}
	if e := c.Storage.Endpoint; e != "" {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return m.invalid("spec.config.storage.endpoint", "%q is not an http:// or https:// URL", e)
		}
	}
	if sv := c.Storage.SignatureVersion; sv != "" && sv != "s3v4" && sv != "s3" {
		return m.invalid("spec.config.storage.signatureVersion", "%q is not supported; use s3v4 or s3", sv)
	}
	if strings.TrimSpace(c.Storage.Region) == "" {
		return m.invalid("spec.config.storage.region", "is blank; remove it for the default us-east-1 or name a region")
	}
	return nil
}

// ParseStorageURI splits an s3://bucket/prefix URI into bucket and prefix.
func ParseStorageURI(uri string) (bucket, prefix string, err error) {
	if hasUserinfo(uri) {
		return "", "", fmt.Errorf("has credentials (user:password@) in it, which messages would print; write s3://bucket/path and keep the credentials in the AWS settings (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS profile)")
	}
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3://bucket/path URI", uri)
	}
	if i := strings.IndexFunc(uri, func(r rune) bool { return r == '$' || r == '`' || unicode.IsSpace(r) || !unicode.IsPrint(r) }); i >= 0 {
		return "", "", fmt.Errorf("%q contains %q: a model URI reaches container arguments, where the kubelet expands $(VAR); write the path itself", uri, string([]rune(uri[i:])[0]))
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !bucketName.MatchString(bucket) || strings.Contains(bucket, "..") {
		return "", "", fmt.Errorf("%q: bucket %q is not a valid S3 bucket name (3-63 lowercase letters, digits, '.' and '-')", uri, bucket)
	}
	return bucket, strings.Trim(prefix, "/"), nil
}

// hasUserinfo reports whether a URL, or a host[:port] written without a scheme, has a
// user[:password]@ part before its host: an '@' in the authority, up to the first '/', '?' or
// '#'. It parses nothing, so a malformed URL with credentials is caught too.
func hasUserinfo(s string) bool {
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	return strings.Contains(s, "@")
}

// ValidateID checks a model id: 1 to 253 printable characters without spaces, at least one
// of them a letter or digit, made of path segments separated by '/'. The id is used as written
// in S3 keys and model URIs, so it has no empty, "." or ".." segment and none of '?', '#',
// '%' and '\'; and, as model URIs reach container arguments, where the kubelet expands
// $(VAR), none of '$', '`' and quotes either.
func ValidateID(id string) error {
	const allowed = "a model id is path segments separated by single '/', none of them empty, \".\" or \"..\", without '?', '#', '%', '\\', '$', '`' or quotes, such as dev/mnist"
	if len(id) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", id)
	}
	alnum := false
	for _, r := range id {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("%q contains a space or control character; use a path-like id such as dev/mnist", id)
		}
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			alnum = true
		}
	}
	if !alnum {
		return fmt.Errorf("%q needs at least one ASCII letter or digit; use a path-like id such as dev/mnist", id)
	}
	if i := strings.IndexAny(id, `?#%\`); i >= 0 {
		return fmt.Errorf("%q contains %q, which S3 keys and model URIs would read differently; %s", id, id[i], allowed)
	}
	if i := strings.IndexAny(id, "$`'\""); i >= 0 {
		return fmt.Errorf("%q contains %q, which the kubelet or a shell would expand in the model URI it becomes; %s", id, id[i], allowed)
	}
	for _, seg := range strings.Split(id, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%q has an empty path segment (a leading, trailing or double '/'); %s", id, allowed)
		case ".", "..":
			return fmt.Errorf("%q has the path segment %q, which S3 keys and model URIs would resolve; %s", id, seg, allowed)
		}
	}
	return nil
}

// relativeFile checks that p names something inside baseDir: relative and, once cleaned,
// local (no "..", no root or volume, no Windows reserved name; "./.." is ".."), in both slash
// and the platform's forms.
func relativeFile(p string) error {
	if !local(p) {
		return fmt.Errorf("%q must be a path inside baseDir, relative to it", p)
	}
	return nil
}

// local reports whether p stays inside the directory it is relative to, read as a slash path
// and as a path of this platform. "." is local.
func local(p string) bool {
	return p == "." || (filepath.IsLocal(filepath.Clean(p)) && filepath.IsLocal(filepath.Clean(filepath.FromSlash(p))) &&
		!strings.HasPrefix(p, "/") && !slices.Contains(strings.Split(filepath.ToSlash(p), "/"), ".."))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// NonFinite reports whether a value written as text reads as NaN or an infinity, as a
// trainer's float() would read it: "NaN", "+Inf", "infinity" in any case, or a number too
// large for a float64 such as 1e999.
func NonFinite(s string) bool {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return false
	}
	return math.IsNaN(f) || math.IsInf(f, 0)
}
