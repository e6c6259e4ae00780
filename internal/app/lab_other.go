//go:build !linux

package app

import "errors"

// errLabNotSupported is what Lab says on platforms without network
// namespaces.
var errLabNotSupported = errors.New("lab: network namespaces are a Linux feature")

// Lab returns an error on this platform: it needs Linux namespaces.
func Lab(cfg LabConfig) (int, error) { return 0, errLabNotSupported }

// InLabChild reports false on this platform.
func InLabChild() bool { return false }

// RunLabChild does nothing on this platform.
func RunLabChild() int { return 1 }
