package image

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// registryServer is a TLS server answering the registry's ping, with its own CA.
func registryServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") }))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, rt http.RoundTripper, u string) error {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// connectProxy is an HTTP proxy that tunnels CONNECT requests and counts them.
func connectProxy(t *testing.T, connects *atomic.Int32) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		connects.Add(1)
		upstream, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		go func() { _, _ = io.Copy(upstream, buf); upstream.Close() }()
		_, _ = io.Copy(conn, upstream)
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// Behind an HTTPS proxy, the registry's CA still verifies it (a custom TLS dialer is not used
// for proxied connections, which made --registry-ca silently ignored there).
func TestRegistryCAHoldsBehindAProxy(t *testing.T) {
	reg := registryServer(t)
	var connects atomic.Int32
	proxy := connectProxy(t, &connects)
	pool := x509.NewCertPool()
	pool.AddCert(reg.Certificate())
	r := &Registry{RootCAs: pool, proxy: http.ProxyURL(proxy)}
	if err := get(t, r.transport(), reg.URL); err != nil {
		t.Fatalf("through the proxy, with the registry's CA: %v", err)
	}
	if connects.Load() != 1 {
		t.Errorf("%d CONNECTs, want the request to go through the proxy", connects.Load())
	}
	// Without the CA, verification fails through the proxy too.
	if err := get(t, (&Registry{proxy: http.ProxyURL(proxy)}).transport(), reg.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("through the proxy, without the CA: %v, want a certificate error", err)
	}
}

// A registry that accepts the connection and never answers fails the request within the
// handshake timeout instead of hanging the build.
func TestSilentRegistryFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	r := &Registry{handshakeTimeout: 300 * time.Millisecond}
	start := time.Now()
	err = get(t, r.transport(), "https://"+l.Addr().String())
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("a silent registry: %v after %s, want a handshake timeout", err, time.Since(start))
	}
}

// --insecure-registry names one registry, port included: another port of the same host keeps
// verified TLS.
func TestInsecureIsForTheNamedRegistryOnly(t *testing.T) {
	named, other := registryServer(t), registryServer(t)
	host := strings.TrimPrefix(named.URL, "https://")
	r := &Registry{Insecure: true, TargetHost: host}
	if err := get(t, r.transport(), named.URL); err != nil {
		t.Errorf("the insecure registry %s: %v", host, err)
	}
	if err := get(t, r.transport(), other.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("another port of the same host (%s): %v, want a certificate error", other.URL, err)
	}
}

// kaptain.yaml's registry.url given as http:// turns nothing off (the audit's N10): a
// registry on loopback speaks plain HTTP anyway, with TLS verified when it speaks TLS; for
// another the file only gets a warning that names --insecure-registry.
func TestRegistryURLCannotTurnOffTLS(t *testing.T) {
	for _, tc := range []struct {
		url, image string
		flag       bool
		warn       bool
	}{
		{"http://registry.company.example:5000", "registry.company.example:5000/kaptain/mnist:1", false, true},
		{"http://registry.company.example:5000", "registry.company.example:5000/kaptain/mnist:1", true, false},
		{"http://localhost:5000", "localhost:5000/kaptain/mnist:1", false, false},
		{"http://localhost:5000", "registry.company.example/kaptain/mnist:1", false, false},
		{"https://registry.company.example", "registry.company.example/kaptain/mnist:1", false, false},
	} {
		m := &model.Model{Spec: model.Spec{ID: "dev/mnist", Image: tc.image, Config: model.Config{Registry: model.Registry{URL: tc.url}}}}
		s, err := Resolve(m, Source{Insecure: tc.flag})
		if err != nil {
			t.Fatal(err)
		}
		if s.Registry.Insecure != tc.flag {
			t.Errorf("url %q, image %q: insecure %v, want %v (the flag's only)", tc.url, tc.image, s.Registry.Insecure, tc.flag)
		}
		if warned := len(s.Warnings) == 1 && strings.Contains(s.Warnings[0], "add --insecure-registry"); warned != tc.warn {
			t.Errorf("url %q, image %q: warnings %q, want one: %v", tc.url, tc.image, s.Warnings, tc.warn)
		}
	}
}

