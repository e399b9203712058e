//go:build integration

package integration

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
)

// registryServer is Debian's docker-registry (CNCF distribution) on loopback, over TLS with a
// CA made for the test and htpasswd authentication.
type registryServer struct {
	host       string
	caFile     string
	caPEM      []byte
	user, pass string
}

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it, written under dir.
func testCA(t *testing.T, dir string) (caFile, certFile, keyFile string, caPEM []byte) {
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
	write(t, caFile, string(caPEM))
	write(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return caFile, certFile, keyFile, caPEM
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve starts a server process until the test ends and waits for addr to accept connections.
func serve(t *testing.T, addr string, name string, args ...string) {
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

// startRegistry starts a registry for one test.
func startRegistry(t *testing.T) *registryServer {
	t.Helper()
	bin := os.Getenv("KAPTAIN_REGISTRY_SERVER")
	if bin == "" {
		t.Fatal("KAPTAIN_REGISTRY_SERVER (Debian's docker-registry) is not set: run 'make test'")
	}
	dir := t.TempDir()
	caFile, certFile, keyFile, caPEM := testCA(t, dir)
	r := &registryServer{host: freePort(t), caFile: caFile, caPEM: caPEM, user: "kaptain", pass: "s3cret-" + fmt.Sprint(time.Now().UnixNano())}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "htpasswd"), r.user+":"+string(hash)+"\n")
	config := fmt.Sprintf(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}
http: {addr: %s, tls: {certificate: %s, key: %s}}
auth: {htpasswd: {realm: kaptain, path: %s}}
`, filepath.Join(dir, "data"), r.host, certFile, keyFile, filepath.Join(dir, "htpasswd"))
	write(t, filepath.Join(dir, "config.yml"), config)
	serve(t, r.host, bin, "serve", filepath.Join(dir, "config.yml"))
	return r
}

// dockerConfig returns a Docker config.json with the given password for the registry.
func (r *registryServer) dockerConfig(pass string) string {
	auth := base64.StdEncoding.EncodeToString([]byte(r.user + ":" + pass))
	return fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, r.host, auth)
}

// home writes a home directory with the registry's credentials and CA where the seed's
// providers look: ~/.docker/config.json and ~/.tls/certificate.crt.
func (r *registryServer) home(t *testing.T, pass string, withCA bool) string {
	t.Helper()
	home := t.TempDir()
	write(t, filepath.Join(home, ".docker", "config.json"), r.dockerConfig(pass))
	if withCA {
		write(t, filepath.Join(home, ".tls", "certificate.crt"), string(r.caPEM))
	}
	return home
}

// tlsPool trusts the registry's CA.
func (r *registryServer) tlsPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.caPEM)
	return pool
}

// s3Server is versitygw on loopback with a posix backend.
type s3Server struct {
	endpoint       string
	access, secret string
	client         *s3.Client
}

// startS3 starts an S3 server for one test, with one bucket.
func startS3(t *testing.T, bucket string) *s3Server {
	t.Helper()
	bin := os.Getenv("KAPTAIN_S3_SERVER")
	if bin == "" {
		t.Fatal("KAPTAIN_S3_SERVER (from hack/s3-server.sh) is not set: run 'make test'")
	}
	dir := t.TempDir()
	addr := freePort(t)
	s := &s3Server{endpoint: "http://" + addr, access: "kaptain-access", secret: "kaptain-secret-key"}
	serve(t, addr, bin, "--access", s.access, "--secret", s.secret, "--port", addr, "--quiet", "posix", dir)
	s.client = s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, ""),
	})
	if _, err := s.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("creating bucket %s: %v", bucket, err)
	}
	return s
}

// env returns the variables that give the plugin the server's credentials.
func (s *s3Server) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.access, "AWS_SECRET_ACCESS_KEY=" + s.secret, "AWS_REGION=us-east-1"}
}
