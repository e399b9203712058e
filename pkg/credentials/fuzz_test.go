package credentials

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzDockerConfig: for any Docker config, reading it and resolving a registry's and a
// repository's credentials never runs a credential helper whose name is not a plain name (a
// script reached through "docker-credential-x/../evil" leaves a marker), and no error quotes an
// auth value or the password in it.
func FuzzDockerConfig(f *testing.F) {
	dir := f.TempDir()
	marker := filepath.Join(dir, "ran")
	if err := os.WriteFile(filepath.Join(dir, "evil"), []byte("#!/bin/sh\n: >"+marker+"\n"), 0o755); err != nil {
		f.Fatal(err)
	}
	for _, d := range []string{"docker-credential-x", "bin"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	f.Chdir(dir)
	f.Setenv("PATH", filepath.Join(dir, "bin")) // no helper is found by a plain name
	auth := base64.StdEncoding.EncodeToString([]byte("kaptain:s3cret-password-42"))
	for _, seed := range []struct{ config, image string }{
		{`{"auths":{"registry.example.com":{"auth":"` + auth + `"}}}`, "registry.example.com/kaptain/mnist"},
		{`{"auths":{"registry.example.com/kaptain/mnist":{"auth":"` + auth + `"}}}`, "registry.example.com/kaptain/mnist"},
		{`{"auths":{"https://index.docker.io/v1/":{"auth":"` + auth + `"}}}`, "library/python"},
		{`{"auths":{"registry.example.com":{"auth":"bm90LWEtcGFpcg=="}}}`, "registry.example.com/x"},
		{`{"auths":{"registry.example.com":{"auth":"!!not base64 s3cret-password-42"}}}`, "registry.example.com/x"},
		{`{"auths":{"registry.example.com":{"auth":12}}}`, "registry.example.com/x"},
		{`{"credsStore":"x/../evil"}`, "registry.example.com/x"},
		{`{"credHelpers":{"registry.example.com":"x/../evil"}}`, "registry.example.com/x"},
		{`{"credHelpers":{"registry.example.com":"x/../../evil"}}`, "registry.example.com/x"},
		{`{"credsStore":"plain-name"}`, "registry.example.com/x"},
		{`{"auths":{"registry.example.com":{"identitytoken":"tok-s3cret-42"}}}`, "registry.example.com/x"},
		{`{auths`, "x"},
	} {
		f.Add(seed.config, seed.image)
	}
	f.Fuzz(func(t *testing.T, config, image string) {
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		secrets := authSecrets(config, image+path)
		check := func(what string, err error) {
			if err == nil {
				return
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("%s: the error quotes the credentials %q: %v", what, s, err)
				}
			}
		}
		kc, _, err := DockerKeychain(path)
		check("reading the config", err)
		if err == nil {
			if repo, err := name.NewRepository(image); err == nil {
				_, err = kc.Resolve(repo.Registry)
				check("resolving the registry", err)
				_, err = kc.Resolve(repo)
				check("resolving the repository", err)
				_, err = DockerConfigJSON(kc, repo)
				check("DockerConfigJSON", err)
			}
		}
		if _, err := os.Stat(marker); err == nil {
			_ = os.Remove(marker)
			t.Fatalf("a credential helper that is not a plain name ran for %q", config)
		}
	})
}

// authSecrets are the auth values of a Docker config (and the passwords they encode) that an
// error must not quote: long enough not to be a word of the message, and found nowhere else
// in the config or in other, whose text errors may quote.
func authSecrets(config, other string) []string {
	var cf struct {
		Auths map[string]map[string]any `json:"auths"`
	}
	if json.Unmarshal([]byte(config), &cf) != nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if len(s) >= 8 && strings.Count(config, s) <= 1 && !strings.Contains(other, s) {
			out = append(out, s)
		}
	}
	for _, entry := range cf.Auths {
		for _, field := range []string{"auth", "password", "identitytoken", "registrytoken"} {
			s, _ := entry[field].(string)
			add(s)
			if field != "auth" {
				continue
			}
			if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
				if _, pass, ok := strings.Cut(string(dec), ":"); ok {
					add(pass)
				}
			}
		}
	}
	return out
}

// FuzzRegistryCAs: whatever the registry CA file holds, the PEM for the cluster builder's
// Secret holds certificates only: CERTIFICATE blocks without headers that parse, and nothing
// between or around them.
func FuzzRegistryCAs(f *testing.F) {
	cert, key := testPEM(f, "fuzz ca")
	f.Add(cert)
	f.Add(append(append([]byte{}, key...), cert...))
	f.Add(append(append([]byte("subject=fuzz\n"), cert...), []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n" + strings.SplitN(string(cert), "\n", 2)[1]))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add(key)
	f.Add([]byte("not a certificate"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, file []byte) {
		path := filepath.Join(dir, "ca.crt")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, out, err := RegistryCAs(path)
		if err != nil {
			if out != nil {
				t.Fatalf("PEM returned with the error %v", err)
			}
			return
		}
		rest, n := out, 0
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			n++
			if block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
				t.Fatalf("block %d of the PEM is a %q with headers %v", n, block.Type, block.Headers)
			}
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				t.Fatalf("block %d of the PEM is not a certificate: %v", n, err)
			}
		}
		if n == 0 || len(bytes.TrimSpace(rest)) != 0 || bytes.Contains(out, []byte("PRIVATE KEY")) {
			t.Fatalf("the PEM holds more than its %d certificates:\n%s", n, out)
		}
	})
}
