package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// validateOutput refuses an -o the command does not print.
func validateOutput(output string, allowed ...string) error {
	if !slices.Contains(allowed, output) {
		return sdkerr.New(sdkerr.Usage, "--output %q is not supported; use %s", output, strings.Join(allowed[1:], " or "))
	}
	return nil
}

// printData writes v as YAML or JSON.
func printData(w io.Writer, format string, v any) error {
	var data []byte
	var err error
	if format == "json" {
		data, err = json.MarshalIndent(v, "", "    ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encoding output: %w", err)
	}
	_, err = w.Write(data)
	return err
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
