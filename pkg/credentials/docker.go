// Package credentials resolves the credentials a build, a job and a service use: the Docker
// config's registry credentials (no helper runs that is not on PATH by a plain name), the
// registry CA, and S3 credentials through aws-sdk-go-v2's config loading, as Secret data that
// never reaches a pod's command line.
package credentials

import (
	"bytes"
	"cmp"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// DefaultDockerConfig is where the seed's Docker configuration provider looks:
// $DOCKER_CONFIG/config.json when DOCKER_CONFIG is set, else $HOME/.docker/config.json.
func DefaultDockerConfig() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, dockerconfig.ConfigFileName)
	}
	return expandHome("~/.docker/config.json")
}

// DefaultRegistryCA is where the seed's registry certificate provider looks.
func DefaultRegistryCA() string { return expandHome("~/.tls/certificate.crt") }

// expandHome replaces a leading ~/ with the home directory.
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// DockerKeychain reads a Docker config.json (credential helpers included) as a keychain. An
// empty path means the default file, whose absence means anonymous access; a path that was
// given must exist. It returns the file it read ("" for none).
func DockerKeychain(path string) (authn.Keychain, string, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultDockerConfig()
	}
	path = expandHome(path)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return authn.NewMultiKeychain(), "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading Docker config %s: %w", path, err)
	}
	defer f.Close()
	cf, err := dockerconfig.LoadFromReader(f)
	if err != nil {
		return nil, "", fmt.Errorf("reading Docker config %s: %w (it must be JSON like {\"auths\": {\"registry\": {\"auth\": \"base64 of user:password\"}}})", path, err)
	}
	cf.Filename = path
	if err := checkHelpers(cf); err != nil {
		return nil, "", fmt.Errorf("reading Docker config %s: %w", path, err)
	}
	return &fileKeychain{cf: cf, path: path}, path, nil
}

// helperName is what a credential helper's name may be: docker/cli runs
// docker-credential-<name>, which must be a plain program name found on PATH, never a path
// ("x/../evil" would run ./evil).
var helperName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkHelpers refuses a Docker config whose credsStore or credHelpers are not plain names,
// before any helper runs.
func checkHelpers(cf *configfile.ConfigFile) error {
	names := map[string]string{}
	if cf.CredentialsStore != "" {
		names["credsStore"] = cf.CredentialsStore
	}
	for registry, helper := range cf.CredentialHelpers {
		names["credHelpers."+registry] = helper
	}
	for _, field := range slices.Sorted(maps.Keys(names)) {
		helper := names[field]
		if !helperName.MatchString(helper) || strings.Contains(helper, "..") {
			return fmt.Errorf("%s %q is not a credential helper name: it must be a plain name (letters, digits, '.', '_', '-'), naming docker-credential-<name> on PATH", field, helper)
		}
	}
	return nil
}

// fileKeychain resolves credentials from one Docker config file, as docker login writes it.
type fileKeychain struct {
	cf   *configfile.ConfigFile
	path string
}

// Resolve returns the credentials for the target's repository or registry, anonymous when the
// file has none.
func (k *fileKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	var empty types.AuthConfig
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		cfg, err := k.cf.GetAuthConfig(key)
		if err != nil {
			// docker/cli quotes a failing helper's output, which may hold the credentials it
			// printed before failing: it is cut.
			msg := err.Error()
			if i := strings.Index(msg, ", out: "); i >= 0 {
				msg = msg[:i] + " (the helper's output is not shown)"
			}
			return nil, fmt.Errorf("credentials for %s from %s: %s", key, k.path, msg)
		}
		cfg.ServerAddress = ""
		if cfg != empty {
			return authn.FromConfig(authn.AuthConfig{
				Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth,
				IdentityToken: cfg.IdentityToken, RegistryToken: cfg.RegistryToken,
			}), nil
		}
	}
	return authn.Anonymous, nil
}

// DockerConfigJSON returns a config.json holding only the credentials for target (the image's
// repository, or its registry), resolved through the keychain (so credential helpers and
// repository-scoped entries of the Docker config work, as for a local push), for a Secret the
// cluster builder mounts. The entry is written under the registry's key, where the builder
// looks. It returns nil when there are none (or no keychain).
func DockerConfigJSON(kc authn.Keychain, target authn.Resource) ([]byte, error) {
	if kc == nil {
		return nil, nil
	}
	auth, err := kc.Resolve(target)
	if err != nil {
		return nil, err
	}
	if auth == authn.Anonymous {
		return nil, nil
	}
	cfg, err := auth.Authorization()
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", target.String(), err)
	}
	entry := map[string]string{}
	switch {
	case cfg.Username != "" || cfg.Password != "":
		entry["auth"] = base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
	case cfg.Auth != "":
		entry["auth"] = cfg.Auth
	case cfg.IdentityToken != "":
		entry["identitytoken"] = cfg.IdentityToken
	case cfg.RegistryToken != "":
		entry["registrytoken"] = cfg.RegistryToken
	default:
		return nil, nil
	}
	key := target.RegistryStr()
	if key == name.DefaultRegistry {
		key = authn.DefaultAuthKey
	}
	return json.Marshal(map[string]any{"auths": map[string]any{key: entry}})
}

// RegistryCAs returns the system's CAs plus the certificates in the PEM file at path. An empty
// path means the default file, whose absence is fine; a path that was given must exist. It
// returns the file it read ("" for none) and its certificates, re-encoded as PEM
// CERTIFICATE blocks only (a private key or any other block of the file is left out: the PEM
// goes into a Secret for the cluster builder). A file without a certificate, or with a
// CERTIFICATE block that does not parse, is refused. Without a file the pool is nil, which TLS
// reads as the system's CAs, loaded only when a TLS connection needs them (parsing them takes
// 20 ms).
func RegistryCAs(path string) (pool *x509.CertPool, used string, certs []byte, err error) {
	explicit := path != ""
	if !explicit {
		path = DefaultRegistryCA()
	}
	path = expandHome(path)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, "", nil, nil
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("reading registry certificate %s: %w", path, err)
	}
	parsed, certs, err := certificates(data)
	if err != nil {
		return nil, "", nil, fmt.Errorf("registry certificate %s: %w", path, err)
	}
	pool, err = x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, c := range parsed {
		pool.AddCert(c)
	}
	return pool, path, certs, nil
}

// certificates returns the CERTIFICATE blocks of a PEM bundle that parse, re-encoded; other
// blocks (private keys above all), certificates that do not parse (as crypto/x509's
// AppendCertsFromPEM skips them) and text between blocks are dropped.
func certificates(data []byte) ([]*x509.Certificate, []byte, error) {
	var parsed []*x509.Certificate
	var out bytes.Buffer
	var bad error
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			bad = cmp.Or(bad, err)
			continue
		}
		parsed = append(parsed, c)
		if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}); err != nil {
			return nil, nil, fmt.Errorf("encoding a certificate: %w", err)
		}
	}
	if len(parsed) == 0 && bad != nil {
		return nil, nil, fmt.Errorf("holds no valid PEM certificate: %w", bad)
	}
	if len(parsed) == 0 {
		return nil, nil, errors.New("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	return parsed, out.Bytes(), nil
}
