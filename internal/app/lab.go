package app

import (
	"io"
	"net/netip"
	"os"
)

// Names of the lab's interfaces inside its namespace. LabLink is the
// kernel's side in both modes (the TUN, or one end of the veth pair);
// LabStackLink is the veth end glassnet owns through AF_PACKET with --nic.
const (
	LabLink      = "glass0"
	LabStackLink = "glass0-stack"
)

// DefaultLabAddrs are the stack's addresses in a lab unless told
// otherwise; the kernel side gets 10.200.0.1/24 and fd00:200::1/64.
var DefaultLabAddrs = []netip.Prefix{
	netip.MustParsePrefix("10.200.0.2/24"),
	netip.MustParsePrefix("fd00:200::2/64"),
}

// EnvLab is set, to the name of the lab's kernel-side interface, in the
// environment of the command a lab runs.
const EnvLab = "GLASSNET_LAB"

// LabConfig is what `glassnet lab` takes.
type LabConfig struct {
	// NIC uses a veth pair, one end glassnet's through AF_PACKET, instead
	// of a TUN.
	NIC bool
	// NoOffload opens the TUN without segmentation and checksum offloads
	// (serve's --no-offload); not with NIC.
	NoOffload bool
	// NoDelayedACK makes the stack acknowledge every batch of received
	// data at once (serve's --no-delayed-ack).
	NoDelayedACK bool
	// Addrs are the stack's addresses; empty means DefaultLabAddrs. Each
	// prefix needs room for the kernel side's address.
	Addrs []netip.Prefix
	// Port, MaxMessage, AllowOrigins: as in ServeConfig.
	Port         int
	MaxMessage   int64
	AllowOrigins []string
	// TracePath and PCAPPath, if set, name files for the JSON-lines trace
	// and the capture, as serve's --trace and --pcap.
	TracePath, PCAPPath string
	// Rules are hook rules for the stack's link (--egress, --ingress).
	Rules
	// UI serves the browser view of the lab's stack (--ui) at UIAddr
	// (empty: ui.DefaultAddr) on this process's kernel stack, not the
	// lab's; the URL goes to Stderr. UIToken, if set, replaces the random
	// token.
	UI      bool
	UIAddr  string
	UIToken string
	// Command runs inside the namespace; empty means an interactive
	// shell, $SHELL or else /bin/sh.
	Command []string

	// Stdin, Stdout and Stderr of the command; nil means this process's.
	Stdin  io.Reader `json:"-"`
	Stdout io.Writer `json:"-"`
	Stderr io.Writer `json:"-"`
}

func (c LabConfig) withDefaults() LabConfig {
	if len(c.Addrs) == 0 {
		c.Addrs = DefaultLabAddrs
	}
	if c.Port == 0 {
		c.Port = 8080
	}
	if c.Stdin == nil {
		c.Stdin = os.Stdin
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	return c
}