// TestLoopbackRegistriesSpeakPlainHTTP: a registry on loopback that serves plain HTTP takes
// a push without --insecure-registry, as Docker and kind users expect; a private address
// still needs the flag (TestPlainHTTPOnlyToTheInsecureRegistry), and TLS on loopback is
// still verified.
func TestLoopbackRegistriesSpeakPlainHTTP(t *testing.T) {
	in := collect(t, writeModel(t, t.TempDir(), sampleFiles))
	for _, host := range []string{"127.0.0.1:5000", "localhost:5000", "[::1]:5000", "127.0.0.2:5000", "registry.localhost"} {
		t.Run(host, func(t *testing.T) {
			var seen atomic.Int32
			r := privateRegistry(t, host, false, &seen)
			r.TargetHost = host
			if _, err := r.Build(context.Background(), in, host+"/kaptain/mnist:1", Options{}); err != nil || seen.Load() == 0 {
				t.Fatalf("push to %s over plain HTTP: %v (%d requests)", host, err, seen.Load())
			}
		})
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "localhost": true, "[::1]:1": true, "::1": true, "127.8.9.10:80": true,
		"10.0.0.1:5000": false, "192.168.1.1": false, "localhost.example.com": false, "registry.example.com:5000": false, "0.0.0.0:5000": false} {
		if Loopback(host) != want {
			t.Errorf("Loopback(%q) = %v", host, !want)
		}
	}
	var seen atomic.Int32
	r := privateRegistry(t, "127.0.0.1", true, &seen)
	_, err := r.Build(context.Background(), in, "127.0.0.1:5000/kaptain/mnist:1", Options{})
	if Diagnose(err) != ProblemUnknownCA || seen.Load() != 0 {
		t.Fatalf("untrusted TLS on loopback: %v (problem %d, %d requests with credentials), want the unknown CA", err, Diagnose(err), seen.Load())
	}
}

// basicKeychain gives every registry the same user and password.
type basicKeychain struct{ user, pass string }

func (k basicKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

// privateRegistry serves go-containerregistry's registry behind basic auth and counts the
// requests that carried credentials; secure says whether it speaks TLS (with a self-signed
// certificate for host, which nothing trusts) or plain HTTP. The returned Registry is named host (a private address, for which
// go-containerregistry tries plain HTTP by itself) and dials the server whatever address it
// is asked for.
func privateRegistry(t *testing.T, host string, secure bool, withCredentials *atomic.Int32) *Registry {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="kaptain"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		withCredentials.Add(1)
		reg.ServeHTTP(w, req)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if secure {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t, host)}, MinVersion: tls.VersionTLS12}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	return &Registry{
		Keychain: basicKeychain{"kaptain", "s3cret"},
		proxy:    func(*http.Request) (*url.URL, error) { return nil, nil },
		dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
}

// TestPlainHTTPOnlyToTheInsecureRegistry: go-containerregistry falls back to plain HTTP for a
// private address such as 10.1.2.3:5000; without --insecure-registry the push fails, naming
// the flag, and no credentials go over plain HTTP (the audit's M2d).
func TestPlainHTTPOnlyToTheInsecureRegistry(t *testing.T) {
	const host = "10.1.2.3:5000"
	in := collect(t, writeModel(t, t.TempDir(), sampleFiles))
	for _, tc := range []struct {
		name     string
		insecure bool
		target   string
		want     string // "" succeeds
	}{
		{"no flag", false, host, "use --insecure-registry"},
		{"insecure for another registry", true, "registry.example.com:5000", "use --insecure-registry"},
		{"insecure for another port", true, "10.1.2.3:5001", "use --insecure-registry"},
		{"insecure for this registry", true, host, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Int32
			r := privateRegistry(t, host, false, &seen)
			r.Insecure, r.TargetHost = tc.insecure, tc.target
			_, err := r.Build(context.Background(), in, host+"/kaptain/mnist:1", Options{})
			if tc.want == "" {
				if err != nil || seen.Load() == 0 {
					t.Fatalf("push to the insecure registry: %v (%d requests with credentials)", err, seen.Load())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), host) {
				t.Errorf("push over plain HTTP: %v, want it refused naming %s and %q", err, host, tc.want)
			}
			if n := seen.Load(); n != 0 {
				t.Errorf("%d requests with credentials reached the registry over plain HTTP", n)
			}
		})
	}
}

