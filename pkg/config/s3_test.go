package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// isolate points the AWS SDK at empty files, so only what the test sets is found.
func isolate(t *testing.T) string {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
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
	data, err := S3SecretData(context.Background(), S3Settings{Endpoint: "http://minio.kubeflow:9000", Region: "eu-west-1", ForcePathStyle: true, SignatureVersion: "s3v4"})
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
	data, err := S3SecretData(context.Background(), S3Settings{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if data["AWS_ACCESS_KEY_ID"] != "AKIA" || data["AWS_SESSION_TOKEN"] != "tok" || data["S3_ENDPOINT"] != "" {
		t.Errorf("data = %v", data)
	}
}

func TestS3SecretDataWithoutCredentials(t *testing.T) {
	isolate(t)
	_, err := S3SecretData(context.Background(), S3Settings{Region: "us-east-1"})
	if !errors.Is(err, ErrNoS3Credentials) {
		t.Errorf("error = %v, want ErrNoS3Credentials", err)
	}
}

// processProfile writes a profile whose credentials come from credential_process, a script
// that leaves a marker file each time it runs.
func processProfile(t *testing.T) (marker string) {
	home := isolate(t)
	marker = filepath.Join(home, "ran")
	script := filepath.Join(home, "creds.sh")
	body := "#!/bin/sh\ntouch " + marker + "\necho '{\"Version\":1,\"AccessKeyId\":\"ASIAPROC\",\"SecretAccessKey\":\"proc-secret\",\"SessionToken\":\"proc-token\"}'\n"
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
	data, err := S3SecretData(context.Background(), S3Settings{Region: "us-east-1"})
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
	data, err := S3SecretData(context.Background(), S3Settings{Region: "us-east-1", Offline: true})
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
	data, err := S3SecretData(context.Background(), S3Settings{Region: "us-east-1", Offline: true})
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
	_, err := S3SecretData(context.Background(), S3Settings{Region: "us-east-1", Offline: true})
	if !errors.Is(err, ErrNoS3Credentials) {
		t.Errorf("error = %v, want ErrNoS3Credentials", err)
	}
}
