package credentials

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Settings are kaptain.yaml's storage settings.
type S3Settings struct {
	Endpoint         string
	Region           string
	ForcePathStyle   bool
	SignatureVersion string
	// Offline resolves only credentials that are written down (environment, shared files).
	// Those a provider would fetch (SSO, assume-role, web identity, credential_process,
	// container endpoints) become Unresolved instead, so that a client dry run runs no
	// process and calls no service.
	Offline bool
}

// Unresolved stands for a credential that an offline resolution did not fetch.
const Unresolved = "(fetched when applied)"

// S3Secret is what ResolveS3Secret resolves: the Secret's data and, for temporary credentials, when
// they expire.
type S3Secret struct {
	// Data are the environment variables of the Secret that workloads read.
	Data map[string]string
	// Expires is when the credentials stop working: SSO, assume-role, web identity or a
	// credential_process with an expiration. Zero for long-lived (or unresolved) credentials.
	Expires time.Time
}

// Warning says that temporary credentials go into a Secret that outlives them, and when they
// expire; "" for long-lived ones.
func (s S3Secret) Warning() string {
	if s.Expires.IsZero() {
		return ""
	}
	return fmt.Sprintf("the S3 credentials are temporary and expire at %s: workloads that read or write storage after that fail; use long-lived credentials (an access key) for long jobs and services",
		s.Expires.Local().Format(time.RFC3339))
}

// ResolveS3Secret resolves S3 credentials the way the AWS SDKs do (environment, shared
// credentials and config files, AWS_PROFILE; never the EC2 metadata service, so that no
// network is touched) and returns them, with the storage settings, as the environment
// variables of the Secret that workloads read: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_REGION, and for S3-compatible servers such as MinIO S3_ENDPOINT,
// AWS_ENDPOINT_URL_S3, S3_USE_HTTPS, S3_VERIFY_SSL, S3_FORCE_PATH_STYLE, S3_SIGNATURE_VERSION.
// The endpoint is the one the build's own S3 client uses: the storage settings', else the
// SDK's for S3 (AWS_ENDPOINT_URL_S3 or the config file's services section, over
// AWS_ENDPOINT_URL or the profile's endpoint_url). Temporary credentials set Expires. The
// error wraps ErrNoS3Credentials when no credentials are configured.
func ResolveS3Secret(ctx context.Context, s S3Settings) (S3Secret, error) {
	cfg, creds, err := LoadAWS(ctx, s)
	if err != nil {
		return S3Secret{}, err
	}
	data := map[string]string{
		"AWS_ACCESS_KEY_ID":     creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
		"AWS_REGION":            cmp.Or(s.Region, cfg.Region, "us-east-1"),
	}
	if creds.SessionToken != "" {
		data["AWS_SESSION_TOKEN"] = creds.SessionToken
	}
	if endpoint := cmp.Or(s.Endpoint, S3Endpoint(cfg)); endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil {
			return S3Secret{}, fmt.Errorf("storage endpoint %q: %w", endpoint, err)
		}
		data["S3_ENDPOINT"] = endpoint
		data["AWS_ENDPOINT_URL_S3"] = endpoint
		data["S3_USE_HTTPS"] = boolDigit(u.Scheme == "https")
		data["S3_VERIFY_SSL"] = boolDigit(u.Scheme == "https")
	}
	if s.ForcePathStyle {
		data["S3_FORCE_PATH_STYLE"] = "true"
	}
	if s.SignatureVersion != "" {
		data["S3_SIGNATURE_VERSION"] = s.SignatureVersion
	}
	out := S3Secret{Data: data}
	if creds.CanExpire {
		out.Expires = creds.Expires
	}
	return out, nil
}

// S3Endpoint is the endpoint an S3 client made from cfg uses, "" for AWS's own: the SDK
// resolves it (service/s3's resolveBaseEndpoint), so AWS_ENDPOINT_URL_S3 and the config file's
// services section take precedence over AWS_ENDPOINT_URL and the profile's endpoint_url as
// they do for the upload, and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns them all off.
func S3Endpoint(cfg aws.Config) string {
	return aws.ToString(s3.NewFromConfig(cfg).Options().BaseEndpoint)
}

// LoadAWS loads the AWS configuration and credentials the way the AWS SDKs do (environment,
// shared credentials and config files, AWS_PROFILE, session tokens; never the EC2 metadata
// service, so that no network is touched), with the region of the storage settings when set.
// The error wraps ErrNoS3Credentials when no credentials are configured.
func LoadAWS(ctx context.Context, s S3Settings) (aws.Config, aws.Credentials, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled)}
	if s.Region != "" {
		opts = append(opts, awsconfig.WithRegion(s.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, aws.Credentials{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Credentials == nil || aws.IsCredentialsProvider(cfg.Credentials, &ec2rolecreds.Provider{}) {
		// The chain ends with the EC2 instance role when nothing is configured; the metadata
		// service is off, so that means no credentials.
		return cfg, aws.Credentials{}, fmt.Errorf("%w: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write ~/.aws/credentials", ErrNoS3Credentials)
	}
	if s.Offline && !aws.IsCredentialsProvider(cfg.Credentials, awscreds.StaticCredentialsProvider{}) {
		return cfg, aws.Credentials{AccessKeyID: Unresolved, SecretAccessKey: Unresolved, SessionToken: Unresolved}, nil
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return cfg, aws.Credentials{}, credentialsFailed(err)
	}
	if !creds.HasKeys() {
		return cfg, aws.Credentials{}, fmt.Errorf("%w: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write ~/.aws/credentials", ErrNoS3Credentials)
	}
	return cfg, creds, nil
}

// credentialsFailed is the error of a configured credential source that failed (an expired
// SSO session, a failing credential_process): the command stops rather than go on without
// credentials. A credential_process's error is not quoted: it holds the process's output,
// which may hold secrets.
func credentialsFailed(err error) error {
	const fix = "run 'aws sts get-caller-identity' with the same AWS_PROFILE to see why, and fix or unset it"
	var process *processcreds.ProviderError
	if errors.As(err, &process) {
		return fmt.Errorf("loading AWS credentials: the profile's credential_process failed (its output is not shown; it may hold secrets); %s", fix)
	}
	return fmt.Errorf("loading AWS credentials: %w; %s", err, fix)
}

// ErrNoS3Credentials says that no S3 credentials are configured.
var ErrNoS3Credentials = errors.New("no S3 credentials found")

func boolDigit(b bool) string { return strconv.Itoa(map[bool]int{false: 0, true: 1}[b]) }