// TestUnknownCAOfAPrivateRegistryIsReported: for a private-address registry whose certificate
// is not trusted, the error is the certificate's (which Explain turns into --registry-ca), not
// a plain-HTTP attempt's.
func TestUnknownCAOfAPrivateRegistryIsReported(t *testing.T) {
	var seen atomic.Int32
	r := privateRegistry(t, "192.168.0.10", true, &seen)
	in := collect(t, writeModel(t, t.TempDir(), sampleFiles))
	_, err := r.Build(context.Background(), in, "192.168.0.10/kaptain/mnist:1", Options{})
	if Diagnose(err) != ProblemUnknownCA || strings.Contains(err.Error(), "HTTPS server") {
		t.Fatalf("untrusted private registry: %v (problem %d), want the unknown CA alone", err, Diagnose(err))
	}
	if msg := Explain(err, "192.168.0.10", Hints{}).Error(); !strings.Contains(msg, "--registry-ca") {
		t.Errorf("explained: %s", msg)
	}
	if seen.Load() != 0 {
		t.Errorf("%d requests with credentials", seen.Load())
	}
}

// TestRegistryCAIsForTheTargetOnly: the registry CA (--registry-ca, spec.config.registry.
// certificate) verifies the image's registry only; a base image from another registry is
// verified against the system's CAs (the audit's L8).
func TestRegistryCAIsForTheTargetOnly(t *testing.T) {
	target, other := registryServer(t), registryServer(t) // both signed by httptest's CA
	pool := x509.NewCertPool()
	pool.AddCert(target.Certificate())
	r := &Registry{RootCAs: pool, TargetHost: strings.TrimPrefix(target.URL, "https://")}
	if err := get(t, r.transport(), target.URL); err != nil {
		t.Errorf("the target registry, with its CA: %v", err)
	}
	if err := get(t, r.transport(), other.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("another registry (%s) with the target's CA: %v, want a certificate error", other.URL, err)
	}

	// Resolve scopes the CA to the image's registry, port included.
	s, err := Resolve(&model.Model{Spec: model.Spec{ID: "dev/mnist", Image: "registry.example.com:5000/kaptain/mnist:1"}}, Source{RegistryCA: caFile(t, target)})
	if err != nil || s.Registry.TargetHost != "registry.example.com:5000" || s.Registry.RootCAs == nil {
		t.Fatalf("Resolve: %v, target host %q", err, s.Registry.TargetHost)
	}

	// A build whose base image is in another registry that only the target's CA would
	// verify: the base image is refused.
	host, legacy := testRegistry(t)
	baseHost, _ := testRegistry(t)
	base, _ := pushBase(t, baseHost, legacy, 1<<10)
	m := writeModel(t, t.TempDir(), sampleFiles)
	m.Spec.BaseImage = base
	scoped := &Registry{RootCAs: legacy.RootCAs, TargetHost: host}
	_, err = scoped.Build(context.Background(), collect(t, m), host+"/kaptain/mnist:1", Options{})
	var baseErr *BaseImageError
	if !errors.As(err, &baseErr) || baseErr.Registry != baseHost || Diagnose(err) != ProblemUnknownCA {
		t.Fatalf("base image in another registry: %v, want its certificate refused", err)
	}
	// The same base in the target registry is trusted.
	m.Spec.BaseImage, _ = pushBase(t, host, legacy, 1<<10)
	if _, err := scoped.Build(context.Background(), collect(t, m), host+"/kaptain/mnist:1", Options{}); err != nil {
		t.Fatalf("base image in the target registry: %v", err)
	}
}

// selfSigned is a certificate for host (an IP address or a name, with or without a port),
// signed by itself.
func selfSigned(t *testing.T, host string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// caFile writes the certificate of a test server to a file.
func caFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
