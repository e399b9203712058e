package image

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry says how to reach registries: credentials, trusted CAs and the platform of base
// images. The zero value uses anonymous access and the system's CAs.
type Registry struct {
	// Keychain resolves credentials; anonymous when nil.
	Keychain authn.Keychain
	// RootCAs are the CAs trusted for registry TLS; the system's when nil.
	RootCAs *x509.CertPool
	// Insecure allows plain HTTP and skips TLS verification, for InsecureHost only (the target
	// registry): a base image elsewhere, and its credentials, keep verified TLS.
	Insecure     bool
	InsecureHost string
	// Platform picks the base image from a multi-platform index; linux/amd64 when empty.
	Platform *v1.Platform
	// Transport, when set, is the innermost round tripper (tests count requests with it).
	Transport http.RoundTripper
}

// Options tune one build.
type Options struct {
	// Force builds and pushes even when the registry holds an image with the same checksum.
	Force bool
	// Progress receives push updates; it may be nil.
	Progress chan<- v1.Update
}

// Result says what a build did.
type Result struct {
	// Reference is the image as named, Pinned the same repository at the pushed digest.
	Reference string
	Pinned    string
	Digest    string
	Checksum  string
	// Skipped is true when the registry already held the image with this checksum.
	Skipped bool
	// Layers are the model's layers (not the base image's).
	Layers []NamedLayer
	// Requests and BytesSent count what went to the registry.
	Requests  int64
	BytesSent int64
}

// Reference parses an image reference, allowing plain HTTP when its registry is the insecure one.
func (r *Registry) Reference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil || !r.insecureHost(ref.Context().RegistryStr()) {
		return ref, err
	}
	return name.ParseReference(s, name.Insecure)
}

func (r *Registry) insecureHost(host string) bool {
	return r.Insecure && (r.InsecureHost == "" || host == r.InsecureHost)
}

// dialTLS dials with verified TLS against RootCAs, except to the insecure registry's host.
func (r *Registry) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	host := hostOnly(addr)
	cfg := &tls.Config{RootCAs: r.RootCAs, ServerName: host, MinVersion: tls.VersionTLS12}
	if r.Insecure && (r.InsecureHost == "" || hostOnly(r.InsecureHost) == host) {
		cfg.InsecureSkipVerify = true //nolint:gosec // --insecure-registry, for that registry only
	}
	d := tls.Dialer{Config: cfg}
	return d.DialContext(ctx, network, addr)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// newMeter returns the transport of one operation: the registry's, counted.
func (r *Registry) newMeter() *meter {
	inner := r.Transport
	if inner == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.DialTLSContext = r.dialTLS
		inner = t
	}
	return &meter{next: inner}
}

func (r *Registry) options(ctx context.Context, m *meter) []remote.Option {
	kc := r.Keychain
	if kc == nil {
		kc = authn.NewMultiKeychain()
	}
	platform := v1.Platform{OS: "linux", Architecture: "amd64"}
	if r.Platform != nil {
		platform = *r.Platform
	}
	return []remote.Option{
		remote.WithContext(ctx), remote.WithTransport(m), remote.WithAuthFromKeychain(kc),
		remote.WithPlatform(platform), remote.WithUserAgent("kubectl-kaptain"),
	}
}

// RemoteChecksum returns the checksum of the image at ref, "" when the image has none or is
// missing. The manifest annotation costs one manifest request (plus the registry's auth
// handshake); an image without it (the cluster builder's executor writes only the label) costs
// one more request, for its configuration.
func (r *Registry) RemoteChecksum(ctx context.Context, ref string) (checksum, digest string, err error) {
	return r.remoteChecksum(ctx, ref, r.newMeter())
}

func (r *Registry) remoteChecksum(ctx context.Context, s string, m *meter) (checksum, digest string, err error) {
	ref, err := r.Reference(s)
	if err != nil {
		return "", "", err
	}
	desc, err := remote.Get(ref, r.options(ctx, m)...)
	if err != nil {
		if isNotFound(err) {
			return "", "", nil
		}
		return "", "", fmt.Errorf("reading %s: %w", s, err)
	}
	if !desc.MediaType.IsImage() {
		return "", desc.Digest.String(), nil
	}
	mf, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return "", desc.Digest.String(), nil
	}
	if sum := mf.Annotations[LabelChecksum]; sum != "" {
		return sum, desc.Digest.String(), nil
	}
	img, err := desc.Image()
	if err != nil {
		return "", desc.Digest.String(), nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", "", fmt.Errorf("reading the configuration of %s: %w", s, err)
	}
	return cf.Config.Labels[LabelChecksum], desc.Digest.String(), nil
}

