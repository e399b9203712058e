// Package untranslated keeps kubectl's help texts in English without loading kubectl's
// translation catalogue, which would cost every command about 30 ms at start-up: kubectl
// kaptain's own texts are English only, and half-translated help reads worse than none.
//
// It must initialize before any package that calls i18n.T at init (kubectl's command
// packages): main imports it first, and its import path sorts before theirs.
package untranslated

import "k8s.io/kubectl/pkg/util/i18n"

func init() {
	if err := i18n.SetLoadTranslationsFunc(func() error { return nil }); err != nil {
		panic(err)
	}
}
