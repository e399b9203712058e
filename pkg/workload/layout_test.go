package workload

import (
	"strings"
	"testing"
)

func TestLayouts(t *testing.T) {
	for _, tc := range []struct {
		framework, runtime string
		uri                string
		keys               []string
		want               string // "" loads; else part of the error
	}{
		{"tensorflow", "", "s3://b/m", []string{"1/saved_model.pb", "1/variables/variables.index"}, ""},
		{"tensorflow", "kserve-tensorflow-serving", "s3://b/m", []string{"7/saved_model.pbtxt"}, ""},
		{"tensorflow", "", "s3://b/m", []string{"model.keras"}, "s3://b/m holds nothing TensorFlow Serving loads: it wants a SavedModel under a numbered version directory: <uri>/<version>/saved_model.pb (e.g. 1/saved_model.pb, with 1/variables/); found model.keras"},
		{"tensorflow", "", "s3://b/m", nil, "found nothing"},
		{"tensorflow", "", "s3://b/m", []string{"saved_model.pb"}, "found saved_model.pb"}, // no version directory
		{"pytorch", "", "s3://b/m", []string{"config/config.properties", "model-store/mnist.mar"}, ""},
		{"pytorch", "", "s3://b/m", []string{"model.pt"}, "TorchServe"},
		{"sklearn", "", "s3://b/m", []string{"model.joblib"}, ""},
		{"sklearn", "", "s3://b/m/model.pkl", []string{""}, ""}, // the URI names the file
		{"sklearn", "", "s3://b/m", []string{"sub/model.joblib"}, "found sub/model.joblib"},
		{"xgboost", "", "s3://b/m", []string{"model.bst"}, ""},
		{"lightgbm", "", "s3://b/m", []string{"model.txt"}, "model.bst"},
		{"onnx", "", "s3://b/m", []string{"model.onnx"}, ""},
		{"triton", "", "s3://b/repo", []string{"mnist/config.pbtxt", "mnist/1/model.onnx"}, ""},
		{"triton", "", "s3://b/repo", []string{"mnist/config.pbtxt"}, "model repository"},
		{"huggingface", "", "s3://b/m", []string{"config.json", "model.safetensors"}, ""},
	} {
		l, ok := LayoutOf(tc.framework, tc.runtime)
		if !ok {
			t.Errorf("%s: no layout", tc.framework)
			continue
		}
		err := l.Check(tc.uri, tc.keys)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %v: %v, want it loaded", tc.framework, tc.keys, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %v: %v, want %q", tc.framework, tc.keys, err, tc.want)
		}
	}
	if _, ok := LayoutOf("tensorflow", "my-own-runtime"); ok {
		t.Error("a runtime of the user's own has a layout")
	}
	many := make([]string, 14)
	for i := range many {
		many[i] = "f" + strings.Repeat("x", i)
	}
	l, _ := LayoutOf("onnx", "")
	if err := l.Check("s3://b/m", many); err == nil || !strings.HasSuffix(err.Error(), "and 4 more") {
		t.Errorf("a long listing: %v", err)
	}
}
