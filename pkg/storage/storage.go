// Package storage talks to S3 or MinIO with aws-sdk-go-v2: it uploads the cluster builder's
// build contexts under the model storage URI (in parallel parts when large) and removes them,
// and lists what a model URI holds.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
)

// S3 transport timeouts: to connect, for the TLS handshake, and for a response's headers once
// the request was sent.
const (
	dialTimeout           = 30 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = time.Minute
)

// Client uploads and deletes objects addressed by s3://bucket/key URIs.
type Client struct {
	s3 *s3.Client
}

// New loads credentials with credentials.LoadAWS and applies kaptain.yaml's storage settings:
// endpoint (MinIO and other S3 servers), region and path-style addressing. Requests are signed
// with Signature Version 4, the only one aws-sdk-go-v2 has ("s3v4"; "s3" is taken to mean it).
func New(ctx context.Context, s credentials.S3Settings) (*Client, error) {
	return newClient(ctx, s, responseHeaderTimeout)
}

// newClient is New with the time a response's headers may take.
func newClient(ctx context.Context, s credentials.S3Settings, headerTimeout time.Duration) (*Client, error) {
	cfg, _, err := credentials.LoadAWS(ctx, s)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	// A server that accepts the connection and says nothing fails the request instead of
	// hanging the command, as for registries.
	cfg.HTTPClient = awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout, t.ResponseHeaderTimeout = tlsHandshakeTimeout, headerTimeout
		})
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
		o.UsePathStyle = s.ForcePathStyle
	})
	return &Client{s3: client}, nil
}

// Multipart upload: a body of partSize or more goes up in parts of partSize,
// uploadConcurrency at a time (aws-sdk-go-v2's transfer manager), holding at most
// uploadConcurrency+1 parts in memory; a smaller one in a single PUT. An upload that fails or
// is interrupted is aborted, within abortTimeout, so that no part is left stored.
const (
	partSize          = 8 << 20
	uploadConcurrency = 4
	abortTimeout      = 30 * time.Second
)

// Upload writes body (size bytes, or as many as it holds when size is negative) to uri,
// telling progress, when set, the bytes sent so far.
func (c *Client) Upload(ctx context.Context, uri string, body io.Reader, size int64, progress func(sent, total int64)) error {
	bucket, key, err := split(uri)
	if err != nil {
		return err
	}
	tm := transfermanager.New(c.s3, func(o *transfermanager.Options) {
		o.PartSizeBytes, o.MultipartUploadThreshold = partSize, partSize
		o.Concurrency = uploadConcurrency
		o.FailTimeout = abortTimeout
		if progress != nil {
			o.ObjectProgressListeners.Register(progressListener(progress))
		}
	})
	input := &transfermanager.UploadObjectInput{Bucket: &bucket, Key: &key, Body: body}
	if size >= 0 {
		input.ContentLength = &size
	}
	_, err = tm.UploadObject(ctx, input)
	if err != nil {
		return explain("uploading to "+uri, bucket, err)
	}
	return nil
}

// progressListener tells a function the bytes an upload has sent.
type progressListener func(sent, total int64)

// OnObjectBytesTransferred implements transfermanager.ObjectBytesTransferredListener.
func (p progressListener) OnObjectBytesTransferred(_ context.Context, e *transfermanager.ObjectBytesTransferredEvent) {
	p(e.BytesTransferred, e.TotalBytes)
}

// List returns the keys of the objects at uri, relative to it: "" for an object at uri itself,
// "1/saved_model.pb" for one under it (a sibling such as uri + "2" is not listed). It stops
// after limit keys.
func (c *Client) List(ctx context.Context, uri string, limit int) ([]string, error) {
	bucket, key, err := split(uri)
	if err != nil {
		return nil, err
	}
	var out []string
	p := s3.NewListObjectsV2Paginator(c.s3, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &key})
	for p.HasMorePages() && len(out) < limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, explain("listing "+uri, bucket, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			switch {
			case k == key:
				out = append(out, "")
			case strings.HasPrefix(k, key+"/"):
				out = append(out, strings.TrimPrefix(k, key+"/"))
			}
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Delete removes the object at uri; a missing object is not an error.
func (c *Client) Delete(ctx context.Context, uri string) error {
	bucket, key, err := split(uri)
	if err != nil {
		return err
	}
	if _, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		return explain("deleting "+uri, bucket, err)
	}
	return nil
}

// split parses s3://bucket/key. The bucket's name was checked with the model; an object
// needs a key.
func split(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	key = strings.Trim(key, "/")
	switch {
	case !ok || bucket == "":
		return "", "", fmt.Errorf("%q is not an s3://bucket/key URI", uri)
	case key == "":
		return "", "", fmt.Errorf("%q names a bucket, not an object", uri)
	}
	return bucket, key, nil
}

// explain adds the fix to the S3 errors users meet most.
func explain(op, bucket string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchBucket":
			return fmt.Errorf("%s: bucket %q does not exist; create it or change spec.config.modelStorageURI: %w", op, bucket, err)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden":
			return fmt.Errorf("%s: the S3 server refused the credentials (%s); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or ~/.aws/credentials: %w", op, api.ErrorCode(), err)
		}
	}
	if strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host") {
		return fmt.Errorf("%s: cannot reach the S3 server; check spec.config.storage.endpoint: %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
