package plugin

import (
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

func TestImageName(t *testing.T) {
	for _, tc := range []struct{ image, url, want string }{
		{"kaptain/mnist:1", "", "kaptain/mnist:1"},
		{"kaptain/mnist:1", "registry.example.com:5000", "registry.example.com:5000/kaptain/mnist:1"},
		{"kaptain/mnist:1", "https://registry.example.com/", "registry.example.com/kaptain/mnist:1"},
		{"mnist", "http://127.0.0.1:5000", "127.0.0.1:5000/mnist"},
		{"other.example.com/kaptain/mnist:1", "registry.example.com", "other.example.com/kaptain/mnist:1"},
		{"localhost/mnist:1", "registry.example.com", "localhost/mnist:1"},
		{"127.0.0.1:5000/mnist:1", "registry.example.com", "127.0.0.1:5000/mnist:1"},
	} {
		m := &model.Model{Spec: model.Spec{Image: tc.image, Config: model.Config{Registry: model.Registry{URL: tc.url}}}}
		if got := imageName(m); got != tc.want {
			t.Errorf("imageName(%q, url %q) = %q, want %q", tc.image, tc.url, got, tc.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 50_000_000: "47.7 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
