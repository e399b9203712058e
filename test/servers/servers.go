// Package servers starts the real servers tests use on loopback: Debian's docker-registry over
// TLS with a CA made for the test and htpasswd authentication, and the S3 server versitygw.
// The integration and e2e suites share it.
package servers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/crypto/bcrypt"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/image"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// Registry is Debian's docker-registry (CNCF distribution) on loopback, over TLS with a
// CA made for the test and htpasswd authentication.
type Registry struct {
	// Host is 127.0.0.1:port.
	Host string
	// CAFile and CAPEM are the test CA that signed the registry's certificate.
	CAFile string
	CAPEM  []byte
	// User and Pass are the htpasswd credentials.
	User, Pass string
}

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it, written under dir.
func testCA(t testing.TB, dir string) (caFile, certFile, keyFile string, caPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kaptain test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	caFile, certFile, keyFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	Write(t, caFile, string(caPEM))
	Write(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	Write(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return caFile, certFile, keyFile, caPEM
}

// Write writes a file, making its directory.
func Write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// FreePort returns a loopback port nobody listens on.
func FreePort(t testing.TB) string {
	t.Helper()
	return FreePortOn(t, "127.0.0.1")
}

// FreePortOn returns host:port where nobody listens, host an address of this machine.
func FreePortOn(t testing.TB, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve starts a server process until the test ends and waits for addr to accept connections.
func serve(t testing.TB, addr string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	log := filepath.Join(t.TempDir(), "server.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	out, _ := os.ReadFile(log)
	t.Fatalf("%s did not listen on %s:\n%s", name, addr, out)
}

// StartRegistry starts a registry for one test.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	bin := os.Getenv("KAPTAIN_REGISTRY_SERVER")
	if bin == "" {
		t.Fatal("KAPTAIN_REGISTRY_SERVER (Debian's docker-registry) is not set: run 'make test'")
	}
	dir := t.TempDir()
	caFile, certFile, keyFile, caPEM := testCA(t, dir)
	r := &Registry{Host: FreePort(t), CAFile: caFile, CAPEM: caPEM, User: "kaptain", Pass: "s3cret-" + fmt.Sprint(time.Now().UnixNano())}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	Write(t, filepath.Join(dir, "htpasswd"), r.User+":"+string(hash)+"\n")
	config := fmt.Sprintf(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}
http: {addr: %s, tls: {certificate: %s, key: %s}}
auth: {htpasswd: {realm: kaptain, path: %s}}
`, filepath.Join(dir, "data"), r.Host, certFile, keyFile, filepath.Join(dir, "htpasswd"))
	Write(t, filepath.Join(dir, "config.yml"), config)
	serve(t, r.Host, bin, "serve", filepath.Join(dir, "config.yml"))
	return r
}

// DockerConfig returns a Docker config.json with the given password for the registry.
func (r *Registry) DockerConfig(pass string) string {
	auth := base64.StdEncoding.EncodeToString([]byte(r.User + ":" + pass))
	return fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, r.Host, auth)
}

// Home writes a home directory with the registry's credentials and CA where the seed's
// providers look: ~/.docker/config.json and ~/.tls/certificate.crt.
func (r *Registry) Home(t testing.TB, pass string, withCA bool) string {
	t.Helper()
	home := t.TempDir()
	Write(t, filepath.Join(home, ".docker", "config.json"), r.DockerConfig(pass))
	if withCA {
		Write(t, filepath.Join(home, ".tls", "certificate.crt"), string(r.CAPEM))
	}
	return home
}

// Pool trusts the registry's CA.
func (r *Registry) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.CAPEM)
	return pool
}

// S3 is versitygw on loopback with a posix backend.
type S3 struct {
	// Endpoint is http://127.0.0.1:port.
	Endpoint string
	// Access and Secret are the root credentials.
	Access, Secret string
	// Client talks to the server with them, path-style.
	Client *s3.Client
}

// StartS3 starts an S3 server for one test, with one bucket.
func StartS3(t testing.TB, bucket string) *S3 {
	t.Helper()
	return StartS3At(t, "127.0.0.1", bucket)
}

// StartS3At is StartS3 listening on host (an address of this machine).
func StartS3At(t testing.TB, host, bucket string) *S3 {
	t.Helper()
	bin := os.Getenv("KAPTAIN_S3_SERVER")
	if bin == "" {
		t.Fatal("KAPTAIN_S3_SERVER (from hack/s3-server.sh) is not set: run 'make test'")
	}
	dir := t.TempDir()
	addr := FreePortOn(t, host)
	s := &S3{Endpoint: "http://" + addr, Access: "kaptain-access", Secret: "kaptain-secret-key"}
	serve(t, addr, bin, "--access", s.Access, "--secret", s.Secret, "--port", addr, "--quiet", "posix", dir)
	s.Client = s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.Access, s.Secret, ""),
	})
	if _, err := s.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("creating bucket %s: %v", bucket, err)
	}
	return s
}

// Env returns the variables that give the plugin the server's credentials.
func (s *S3) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.Access, "AWS_SECRET_ACCESS_KEY=" + s.Secret, "AWS_REGION=us-east-1"}
}

// PushModel plays the cluster builder's executor: it builds the model of the kaptain.yaml at
// path and pushes it to its spec.image through r, as kaniko would.
func PushModel(t *testing.T, path string, r *image.Registry) *image.Result {
	t.Helper()
	m, err := model.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in, err := image.Collect(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Build(context.Background(), in, m.Spec.Image, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
