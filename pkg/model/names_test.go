package model

import (
	"fmt"
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The hashes are the first 8 hex digits of sha256sum of the id.
func TestKubeName(t *testing.T) {
	for id, want := range map[string]string{
		"mnist":               "mnist",
		"dev/mnist":           "dev-mnist-14fbf217",
		"dev-mnist":           "dev-mnist",
		"Dev/MNIST":           "dev-mnist-108cfbde",
		"2024/model":          "m-2024-model-dcf49623",
		"mnist-0123abcd":      "mnist-0123abcd-ab8f916b",
		"prod/customer churn": "prod-customer-churn-faf817c3",
		"a/very/long/model/id/that/goes/on/and/on": "a-very-long-model-id-that-goes-79dbfdfd",
	} {
		if got := KubeName(id); got != want {
			t.Errorf("KubeName(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestKubeNameIsAValidStableUniqueLabel(t *testing.T) {
	ids := []string{"dev/mnist", "dev-mnist", "dev_mnist", "DEV/mnist", "dev//mnist", "dev/mnist/", "/dev/mnist", "dev.mnist"}
	for i := range 200 {
		ids = append(ids, fmt.Sprintf("team-%d/model.%d", i%7, i))
	}
	seen := map[string]string{}
	short := regexp.MustCompile(`^[a-z]`)
	for _, id := range ids {
		name := KubeName(id)
		if errs := validation.IsDNS1035Label(name); len(errs) > 0 || len(name) > 39 || !short.MatchString(name) {
			t.Errorf("KubeName(%q) = %q: not a DNS-1035 label of at most 39 characters: %v", id, name, errs)
		}
		if name != KubeName(id) {
			t.Errorf("KubeName(%q) is not stable", id)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("ids %q and %q both map to %q", other, id, name)
		}
		seen[name] = id
	}
}
