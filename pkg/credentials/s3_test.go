package credentials

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// isolate points the AWS SDK at empty files, so only what the test sets is found.
func isolate(t *testing.T) string {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "none"))
	return home
}

func TestS3SecretDataFromEnvironment(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "minio")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "minio123")
	data, err := s3SecretData(context.Background(), S3Settings{Endpoint: "http://minio.kubeflow:9000", Region: "eu-west-1", ForcePathStyle: true, SignatureVersion: "s3v4"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"AWS_ACCESS_KEY_ID": "minio", "AWS_SECRET_ACCESS_KEY": "minio123", "AWS_REGION": "eu-west-1",
		"S3_ENDPOINT": "http://minio.kubeflow:9000", "AWS_ENDPOINT_URL_S3": "http://minio.kubeflow:9000",
		"S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0", "S3_FORCE_PATH_STYLE": "true", "S3_SIGNATURE_VERSION": "s3v4",
	}
	if len(data) != len(want) {
		t.Errorf("data = %v", data)
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("%s = %q, want %q", k, data[k], v)
		}
	}
}

func TestS3SecretDataFromSharedCredentials(t *testing.T) {
	home := isolate(t)
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	creds := "[default]\naws_access_key_id = AKIA\naws_secret_access_key = s3cr3t\naws_session_token = tok\n"
	if err := os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	// The AWS SDK reads the default file names from HOME when the process starts.
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, ".aws", "credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, ".aws", "config"))
	data, err := s3SecretData(context.Background(), S3Settings{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if data["AWS_ACCESS_KEY_ID"] != "AKIA" || data["AWS_SESSION_TOKEN"] != "tok" || data["S3_ENDPOINT"] != "" {
		t.Errorf("data = %v", data)
	}
}

func TestS3SecretDataWithoutCredentials(t *testing.T) {
	isolate(t)
	_, err := s3SecretData(context.Background(), S3Settings{Region: "us-east-1"})
	if !errors.Is(err, ErrNoS3Credentials) {
		t.Errorf("error = %v, want ErrNoS3Credentials", err)
	}
}

// processProfile writes a profile whose credentials come from credential_process, a script
// that leaves a marker file each time it runs; expiration, when set, is the credentials'
// Expiration.
func processProfile(t *testing.T, expiration ...string) (marker string) {
	home := isolate(t)
	marker = filepath.Join(home, "ran")
	script := filepath.Join(home, "creds.sh")
	expires := ""
	if len(expiration) > 0 {
		expires = ",\"Expiration\":\"" + expiration[0] + "\""
	}
	body := "#!/bin/sh\ntouch " + marker + "\necho '{\"Version\":1,\"AccessKeyId\":\"ASIAPROC\",\"SecretAccessKey\":\"proc-secret\",\"SessionToken\":\"proc-token\"" + expires + "}'\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(home, "config")
	if err := os.WriteFile(config, []byte("[default]\ncredential_process = "+script+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", config)
	return marker
}

func TestS3SecretDataRunsCredentialProcess(t *testing.T) {
	marker := processProfile(t)
	data, err := s3SecretData(context.Background(), S3Settings{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if data["AWS_ACCESS_KEY_ID"] != "ASIAPROC" || data["AWS_SESSION_TOKEN"] != "proc-token" {
		t.Errorf("data = %v", data)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("credential_process did not run: %v", err)
	}
}

func TestS3SecretDataOfflineRunsNoCredentialProcess(t *testing.T) {
	marker := processProfile(t)
	data, err := s3SecretData(context.Background(), S3Settings{Region: "us-east-1", Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		if data[k] != Unresolved {
			t.Errorf("%s = %q, want %q", k, data[k], Unresolved)
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("credential_process ran in an offline resolution (stat: %v)", err)
	}
}

func TestS3SecretDataOfflineReadsWrittenCredentials(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "minio")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "minio123")
	data, err := s3SecretData(context.Background(), S3Settings{Region: "us-east-1", Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if data["AWS_ACCESS_KEY_ID"] != "minio" || data["AWS_SECRET_ACCESS_KEY"] != "minio123" {
		t.Errorf("data = %v", data)
	}
	if _, ok := data["AWS_SESSION_TOKEN"]; ok {
		t.Errorf("a session token appeared without one configured: %v", data)
	}
}

func TestS3SecretDataOfflineWithoutCredentials(t *testing.T) {
	isolate(t)
	_, err := s3SecretData(context.Background(), S3Settings{Region: "us-east-1", Offline: true})
	if !errors.Is(err, ErrNoS3Credentials) {
		t.Errorf("error = %v, want ErrNoS3Credentials", err)
	}
}

// TestS3SecretEndpointAsTheSDKResolvesIt: the workloads' Secret names the endpoint the build's
// own S3 client uses: kaptain.yaml's, else AWS_ENDPOINT_URL_S3 or the config file's services
// section over AWS_ENDPOINT_URL and the profile's endpoint_url, as aws-sdk-go-v2's
// service/s3 resolves them (the audit's L3).
func TestS3SecretEndpointAsTheSDKResolvesIt(t *testing.T) {
	const services = "[default]\nendpoint_url = http://profile:9000\nservices = local\n\n[services local]\ns3 =\n  endpoint_url = http://services:9000\n"
	for _, tc := range []struct {
		name     string
		endpoint string // kaptain.yaml's
		env      map[string]string
		config   string
		want     string
	}{
		{"none", "", nil, "", ""},
		{"AWS_ENDPOINT_URL", "", map[string]string{"AWS_ENDPOINT_URL": "http://global:9000"}, "", "http://global:9000"},
		{"AWS_ENDPOINT_URL_S3", "", map[string]string{"AWS_ENDPOINT_URL_S3": "http://s3:9000"}, "", "http://s3:9000"},
		{"both variables", "", map[string]string{"AWS_ENDPOINT_URL": "http://global:9000", "AWS_ENDPOINT_URL_S3": "https://s3:9000"}, "", "https://s3:9000"},
		{"kaptain.yaml first", "http://minio:9000", map[string]string{"AWS_ENDPOINT_URL_S3": "http://s3:9000"}, "", "http://minio:9000"},
		{"profile endpoint_url", "", nil, "[default]\nendpoint_url = http://profile:9000\n", "http://profile:9000"},
		{"services section", "", nil, services, "http://services:9000"},
		{"AWS_ENDPOINT_URL_S3 over the services section", "", map[string]string{"AWS_ENDPOINT_URL_S3": "http://s3:9000"}, services, "http://s3:9000"},
		{"AWS_ENDPOINT_URL over the services section", "", map[string]string{"AWS_ENDPOINT_URL": "http://global:9000"}, services, "http://global:9000"},
		{"configured endpoints ignored", "", map[string]string{"AWS_ENDPOINT_URL_S3": "http://s3:9000", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, services, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := isolate(t)
			t.Setenv("AWS_ACCESS_KEY_ID", "minio")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "minio123")
			if tc.config != "" {
				config := filepath.Join(home, "config")
				if err := os.WriteFile(config, []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv("AWS_CONFIG_FILE", config)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			data, err := s3SecretData(context.Background(), S3Settings{Endpoint: tc.endpoint, Region: "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			if data["AWS_ENDPOINT_URL_S3"] != tc.want || data["S3_ENDPOINT"] != tc.want {
				t.Errorf("AWS_ENDPOINT_URL_S3 %q, S3_ENDPOINT %q; want %q", data["AWS_ENDPOINT_URL_S3"], data["S3_ENDPOINT"], tc.want)
			}
			if tc.want != "" && data["S3_USE_HTTPS"] != boolDigit(strings.HasPrefix(tc.want, "https:")) {
				t.Errorf("S3_USE_HTTPS %q for %s", data["S3_USE_HTTPS"], tc.want)
			}
		})
	}
}

// TestS3SecretWarnsOfTemporaryCredentials: credentials that expire (here a credential_process
// with an Expiration) come with a warning naming the time; long-lived ones with none.
func TestS3SecretWarnsOfTemporaryCredentials(t *testing.T) {
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	processProfile(t, expires.Format(time.RFC3339))
	secret, err := ResolveS3Secret(context.Background(), S3Settings{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !secret.Expires.Equal(expires) || secret.Data["AWS_SESSION_TOKEN"] != "proc-token" {
		t.Errorf("expires %s, data %v; want %s", secret.Expires, secret.Data, expires)
	}
	if w := secret.Warning(); !strings.Contains(w, "temporary") || !strings.Contains(w, expires.Local().Format(time.RFC3339)) {
		t.Errorf("warning %q, want the expiry %s", w, expires.Local().Format(time.RFC3339))
	}

	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "minio")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "minio123")
	secret, err = ResolveS3Secret(context.Background(), S3Settings{Region: "us-east-1"})
	if err != nil || !secret.Expires.IsZero() || secret.Warning() != "" {
		t.Errorf("long-lived credentials: expires %s, warning %q, %v", secret.Expires, secret.Warning(), err)
	}
}

// s3SecretData is ResolveS3Secret's data.
func s3SecretData(ctx context.Context, s S3Settings) (map[string]string, error) {
	secret, err := ResolveS3Secret(ctx, s)
	return secret.Data, err
}

// TestS3FailingCredentialProcessStops: a configured credential source that fails is an error
// of its own, not "no credentials" (which only warns), and the process's output, which may
// hold secrets, is not quoted (the audit's N9).
func TestS3FailingCredentialProcessStops(t *testing.T) {
	home := isolate(t)
	config := filepath.Join(home, "config")
	if err := os.WriteFile(config, []byte("[default]\ncredential_process = sh -c 'echo SECRET-IN-OUTPUT; exit 3'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", config)
	_, _, err := LoadAWS(context.Background(), S3Settings{Region: "us-east-1"})
	if err == nil || errors.Is(err, ErrNoS3Credentials) || !strings.Contains(err.Error(), "credential_process failed") {
		t.Fatalf("err = %v, want the failing credential_process named", err)
	}
	if strings.Contains(err.Error(), "SECRET-IN-OUTPUT") {
		t.Errorf("the process's output is in the error: %v", err)
	}
}
