// Command sha256pass reads the files named on its command line once, in order, through Go's
// crypto/sha256, and prints each digest: the hash floor hack/bench-build.sh measures a build
// against (a build must read and hash every byte at least once).
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

func main() {
	buf := make([]byte, 1<<20)
	for _, name := range os.Args[1:] {
		if err := hash(name, buf); err != nil {
			fmt.Fprintln(os.Stderr, "sha256pass:", err)
			os.Exit(1)
		}
	}
}

func hash(name string, buf []byte) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	fmt.Printf("%x  %s\n", h.Sum(nil), name)
	return nil
}
