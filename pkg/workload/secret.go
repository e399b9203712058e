package workload

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Secret returns an Opaque Secret holding data. Values go in data (base64), not stringData,
// so that applying the same Secret twice changes nothing. Render redacts them unless asked
// to show secrets.
func Secret(name string, data map[string]string) (*unstructured.Unstructured, error) {
	if name == "" {
		return nil, fmt.Errorf("building secret: no name")
	}
	return toUnstructured(corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Type:       corev1.SecretTypeOpaque,
		Data:       bytesOf(data),
	})
}

func bytesOf(data map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(data))
	for k, v := range data {
		out[k] = []byte(v)
	}
	return out
}
