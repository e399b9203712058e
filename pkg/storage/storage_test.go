package storage

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
)

func TestSplit(t *testing.T) {
	for uri, want := range map[string][2]string{
		"s3://kaptain/models/m/build/x.tar.gz": {"kaptain", "models/m/build/x.tar.gz"},
		"s3://b/k/":                            {"b", "k"},
		"s3://b":                               {"", ""},
		"s3://b/":                              {"", ""},
		"gs://b/k":                             {"", ""},
		"s3:///k":                              {"", ""},
	} {
		bucket, key, err := split(uri)
		if bucket != want[0] || key != want[1] || (err == nil) != (want[0] != "") {
			t.Errorf("split(%q) = %q, %q, %v; want %q, %q", uri, bucket, key, err, want[0], want[1])
		}
	}
}

// TestSilentS3ServerFails: an S3 endpoint that accepts the connection and never answers
// fails the request once the response-header timeout passes, instead of hanging (N9).
func TestSilentS3ServerFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	c, err := newClient(context.Background(), credentials.S3Settings{Endpoint: "http://" + l.Addr().String(), Region: "us-east-1", ForcePathStyle: true}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.List(ctx, "s3://kaptain/models/dev/mnist", 10)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("List against a silent server: %v after %s, want a timeout before the test's deadline", err, time.Since(start))
	}
}
