package model

import (
	"strings"
	"testing"
)

// FuzzParseStorageURI: an accepted URI names a valid bucket and a prefix without outer
// slashes, and the URI rebuilt from them parses to the same.
func FuzzParseStorageURI(f *testing.F) {
	for _, s := range []string{"s3://kaptain/models/dev/mnist/trained/1", "s3://kaptain", "s3://kaptain/", "s3://a..b/x", "s3://Kaptain/x", "gs://b/x", "s3:///x", "s3://kaptain//a//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		bucket, prefix, err := ParseStorageURI(uri)
		if err != nil {
			return
		}
		if !bucketName.MatchString(bucket) || strings.Contains(bucket, "..") || strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") {
			t.Fatalf("%q parsed to bucket %q prefix %q", uri, bucket, prefix)
		}
		b2, p2, err := ParseStorageURI("s3://" + bucket + "/" + prefix)
		if err != nil || b2 != bucket || p2 != prefix {
			t.Fatalf("%q: rebuilt URI parses to %q %q (%v)", uri, b2, p2, err)
		}
	})
}

// FuzzCheckStoredURI: a URI from a record that is accepted is a valid s3:// URI, under the
// model's own storage, with no '..' after it and nothing the kubelet would expand.
func FuzzCheckStoredURI(f *testing.F) {
	m := &Model{Spec: Spec{ID: "dev/mnist", Config: Config{ModelStorageURI: "s3://kaptain/models"}}}
	for _, s := range []string{m.TrainedURI("20260101"), m.TunedURI("r", "t"), "s3://kaptain/models/dev/mnist/../x", "s3://kaptain/models/dev/mnist/$(A)", "s3://kaptain/models/dev/mnistx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if m.CheckStoredURI(uri) != nil {
			return
		}
		if _, _, err := ParseStorageURI(uri); err != nil {
			t.Fatalf("%q accepted but does not parse: %v", uri, err)
		}
		rest, ok := strings.CutPrefix(uri, "s3://kaptain/models/dev/mnist/")
		if !ok || strings.Contains(rest, "..") || strings.ContainsAny(uri, "$` \t\n") {
			t.Fatalf("%q accepted", uri)
		}
	})
}