// Build makes the model's image on top of its base image and pushes it to target, unless the
// registry already holds target with the same checksum. Base layers are never downloaded: they
// are mounted from the base's repository, or found already present, when the registries match.
func (r *Registry) Build(ctx context.Context, in *Inputs, target string, opts Options) (*Result, error) {
	m := r.newMeter()
	ref, err := r.Reference(target)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", target, err)
	}
	res := &Result{Reference: ref.String(), Checksum: in.Checksum()}
	defer func() { res.Requests, res.BytesSent = m.requests.Load(), m.bytes.Load() }()
	// The progress channel is closed on every path: by remote.Write once it has it, else here.
	handedOver := false
	defer func() {
		if opts.Progress != nil && !handedOver {
			close(opts.Progress)
		}
	}()
	if !opts.Force {
		sum, digest, err := r.remoteChecksum(ctx, target, m)
		if err != nil {
			return nil, err
		}
		if sum == res.Checksum {
			res.Skipped, res.Digest = true, digest
			res.Pinned = ref.Context().Digest(digest).String()
			return res, nil
		}
	}
	dir, err := os.MkdirTemp("", "kaptain-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	img, layers, err := r.assemble(ctx, in, m, dir)
	if err != nil {
		return nil, err
	}
	res.Layers = layers
	wopts := r.options(ctx, m)
	if opts.Progress != nil {
		wopts = append(wopts, remote.WithProgress(opts.Progress))
		handedOver = true
	}
	if err := remote.Write(ref, img, wopts...); err != nil {
		return nil, fmt.Errorf("pushing %s: %w", target, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	res.Digest = d.String()
	res.Pinned = ref.Context().Digest(d.String()).String()
	return res, nil
}

// assemble builds the image: base, the model's layers, configuration and annotation.
func (r *Registry) assemble(ctx context.Context, in *Inputs, m *meter, dir string) (v1.Image, []NamedLayer, error) {
	base, err := r.base(ctx, in.BaseImage, m)
	if err != nil {
		return nil, nil, err
	}
	layers, err := in.Layers(dir)
	if err != nil {
		return nil, nil, err
	}
	var adds []mutate.Addendum
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{
			Layer:     l.Layer,
			MediaType: types.OCILayer,
			History:   v1.History{CreatedBy: fmt.Sprintf("kubectl-kaptain: %s layer (%d files)", l.Name, l.Files), Created: v1.Time{Time: epoch}},
		})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, nil, fmt.Errorf("adding the model's layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the base image's configuration: %w", err)
	}
	cfg := *cf.Config.DeepCopy()
	cfg.WorkingDir = WorkDir
	cfg.Entrypoint = in.Entrypoint()
	cfg.Cmd = nil
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	for k, v := range in.Labels() {
		labels[k] = v
	}
	cfg.Labels = labels
	if img, err = mutate.Config(img, cfg); err != nil {
		return nil, nil, fmt.Errorf("writing the image configuration: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	annotated, ok := mutate.Annotations(img, map[string]string{LabelChecksum: in.Checksum()}).(v1.Image)
	if !ok {
		return nil, nil, errors.New("annotating the image manifest")
	}
	return annotated, layers, nil
}

// base resolves the base image by its manifest and configuration only; "scratch" is empty.
func (r *Registry) base(ctx context.Context, s string, m *meter) (v1.Image, error) {
	if s == "scratch" {
		platform := v1.Platform{OS: "linux", Architecture: "amd64"}
		if r.Platform != nil {
			platform = *r.Platform
		}
		return mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: platform.OS, Architecture: platform.Architecture, RootFS: v1.RootFS{Type: "layers"}})
	}
	ref, err := r.Reference(s)
	if err != nil {
		return nil, fmt.Errorf("base image %q: %w", s, err)
	}
	img, err := remote.Image(ref, r.options(ctx, m)...)
	if err != nil {
		return nil, &BaseImageError{Image: s, Registry: ref.Context().RegistryStr(), Err: err}
	}
	return img, nil
}

// BaseImageError is a failure to read the base image, from the base's own registry.
type BaseImageError struct {
	Image, Registry string
	Err             error
}

func (e *BaseImageError) Error() string {
	return fmt.Sprintf("reading base image %s: %v", e.Image, e.Err)
}
func (e *BaseImageError) Unwrap() error { return e.Err }

// meter counts requests and request body bytes on their way to the registry.
type meter struct {
	next     http.RoundTripper
	requests atomic.Int64
	bytes    atomic.Int64
}

func (m *meter) RoundTrip(req *http.Request) (*http.Response, error) {
	m.requests.Add(1)
	if req.Body != nil && req.Body != http.NoBody {
		body := req.Body
		req = req.Clone(req.Context())
		req.Body = &countingBody{ReadCloser: body, n: &m.bytes}
	}
	return m.next.RoundTrip(req)
}
