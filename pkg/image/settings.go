package image

import (
	"cmp"
	"fmt"
	"net/url"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// Source says where a push's credentials and certificates come from: the command's flags,
// over kaptain.yaml's spec.config.registry, over the defaults.
type Source struct {
	// DockerConfig and RegistryCA are files named by flags; empty for kaptain.yaml's or the
	// default ones.
	DockerConfig, RegistryCA string
	// Insecure allows plain HTTP and unverified TLS to the target registry.
	Insecure bool
	// Platform is the base image's os/arch[/variant].
	Platform string
}

// Settings are where and how a model's image is pushed, resolved once: the target, the
// registry access (keychain, CAs, insecure host, platform), where they came from, and the
// CA's PEM for an in-cluster builder.
type Settings struct {
	Target   string
	Registry *Registry
	Hints    Hints
	CAPEM    []byte
	// Warnings are for the user: settings that kaptain.yaml asks for and cannot have.
	Warnings []string
}

// Resolve reads the credentials and certificates for pushing m's image. It contacts nothing;
// a file named by a flag or kaptain.yaml must exist. A platform that does not parse is left
// for Validate to report.
func Resolve(m *model.Model, s Source) (*Settings, error) {
	out := &Settings{Target: m.ImageRef()}
	kc, used, err := credentials.DockerKeychain(cmp.Or(s.DockerConfig, m.Spec.Config.Registry.DockerConfig))
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "")
	}
	pool, caUsed, pem, err := credentials.RegistryCAs(cmp.Or(s.RegistryCA, m.Spec.Config.Registry.Certificate))
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "")
	}
	out.CAPEM, out.Hints = pem, Hints{DockerConfig: used, CA: caUsed}
	p, _ := v1.ParsePlatform(s.Platform)
	out.Registry = &Registry{Keychain: kc, RootCAs: pool, Insecure: s.Insecure, Platform: p}
	if ref, err := name.ParseReference(out.Target); err == nil {
		host := ref.Context().RegistryStr()
		out.Registry.TargetHost = host
		// kaptain.yaml cannot turn TLS off: a registry on loopback speaks plain HTTP anyway,
		// any other needs --insecure-registry, which the file's http:// only hints at.
		if u, err := url.Parse(m.Spec.Config.Registry.URL); err == nil && u.Scheme == "http" && u.Host == host && !Loopback(host) && !s.Insecure {
			out.Warnings = append(out.Warnings, fmt.Sprintf("spec.config.registry.url %s is plain HTTP, which kaptain.yaml alone cannot allow for a registry off this machine: add --insecure-registry if you trust the network to %s", m.Spec.Config.Registry.URL, host))
		}
	}
	return out, nil
}

// ValidatePlatform checks an os/arch[/variant] platform.
func ValidatePlatform(platform string) error {
	if p, err := v1.ParsePlatform(platform); err != nil || p.OS == "" || p.Architecture == "" {
		return sdkerr.New(sdkerr.Usage, "--platform %q is not os/arch[/variant], e.g. linux/amd64", platform)
	}
	return nil
}

// Validate checks the target; it is pure.
func (s *Settings) Validate(m *model.Model) error {
	if _, err := name.ParseReference(s.Target); err != nil {
		return sdkerr.New(sdkerr.InvalidModelProperty, "%s: spec.image %q is not an image reference: %v", m.Path, s.Target, err)
	}
	return nil
}

// Host is the target's registry, e.g. "registry.example.com:5000".
func (s *Settings) Host() string {
	ref, err := s.Registry.Reference(s.Target)
	if err != nil {
		return s.Target
	}
	return ref.Context().RegistryStr()
}

// Explain turns a registry error into an ImageBuild error that says what to do.
func (s *Settings) Explain(err error) error {
	return sdkerr.Wrap(sdkerr.ImageBuild, Explain(err, s.Host(), s.Hints), "")
}
