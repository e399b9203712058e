package localcluster

import (
	"archive/tar"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// servingScripts are the real node's stand-ins for KServe's sklearn and XGBoost servers and
// its storage initializer (the kserve Python package is not among Debian's packages): Python
// on the base image, speaking KServe's V1 protocol and reading the S3 settings KServe injects.
//
//go:embed serving/modelserver.py serving/storage_initializer.py
var servingScripts embed.FS

// ServedRuntimes are the KServe runtimes whose container runs the local cluster's model server
// (serving/modelserver.py on the base image): scikit-learn's and XGBoost's.
var ServedRuntimes = []string{"kserve-sklearnserver", "kserve-xgbserver"}

// servingImage is the base image with one script of servingScripts as its entrypoint, run as
// a user other than root (KServe's runtimes ask runAsNonRoot).
func servingImage(ctx context.Context, base, script, ref string) error {
	data, err := servingScripts.ReadFile("serving/" + script)
	if err != nil {
		return err
	}
	return pushOnBase(ctx, base, ref, path.Join("/kaptain", script), data, 0o644, "1000", "python3")
}

// pushOnBase pushes to ref the base image with one more file, at file (an absolute path), as
// its entrypoint: run by runner when not empty (an interpreter), as user when not empty.
func pushOnBase(ctx context.Context, base, ref, file string, data []byte, mode int64, user, runner string) error {
	layer, err := fileLayer(file, data, mode)
	if err != nil {
		return err
	}
	baseRef, err := name.ParseReference(base, name.Insecure)
	if err != nil {
		return err
	}
	img, err := remote.Image(baseRef, remote.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("reading the base image %s: %w", base, err)
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	c := cfg.Config.DeepCopy()
	c.Entrypoint, c.Cmd, c.User = []string{file}, nil, user
	if runner != "" {
		c.Entrypoint = []string{runner, file}
	}
	c.Env = append(c.Env, "HOME=/tmp")
	if img, err = mutate.Config(img, *c); err != nil {
		return err
	}
	return pushImage(ctx, ref, img)
}

// realNodeServing pushes the model server and storage initializer images to the node's
// registry: the images kserve set in its ConfigMap and the ServedRuntimes (servingImages).
// Pods on kwok nodes never pull them.
func (c *Cluster) realNodeServing(ctx context.Context) error {
	n := c.Node
	for ref, script := range map[string]string{n.ModelServer: "modelserver.py", n.StorageInitializer: "storage_initializer.py"} {
		if err := servingImage(ctx, n.BaseImage, script, ref); err != nil {
			return err
		}
	}
	return nil
}

// servingImages points KServe's objects, as read from its module, at the real node's images:
// the storage initializer of the inferenceservice-config ConfigMap, the container of the
// ServedRuntimes. It changes nothing without a real node.
func (c *Cluster) servingImages(obj *unstructured.Unstructured) error {
	if c.Node == nil {
		return nil
	}
	switch {
	case obj.GetKind() == "ConfigMap":
		raw, _, _ := unstructured.NestedString(obj.Object, "data", "storageInitializer")
		var si map[string]any
		if err := json.Unmarshal([]byte(raw), &si); err != nil {
			return fmt.Errorf("KServe's storageInitializer setting: %w", err)
		}
		si["image"] = c.Node.StorageInitializer
		data, err := json.Marshal(si)
		if err != nil {
			return err
		}
		return unstructured.SetNestedField(obj.Object, string(data), "data", "storageInitializer")
	case obj.GetKind() == "ClusterServingRuntime" && slices.Contains(ServedRuntimes, obj.GetName()):
		containers, _, err := unstructured.NestedSlice(obj.Object, "spec", "containers")
		if err != nil || len(containers) == 0 {
			return fmt.Errorf("clusterservingruntime %s has no container", obj.GetName())
		}
		containers[0].(map[string]any)["image"] = c.Node.ModelServer
		return unstructured.SetNestedSlice(obj.Object, containers, "spec", "containers")
	}
	return nil
}

// fileLayer is a layer of one file (an absolute or relative path) and its directory.
func fileLayer(file string, data []byte, mode int64) (v1.Layer, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	file = strings.TrimPrefix(file, "/")
	headers := []*tar.Header{{Name: file, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}}
	if dir := path.Dir(file); dir != "." {
		headers = append([]*tar.Header{{Name: dir + "/", Mode: 0o755, Typeflag: tar.TypeDir}}, headers...)
	}
	for _, h := range headers {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerData := b.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerData)), nil })
}
