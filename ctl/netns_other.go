//go:build !linux

package ctl

import "errors"

// ownNetns is "" where network namespaces are not known.
func ownNetns() string { return "" }

// peerNetns fails where network namespaces are not known.
func peerNetns(path string) (string, error) {
	return "", errors.New("ctl: network namespaces are Linux's")
}
