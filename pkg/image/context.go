package image

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Dockerfile is the build recipe of the cluster builder: the base image, the requirements
// installed with pip in their own step, then the files, the labels and the entrypoint. Every
// value is quoted so that the builder takes it as written: JSON for the exec form of
// ENTRYPOINT, and '$' escaped where the builder expands variables (COPY, LABEL) or the shell
// does (RUN).
func (in *Inputs) Dockerfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\nWORKDIR %s\n", in.BaseImage, WorkDir)
	if in.Requirements != "" {
		req := jsonString(escapeWord(in.Requirements))
		fmt.Fprintf(&b, "COPY [%s, %s]\nRUN pip install --no-cache-dir -r %s\n", req, req, shellWord(in.Requirements))
	}
	fmt.Fprintf(&b, "COPY . .\n")
	labels := in.Labels()
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "LABEL %s=%s\n", k, labelWord(labels[k]))
	}
	fmt.Fprintf(&b, "ENTRYPOINT [%s, %s]\n", jsonString("python"), jsonString(in.MainFile))
	return b.String()
}

// jsonString is s as a JSON string, without HTML escaping (the exec form of ENTRYPOINT takes
// it as JSON).
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// labelWord is s as a double-quoted word of a LABEL: JSON escapes '"' and '\' as the builder
// reads them inside double quotes, and '$' is escaped so that no variable is expanded.
func labelWord(s string) string { return strings.ReplaceAll(jsonString(s), "$", `\$`) }

// escapeWord escapes the characters the builder's word processing (variable expansion and
// quote removal, which COPY applies to each element of its JSON form too) would interpret.
func escapeWord(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if strings.IndexByte(`\$"'`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// shellWord is s as a double-quoted word of a shell command line (RUN's shell form): '\',
// '"', '$' and '`' escaped, everything else as is (Context refuses a line break).
func shellWord(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(s) + `"`
}

// DockerfileName is the generated Dockerfile's name at the root of a build context, beside the
// model's files; Context refuses a model file of that name.
const DockerfileName = "Dockerfile.kaptain"

// Context writes the cluster builder's build context: the model's files at their paths and
// the generated Dockerfile, as a reproducible gzipped tar, stored (gzip level 0) when most of
// its bytes are large files that do not compress (contextLevel).
func (in *Inputs) Context(w io.Writer) error {
	// The values the Dockerfile does not write as JSON must stay on their line.
	for _, v := range []struct{ field, value string }{{"spec.baseImage", in.BaseImage}, {"spec.requirements", in.Requirements}} {
		if strings.ContainsAny(v.value, "\r\n") {
			return fmt.Errorf("%s %q has a line break, which the build context's Dockerfile cannot hold", v.field, v.value)
		}
	}
	for _, f := range in.Files {
		if f.Path == DockerfileName || f.Path == ".dockerignore" {
			return fmt.Errorf("the model has a file named %s, which the build context needs for its own; rename it", f.Path)
		}
	}
	return compressParallel(w, in.contextLevel(), func(tw io.Writer) error {
		return writeTar(tw, "", in.Files, []extra{
			{name: ".dockerignore", data: []byte(".dockerignore\n" + DockerfileName + "\n")},
			{name: DockerfileName, data: []byte(in.Dockerfile())},
		}, nil)
	})
}

// contextLevel is the build context's gzip level: stored when the large files whose samples do
// not compress (the layers the local builder stores) hold half of the bytes or more, as
// weights do; BestSpeed otherwise.
func (in *Inputs) contextLevel() int {
	var stored int64
	for _, g := range in.groups() {
		if g.stored {
			for _, f := range g.files {
				stored += f.Size
			}
		}
	}
	if total := in.Size(); total > 0 && stored*2 >= total {
		return gzip.NoCompression
	}
	return gzip.BestSpeed
}
