package workload

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Layout is what a KServe model server loads from a model's storage URI: deploy checks the URI
// against it before anything is created, as "model not found" is otherwise seen only after
// the predictor failed to start.
type Layout struct {
	// Server names the model server, e.g. "TensorFlow Serving".
	Server string
	// Want says which files it loads, for messages.
	Want string
	// loads reports whether the server loads the keys (relative to the URI; "" is the URI
	// itself when it names one file).
	loads func(keys []string) bool
}

// KServe's runtimes of each model format, which kaptain knows the layouts of.
var defaultRuntimes = map[string]string{
	"tensorflow": "kserve-tensorflow-serving", "pytorch": "kserve-torchserve", "sklearn": "kserve-sklearnserver",
	"xgboost": "kserve-xgbserver", "lightgbm": "kserve-lgbserver", "onnx": "kserve-tritonserver",
	"triton": "kserve-tritonserver", "huggingface": "kserve-huggingfaceserver",
}

var (
	savedModel    = regexp.MustCompile(`^[0-9]+/saved_model\.(pb|pbtxt)$`)
	tritonConfig  = regexp.MustCompile(`^[^/]+/config\.pbtxt$`)
	tritonVersion = regexp.MustCompile(`^[^/]+/[0-9]+/[^/]+`)
)

// LayoutOf returns the layout that the KServe runtime of a model format (see ServedFormat)
// loads; false when the model names a runtime of its own (spec.serving.runtime other than
// KServe's for the format), whose layout kaptain does not know.
func LayoutOf(format, runtime string) (Layout, bool) {
	if def, ok := defaultRuntimes[format]; !ok || (runtime != "" && runtime != def) {
		return Layout{}, false
	}
	file := func(exts ...string) func([]string) bool {
		return func(keys []string) bool {
			return slices.ContainsFunc(keys, func(k string) bool {
				return !strings.Contains(k, "/") && slices.Contains(exts, path.Ext(k))
			})
		}
	}
	switch format {
	case "tensorflow":
		return Layout{"TensorFlow Serving", "a SavedModel under a numbered version directory: <uri>/<version>/saved_model.pb (e.g. 1/saved_model.pb, with 1/variables/)",
			func(keys []string) bool { return slices.ContainsFunc(keys, savedModel.MatchString) }}, true
	case "pytorch":
		return Layout{"TorchServe", "config/config.properties and a model archive model-store/<name>.mar",
			func(keys []string) bool {
				return slices.Contains(keys, "config/config.properties") &&
					slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, "model-store/") && path.Ext(k) == ".mar" })
			}}, true
	case "sklearn":
		return Layout{"the sklearn server", "a model file model.joblib, model.pkl or model.pickle", file(".joblib", ".pkl", ".pickle")}, true
	case "xgboost":
		return Layout{"the XGBoost server", "a model file model.bst, model.json or model.ubj", file(".bst", ".json", ".ubj")}, true
	case "lightgbm":
		return Layout{"the LightGBM server", "a model file model.bst", file(".bst")}, true
	case "onnx":
		return Layout{"Triton (ONNX)", "a model file model.onnx", file(".onnx")}, true
	case "triton":
		return Layout{"Triton", "a model repository: <model>/config.pbtxt and <model>/<version>/<files>",
			func(keys []string) bool {
				return slices.ContainsFunc(keys, tritonConfig.MatchString) && slices.ContainsFunc(keys, tritonVersion.MatchString)
			}}, true
	case "huggingface":
		return Layout{"the Hugging Face server", "a model directory with config.json (and the weights)",
			func(keys []string) bool { return slices.Contains(keys, "config.json") }}, true
	}
	return Layout{}, false
}

// Check returns nil when the server loads the keys found at uri (relative to it; "" for the
// URI itself, one file), else an error that says what it wants and what was found.
func (l Layout) Check(uri string, keys []string) error {
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		if k == "" {
			k = path.Base(uri)
			names = append(names, k)
			continue
		}
		names = append(names, k)
	}
	if l.loads(names) {
		return nil
	}
	found := "nothing"
	if len(names) > 0 {
		shown := names
		if len(shown) > 10 {
			shown = shown[:10]
		}
		found = strings.Join(shown, ", ")
		if more := len(names) - len(shown); more > 0 {
			found += fmt.Sprintf(" and %d more", more)
		}
	}
	return fmt.Errorf("%s holds nothing %s loads: it wants %s; found %s", uri, l.Server, l.Want, found)
}
