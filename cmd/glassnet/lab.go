package main

import (
	"io"

	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/ui"
)

func lab(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lab", stderr)
	var cfg app.LabConfig
	var addrs prefixList
	fs.BoolVar(&cfg.NIC, "nic", false, "use a veth pair, glassnet's end through AF_PACKET, instead of a TUN")
	fs.BoolVar(&cfg.NoOffload, "no-offload", false, "open the TUN without segmentation and checksum offloads (on by default)")
	fs.BoolVar(&cfg.NoDelayedACK, "no-delayed-ack", false, "acknowledge every batch of received data at once, as upstream gVisor does, instead of waiting (40 ms, up to 200 ms on a longer path) for the reply to carry the ACK (Linux's delayed ACK, on by default)")
	fs.Var(&addrs, "addr", "the stack's `CIDR`s, comma-separated or repeated (default 10.200.0.2/24,fd00:200::2/64)")
	fs.IntVar(&cfg.Port, "port", app.DefaultPort, "port of the HTTP and WebSocket server and of the UDP echo")
	fs.Int64Var(&cfg.MaxMessage, "max-message", 16<<20, "largest WebSocket message accepted, in `BYTES`")
	addLimitFlags(fs, &cfg.AllowOrigins)
	fs.StringVar(&cfg.TracePath, "trace", "", "write every event as JSON lines to `FILE`")
	fs.StringVar(&cfg.PCAPPath, "pcap", "", "write every packet to `FILE` (pcap)")
	addRuleFlags(fs, &cfg.Rules)
	var uiAddr uiFlag
	fs.Var(&uiAddr, "ui", "serve the browser view of the lab's stack at `ADDR` on this host's stack (default "+ui.DefaultAddr+")")
	// The command's own flags are its: no flags after it.
	command, err := parseFlags(fs, uiArgs(args), stdout, false)
	if err != nil {
		return err
	}
	if err := checkEmptyOutputs("lab", fs, "trace", "pcap"); err != nil {
		return err
	}
	cfg.UI, cfg.UIAddr = uiAddr.set, uiAddr.addr
	if err := checkLimitFlags("lab", cfg.Port, cfg.MaxMessage); err != nil {
		return usagef("%w", err)
	}
	if cfg.NoOffload && cfg.NIC {
		return usagef("lab: --no-offload applies to a TUN; --nic moves packets without offloads")
	}
	if cfg.TracePath == "-" {
		return usagef("lab: --trace -: stdout is the command's; name a file (the trace on stdout would mix with its output)")
	}
	if cfg.PCAPPath == "-" {
		return usagef("lab: --pcap -: stdout is the command's; name a file (a capture on stdout would mix with its output)")
	}
	if err := checkOutputs("lab", map[string]string{"--trace": cfg.TracePath, "--pcap": cfg.PCAPPath}); err != nil {
		return err
	}
	cfg.Addrs = addrs
	cfg.Command = command
	cfg.Stdout, cfg.Stderr = stdout, stderr
	code, err := app.Lab(cfg)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError(code)
	}
	return nil
}
