//go:build !linux

package main

// childMain: the many and scale sections' namespace children and server
// processes exist on Linux only.
func childMain() {}

func runNSChild(section string, params, res any) string {
	return "skipped: network namespaces need Linux"
}
