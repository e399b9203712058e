package image

import (
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
	r := &Registry{Insecure: true, InsecureHost: host}
	if err := get(t, r.transport(), named.URL); err != nil {
		t.Errorf("the insecure registry %s: %v", host, err)
	}
	if err := get(t, r.transport(), other.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("another port of the same host (%s): %v, want a certificate error", other.URL, err)
	}
}

// kaptain.yaml's registry.url given as http:// makes plain HTTP the image's registry's only
// when it names that registry.
func TestHTTPRegistryURLScopesInsecureToItsOwnRegistry(t *testing.T) {
	for _, tc := range []struct {
		url, image string
		insecure   bool
	}{
		{"http://localhost:5000", "localhost:5000/kaptain/mnist:1", true},
		{"http://localhost:5000", "registry.company.example/kaptain/mnist:1", false},
		{"http://localhost:5000", "localhost:5001/kaptain/mnist:1", false},
		{"https://localhost:5000", "localhost:5000/kaptain/mnist:1", false},
		{"", "localhost:5000/kaptain/mnist:1", false},
	} {
		m := &model.Model{Spec: model.Spec{ID: "dev/mnist", Image: tc.image, Config: model.Config{Registry: model.Registry{URL: tc.url}}}}
		s, err := Resolve(m, Source{DockerConfig: "", RegistryCA: ""})
		if err != nil {
			t.Fatal(err)
		}
		if s.Registry.Insecure != tc.insecure {
			t.Errorf("url %q, image %q: insecure %v, want %v", tc.url, tc.image, s.Registry.Insecure, tc.insecure)
		}
	}
}
