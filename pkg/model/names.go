package model

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// maxNameBase bounds the readable part of a mapped name, so that workload names built from it
// (name, revision, replica suffixes) stay within Kubernetes' 63-character DNS labels.
const maxNameBase = 30

var hashSuffix = regexp.MustCompile(`-[0-9a-f]{8}$`)

// KubeName maps a model id to a valid, stable, collision-free Kubernetes name (an RFC 1035
// label of at most 39 characters):
//
//   - lowercase the id; replace every run of characters other than a-z and 0-9 by '-';
//     trim '-' at both ends; prefix "m-" when it does not start with a letter; cut at 30
//     characters;
//   - if that changed the id, or the id already ends like a hash suffix (-xxxxxxxx), append
//     '-' and the first 8 hex digits of the SHA-256 of the id.
//
// So "mnist" stays "mnist" and "dev/mnist" becomes "dev-mnist-<hash>": an id that maps to
// itself never ends in a hash suffix, and two ids that map to the same readable part differ
// in their hashes.
func KubeName(id string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(id) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	base := strings.Trim(b.String(), "-")
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "m-" + base
	}
	if len(base) > maxNameBase {
		base = base[:maxNameBase]
	}
	base = strings.TrimRight(base, "-")
	if base == id && !hashSuffix.MatchString(base) {
		return base
	}
	sum := sha256.Sum256([]byte(id))
	return base + "-" + hex.EncodeToString(sum[:4])
}

// KubeName returns the Kubernetes name of the model.
func (m *Model) KubeName() string { return KubeName(m.Spec.ID) }
