package workload

import (
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// StorageSecret returns the Secret KServe's storage initializer reads: the S3 credentials as
// data, the endpoint, https, region and certificate checks as annotations. data holds the
// variables of credentials.ResolveS3Secret.
func StorageSecret(name string, data map[string]string) (*unstructured.Unstructured, error) {
	keys := map[string]string{}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		if v := data[k]; v != "" {
			keys[k] = v
		}
	}
	secret, err := Secret(name, keys)
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{"serving.kserve.io/s3-region": data["AWS_REGION"]}
	if endpoint := data["S3_ENDPOINT"]; endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("storage endpoint %q: %w", endpoint, err)
		}
		https := "0"
		if u.Scheme == "https" {
			https = "1"
		}
		annotations["serving.kserve.io/s3-endpoint"] = u.Host + strings.TrimRight(u.Path, "/")
		annotations["serving.kserve.io/s3-usehttps"] = https
		annotations["serving.kserve.io/s3-verifyssl"] = https
	}
	secret.SetAnnotations(annotations)
	return secret, nil
}

// ServiceAccount returns a ServiceAccount that carries the given Secrets, as KServe's storage
// initializer expects.
func ServiceAccount(name string, secrets ...string) (*unstructured.Unstructured, error) {
	sa := corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, s := range secrets {
		sa.Secrets = append(sa.Secrets, corev1.ObjectReference{Name: s})
	}
	return toUnstructured(sa)
}
