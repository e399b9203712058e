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
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
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
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

// realNodeServing pushes the model server and storage initializer images to the node's
// registry and points KServe at them: the storage initializer of its ConfigMap and the
// containers of the ServedRuntimes. Pods on kwok nodes never pull them.
func (c *Cluster) realNodeServing(ctx context.Context, client kubernetes.Interface) error {
	n := c.Node
	server, initializer := n.Registry+"/kaptain/modelserver:1", n.Registry+"/kaptain/storage-initializer:1"
	for ref, script := range map[string]string{server: "modelserver.py", initializer: "storage_initializer.py"} {
		if err := servingImage(ctx, n.BaseImage, script, ref); err != nil {
			return err
		}
	}
	cm, err := client.CoreV1().ConfigMaps("kserve").Get(ctx, "inferenceservice-config", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading KServe's ConfigMap: %w", err)
	}
	var si map[string]any
	if err := json.Unmarshal([]byte(cm.Data["storageInitializer"]), &si); err != nil {
		return fmt.Errorf("KServe's storageInitializer setting: %w", err)
	}
	si["image"] = initializer
	data, err := json.Marshal(si)
	if err != nil {
		return err
	}
	cm.Data["storageInitializer"] = string(data)
	if _, err := client.CoreV1().ConfigMaps("kserve").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("setting KServe's storage initializer: %w", err)
	}
	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	runtimes := d.Resource(schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "clusterservingruntimes"})
	for _, name := range ServedRuntimes {
		rt, err := runtimes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		containers, _, err := unstructured.NestedSlice(rt.Object, "spec", "containers")
		if err != nil || len(containers) == 0 {
			return fmt.Errorf("clusterservingruntime %s has no container", name)
		}
		containers[0].(map[string]any)["image"] = server
		if err := unstructured.SetNestedSlice(rt.Object, containers, "spec", "containers"); err != nil {
			return err
		}
		if _, err := runtimes.Update(ctx, rt, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("setting the image of clusterservingruntime %s: %w", name, err)
		}
	}
	n.ModelServer, n.StorageInitializer = server, initializer
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
