// Command glassnet runs a userspace TCP/IP stack with a WebSocket server on
// top and shows every step a byte takes between a packet and a frame.
//
//	glassnet demo  [--trace FILE|-] [--pcap FILE] [--mtu N]
//	glassnet serve (--tun NAME | --nic IFACE) --addr CIDR[,CIDR...]
//	               [--host-addr CIDR | --no-host-config] [--mac MAC] [--promisc]
//	               [--port 8080] [--mtu N] [--trace FILE|-] [--pcap FILE]
//	               [--max-message BYTES] [--kernel ADDR]
//	glassnet lab   [--nic] [--addr CIDR[,CIDR...]] [--port 8080]
//	               [--trace FILE] [--pcap FILE] [-- COMMAND [ARG...]]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/glassnet/glassnet/internal/app"
)

const usage = `glassnet: a userspace TCP/IP stack with a WebSocket server, every step visible

Usage:
  glassnet demo  [--trace FILE|-] [--pcap FILE] [--mtu N]
      Two stacks in one process over an in-memory link; a WebSocket client
      talks to the server and every packet, socket step and frame is printed.
      Needs no privileges.

  glassnet serve (--tun NAME | --nic IFACE) --addr CIDR[,CIDR...]
                 [--host-addr CIDR | --no-host-config] [--mac MAC] [--promisc]
                 [--port 8080] [--mtu N] [--trace FILE|-] [--pcap FILE]
                 [--max-message BYTES] [--kernel ADDR]
      Runs the stack on a TUN interface, or on an Ethernet interface through
      an AF_PACKET socket (needs root or CAP_NET_ADMIN), on IPv4 and/or IPv6
      addresses, and serves GET / (a chat page), WebSocket /echo and /chat,
      UDP echo on the HTTP port, TCP echo on port 7 and discard on port 9.

  glassnet lab   [--nic] [--addr CIDR[,CIDR...]] [--port 8080]
                 [--trace FILE] [--pcap FILE] [-- COMMAND [ARG...]]
      Creates a network namespace of its own with a TUN (or with --nic a
      veth pair) to a stack that serves as above, and runs COMMAND, or a
      shell, inside it. Everything goes away when it exits. Needs root.

Run 'glassnet COMMAND -h' for the flags of one command.
`

func main() {
	if app.InLabChild() {
		// Re-executed by glassnet lab inside its new namespace.
		os.Exit(app.RunLabChild())
	}
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "glassnet:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	if args[0] == "lab" {
		// The lab handles its signals itself: Ctrl-C belongs to the
		// command running inside it.
		return lab(args[1:], stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "demo":
		return demo(ctx, args[1:], stdout, stderr)
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// exitError is an exit status to leave with, without a message: the
// status of the command glassnet lab ran.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// outputs opens the --trace and --pcap destinations; close closes them.
type outputs struct {
	trace, pcap io.Writer
	files       []*os.File
}

func (o *outputs) open(tracePath, pcapPath string, stdout io.Writer) error {
	if tracePath == "-" {
		o.trace = stdout
	} else if tracePath != "" {
		f, err := os.Create(tracePath)
		if err != nil {
			return err
		}
		o.files = append(o.files, f)
		o.trace = f
	}
	if pcapPath != "" {
		f, err := os.Create(pcapPath)
		if err != nil {
			return err
		}
		o.files = append(o.files, f)
		o.pcap = f
	}
	return nil
}

func (o *outputs) close() error {
	var errs []error
	for _, f := range o.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	tracePath := fs.String("trace", "", "write every event as JSON lines to `FILE` (- for stdout, replacing the readable account)")
	pcapPath := fs.String("pcap", "", "write the server stack's packets to `FILE` (pcap)")
	mtu := fs.Int("mtu", 1500, "MTU of the in-memory link")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var out outputs
	if err := out.open(*tracePath, *pcapPath, stdout); err != nil {
		return err
	}
	opts := app.DemoOptions{Out: stdout, Trace: out.trace, PCAP: out.pcap, MTU: *mtu}
	if *tracePath == "-" {
		opts.Out = nil
	}
	err := app.Demo(ctx, opts)
	return errors.Join(err, out.close())
}
