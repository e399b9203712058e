package storage

import "testing"

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
