//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/storage"
	"github.com/kaptain-dev/kubectl-kaptain/test/servers"
)

// TestLargeContextsUploadInParts: a large build context goes to the S3 server as a multipart
// upload, its progress reported up to its size, and arrives whole; an upload interrupted
// half-way leaves neither the object nor a part on the server.
func TestLargeContextsUploadInParts(t *testing.T) {
	s3srv := servers.StartS3(t, "kaptain")
	for _, kv := range s3srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	client, err := storage.New(ctx, credentials.S3Settings{Endpoint: s3srv.Endpoint, ForcePathStyle: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 40<<20)
	_, _ = rand.Read(data)

	var mu sync.Mutex
	var reports [][2]int64
	uri := "s3://kaptain/models/big/build/context.tar.gz"
	if err := client.Upload(ctx, uri, bytes.NewReader(data), int64(len(data)), func(sent, total int64) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, [2]int64{sent, total})
	}); err != nil {
		t.Fatal(err)
	}
	obj, err := s3srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: ptrTo("kaptain"), Key: ptrTo("models/big/build/context.tar.gz")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the object is not what was uploaded: %d bytes of %d (%v)", len(got), len(data), err)
	}
	// A multipart object's ETag ends in the number of its parts: 40 MiB in 8 MiB parts.
	if etag := strings.Trim(*obj.ETag, `"`); !strings.HasSuffix(etag, "-5") {
		t.Errorf("ETag %s: want a multipart upload of 5 parts", etag)
	}
	if len(reports) < 2 || reports[len(reports)-1] != [2]int64{int64(len(data)), int64(len(data))} {
		t.Errorf("progress %v: want several reports, the last at the size", reports)
	}

	// Interrupted after 20 MiB were read: nothing stays on the server.
	cut, cancel := context.WithCancel(ctx)
	defer cancel()
	body := &cancelAfter{r: bytes.NewReader(data), left: 20 << 20, cancel: cancel}
	err = client.Upload(cut, "s3://kaptain/models/big/build/cut.tar.gz", body, int64(len(data)), nil)
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted upload: err = %v, want context.Canceled", err)
	}
	uploads, err := s3srv.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: ptrTo("kaptain")})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("the interrupted upload left %d multipart uploads on the server", len(uploads.Uploads))
	}
	if _, err := s3srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: ptrTo("kaptain"), Key: ptrTo("models/big/build/cut.tar.gz")}); err == nil {
		t.Error("the interrupted upload left an object")
	}
}

// cancelAfter reads from r and cancels once left bytes were read (Ctrl-C during an upload).
type cancelAfter struct {
	r      io.Reader
	left   int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.left -= n; c.left <= 0 {
		c.cancel()
	}
	return n, err
}
