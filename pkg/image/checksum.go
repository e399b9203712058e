package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Checksum is the content checksum of the image: a hex sha256 over the base image reference
// and platform, framework and version, model id and version, the layout settings and every file's path,
// layer, mode and content. It does not depend on where the files are, on the order they are
// listed in, or on their times. It hashes the files Collect left for later first: call Hash
// before it to see why that fails (Checksum is "" then).
func (in *Inputs) Checksum() string {
	if in.Hash() != nil {
		return ""
	}
	h := sha256.New()
	platform := in.Platform
	if platform == "" {
		platform = "linux/amd64"
	}
	fmt.Fprintf(h, "kaptain-image v1\nbase %s\nplatform %s\nframework %s %s\nmodel %q %q\nworkdir %s\nmain %s\nrequirements %s\n",
		in.BaseImage, platform, in.Framework, in.FrameworkVersion, in.ModelID, in.ModelVersion, WorkDir, in.MainFile, in.Requirements)
	for _, f := range in.Files {
		fmt.Fprintf(h, "file %s %q %t %s\n", f.Layer, f.Path, f.Executable, f.Digest)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Size is the total size of the files.
func (in *Inputs) Size() int64 {
	var n int64
	for _, f := range in.Files {
		n += f.Size
	}
	return n
}

// Labels are the image labels a build writes.
func (in *Inputs) Labels() map[string]string {
	return map[string]string{
		LabelChecksum:         in.Checksum(),
		LabelModelID:          in.ModelID,
		LabelModelVersion:     in.ModelVersion,
		LabelFramework:        in.Framework,
		LabelFrameworkVersion: in.FrameworkVersion,
	}
}

// Entrypoint runs the main file with python from WorkDir.
func (in *Inputs) Entrypoint() []string { return []string{"python", in.MainFile} }
