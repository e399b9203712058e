package credentials

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestDockerKeychain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("DOCKER_CONFIG", "")
	kc, used, err := DockerKeychain("")
	if err != nil || used != "" {
		t.Fatalf("no default file: used %q err %v, want anonymous", used, err)
	}
	reg, _ := name.NewRegistry("registry.example.com:5000")
	if a, _ := kc.Resolve(reg); a != authn.Anonymous {
		t.Fatalf("no file resolves to %v, want anonymous", a)
	}

	if _, _, err := DockerKeychain(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("missing --docker-config: %v, want the file named", err)
	}

	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte("{auths"), 0o600)
	if _, _, err := DockerKeychain(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("malformed config: %v, want the file named", err)
	}

	good := filepath.Join(dir, ".docker", "config.json")
	_ = os.MkdirAll(filepath.Dir(good), 0o700)
	auth := base64.StdEncoding.EncodeToString([]byte("kaptain:s3cret"))
	_ = os.WriteFile(good, []byte(`{"auths":{"registry.example.com:5000":{"auth":"`+auth+`"}}}`), 0o600)
	kc, used, err = DockerKeychain("")
	if err != nil || used != good {
		t.Fatalf("default file: used %q err %v", used, err)
	}
	a, err := kc.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := a.Authorization()
	if cfg.Username != "kaptain" || cfg.Password != "s3cret" {
		t.Fatalf("resolved %+v", cfg)
	}
	other, _ := name.NewRegistry("other.example.com")
	if a, _ := kc.Resolve(other); a != authn.Anonymous {
		t.Fatal("another registry got credentials")
	}

	js, err := DockerConfigJSON(kc, reg)
	if err != nil || string(js) != `{"auths":{"registry.example.com:5000":{"auth":"`+auth+`"}}}` {
		t.Fatalf("DockerConfigJSON = %s, %v", js, err)
	}
	if js, err := DockerConfigJSON(kc, other); js != nil || err != nil {
		t.Fatalf("no credentials: %s, %v", js, err)
	}
}

func TestRegistryCAs(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	if pool, used, _, err := RegistryCAs(""); err != nil || used != "" || pool != nil {
		t.Fatalf("no default file: %v %q %v, want the system's CAs (nil)", pool, used, err)
	}
	if _, _, _, err := RegistryCAs(filepath.Join(dir, "ca.crt")); err == nil || !strings.Contains(err.Error(), "ca.crt") {
		t.Fatalf("missing --registry-ca: %v", err)
	}
	bad := filepath.Join(dir, ".tls", "certificate.crt")
	_ = os.MkdirAll(filepath.Dir(bad), 0o700)
	_ = os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, _, _, err := RegistryCAs(""); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("malformed default CA: %v", err)
	}
}

// TestCredentialHelperNamesArePlain: a credsStore or credHelpers value that is a path
// ("x/../evil" would run ./evil, relative to the working directory) is refused when the file
// is read, before any helper can run; a failing helper's output stays out of errors.
func TestCredentialHelperNamesArePlain(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	marker := filepath.Join(dir, "ran")
	if err := os.WriteFile(filepath.Join(dir, "evil"), []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "docker-credential-x"), 0o755); err != nil {
		t.Fatal(err)
	}
	reg, _ := name.NewRegistry("registry.example.com")
	for _, cfg := range []string{
		`{"credsStore": "x/../evil"}`,
		`{"credHelpers": {"registry.example.com": "x/../evil"}}`,
		`{"credsStore": "../evil"}`,
		`{"credHelpers": {"registry.example.com": ".."}}`,
	} {
		path := filepath.Join(dir, "config.json")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		kc, _, err := DockerKeychain(path)
		if err == nil {
			_, _ = kc.Resolve(reg)
			t.Errorf("%s: accepted", cfg)
		} else if !strings.Contains(err.Error(), "is not a credential helper name") {
			t.Errorf("%s: %v", cfg, err)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s ran ./evil", cfg)
		}
	}
	// A plain name is accepted; the missing helper fails the lookup, without output.
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(`{"credsStore": "kaptain-test-missing"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	kc, _, err := DockerKeychain(path)
	if err != nil {
		t.Fatalf("a plain helper name: %v", err)
	}
	if _, err := kc.Resolve(reg); err == nil || strings.Contains(err.Error(), "out:") {
		t.Errorf("missing helper: %v", err)
	}
}

// testPEM returns a self-signed certificate and its private key, PEM-encoded.
func testPEM(t testing.TB, cn string) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// TestRegistryCAsKeepsOnlyCertificates: the PEM that goes into the cluster builder's Secret
// holds the file's certificates and nothing else; a private key in the bundle is left out, and
// a file without a certificate is refused (the audit's L10).
func TestRegistryCAsKeepsOnlyCertificates(t *testing.T) {
	ca1, key1 := testPEM(t, "ca one")
	ca2, _ := testPEM(t, "ca two")
	withHeaders := []byte("-----BEGIN CERTIFICATE-----\nComment: x\n\n" + strings.SplitN(string(ca1), "\n", 2)[1])
	for _, tc := range []struct {
		name string
		file []byte
		want []byte // nil: refused
	}{
		{"a certificate", ca1, ca1},
		{"a certificate and its key", slices.Concat(key1, ca1), ca1},
		{"a bundle with text, a key and a bad certificate", slices.Concat([]byte("subject=ca one\n"), ca1, key1, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), ca2), slices.Concat(ca1, ca2)},
		{"a certificate with PEM headers", withHeaders, ca1},
		{"a key only", key1, nil},
		{"a bad certificate only", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ca.crt")
			if err := os.WriteFile(path, tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			pool, used, got, err := RegistryCAs(path)
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no valid PEM certificate") && !strings.Contains(err.Error(), "no PEM certificate") {
					t.Fatalf("RegistryCAs = %q, %v; want it refused naming the file", got, err)
				}
				return
			}
			if err != nil || used != path || pool == nil {
				t.Fatalf("RegistryCAs: %q %v", used, err)
			}
			if !bytes.Equal(got, tc.want) || bytes.Contains(got, []byte("PRIVATE KEY")) {
				t.Errorf("PEM for the Secret:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
