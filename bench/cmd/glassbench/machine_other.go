//go:build !linux

package main

// machineNotes has nothing to say outside Linux.
func machineNotes() []string { return nil }
