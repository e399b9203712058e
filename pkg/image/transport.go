package image

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry says how to reach registries: credentials, trusted CAs and the platform of base
// images. The zero value uses anonymous access and the system's CAs.
type Registry struct {
	// Keychain resolves credentials; anonymous when nil.
	Keychain authn.Keychain
	// RootCAs are the CAs trusted for the target registry's TLS (TargetHost's); every other
	// registry, a base image's such as docker.io, is verified against the system's CAs. The
	// system's for the target too when nil.
	RootCAs *x509.CertPool
	// Insecure allows plain HTTP and skips TLS verification, for TargetHost only: a base
	// image elsewhere, and its credentials, keep verified TLS. Plain HTTP to any other registry
	// is refused, even to the private and loopback addresses that go-containerregistry would
	// otherwise try it for.
	Insecure bool
	// TargetHost is the target registry (host[:port], as named in the image). When empty,
	// RootCAs and Insecure apply to every registry.
	TargetHost string
	// Platform picks the base image from a multi-platform index; linux/amd64 when empty.
	Platform *v1.Platform
	// Transport, when set, is the innermost round tripper (tests count requests with it).
	Transport http.RoundTripper

	// Tests set these; the environment's proxy, a plain TCP dialer and the timeouts above
	// otherwise.
	proxy                           func(*http.Request) (*url.URL, error)
	dial                            func(ctx context.Context, network, addr string) (net.Conn, error)
	handshakeTimeout, headerTimeout time.Duration
}

// Reference parses an image reference, allowing plain HTTP when its registry is the insecure
// one or on loopback.
func (r *Registry) Reference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil || !r.plainHTTPHost(ref.Context().RegistryStr()) {
		return ref, err
	}
	return name.ParseReference(s, name.Insecure)
}

// plainHTTPHost is true when host (host[:port], as named) may be reached over plain HTTP:
// the insecure registry, or one on loopback (127.0.0.0/8, ::1, localhost), which Docker
// treats as insecure by default and from which nothing leaves the machine. TLS, when the
// registry speaks it, is verified all the same.
func (r *Registry) plainHTTPHost(host string) bool {
	return r.insecureHost(host) || Loopback(host)
}

// Loopback reports whether a registry host (host[:port]) is on this machine's loopback:
// localhost or a name under .localhost, 127.0.0.0/8 or ::1.
func Loopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = strings.Trim(host, "[]")
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// insecureHost is true when host (host[:port], as named) may be reached over plain HTTP and
// unverified TLS.
func (r *Registry) insecureHost(host string) bool {
	return r.Insecure && (r.TargetHost == "" || host == r.TargetHost)
}

// Registry transport timeouts: a registry that accepts a connection and says nothing fails
// the build instead of hanging it.
const (
	dialTimeout           = 30 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = time.Minute
)

// newMeter returns the transport of one operation: the registry's, counted.
func (r *Registry) newMeter() *meter {
	if r.Transport != nil {
		return &meter{next: httpOnlyToInsecure{registry: r, next: r.Transport}}
	}
	return &meter{next: r.transport()}
}

// transport returns the registry transport: verified TLS against RootCAs to the target
// registry (host and port as named) and against the system's CAs to any other, unverified TLS
// to the insecure registry, plain HTTP to the insecure registry only; through the
// environment's proxy (whose CONNECT tunnels use the same TLS settings), with dial, handshake
// and response-header timeouts.
func (r *Registry) transport() http.RoundTripper {
	var rt http.RoundTripper
	if r.TargetHost == "" {
		rt = r.httpTransport(r.RootCAs, r.Insecure)
	} else {
		rt = byHost{host: r.TargetHost, target: r.httpTransport(r.RootCAs, r.Insecure), other: r.httpTransport(nil, false)}
	}
	return httpOnlyToInsecure{registry: r, next: rt}
}

// httpTransport is a transport verifying TLS against roots (the system's when nil), or not
// at all when insecure.
func (r *Registry) httpTransport(roots *x509.CertPool, insecure bool) *http.Transport {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	if r.proxy != nil {
		t.Proxy = r.proxy
	}
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	if r.dial != nil {
		t.DialContext = r.dial
	}
	t.TLSHandshakeTimeout = cmp.Or(r.handshakeTimeout, tlsHandshakeTimeout)
	t.ResponseHeaderTimeout = cmp.Or(r.headerTimeout, responseHeaderTimeout)
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if insecure {
		t.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // --insecure-registry, for that registry only
	}
	return t
}

// byHost sends requests to host (host[:port], as the registry is named) through target, and
// every other request through other.
type byHost struct {
	host          string
	target, other http.RoundTripper
}

func (b byHost) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == b.host {
		return b.target.RoundTrip(req)
	}
	return b.other.RoundTrip(req)
}

// httpOnlyToInsecure refuses plain HTTP except to the insecure registry and to loopback.
// go-containerregistry falls back to HTTP by itself for private addresses too; the request
// never leaves, so neither do credentials.
type httpOnlyToInsecure struct {
	registry *Registry
	next     http.RoundTripper
}

func (h httpOnlyToInsecure) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !h.registry.plainHTTPHost(req.URL.Host) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, &PlainHTTPError{Host: req.URL.Host}
	}
	return h.next.RoundTrip(req)
}

// PlainHTTPError is a plain-HTTP request refused because its registry is not the insecure one.
type PlainHTTPError struct {
	Host string
}

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("refusing plain HTTP to registry %s, which is not marked insecure: if it is the image's registry and serves only HTTP, use --insecure-registry (a registry on loopback needs no flag)", e.Host)
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

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// WriteTo sends the body in writes of up to bodyChunk: net/http copies a body through its
// WriteTo when it has one, and otherwise writes 32 KiB at a time, a system call each.
func (b *countingBody) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, bodyChunk)
	var total int64
	for {
		n, err := io.ReadFull(b.ReadCloser, buf)
		if n > 0 {
			b.n.Add(int64(n))
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// bodyChunk is the size of the writes of a request body to the registry's connection.
const bodyChunk = 1 << 20
