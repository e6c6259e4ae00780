// Command glassnet runs a userspace TCP/IP stack with a WebSocket server on
// top and shows every step a byte takes between a packet and a frame.
//
//	glassnet demo  [--trace FILE|-] [--pcap FILE] [--mtu N]
//	glassnet serve --tun NAME --addr CIDR [--host-addr CIDR | --no-host-config]
//	               [--port 8080] [--mtu N] [--trace FILE|-] [--pcap FILE]
//	               [--max-message BYTES] [--kernel ADDR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/trace"
)

const usage = `glassnet: a userspace TCP/IP stack with a WebSocket server, every step visible

Usage:
  glassnet demo  [--trace FILE|-] [--pcap FILE] [--mtu N]
      Two stacks in one process over an in-memory link; a WebSocket client
      talks to the server and every packet, socket step and frame is printed.
      Needs no privileges.

  glassnet serve --tun NAME --addr CIDR [--host-addr CIDR | --no-host-config]
                 [--port 8080] [--mtu N] [--trace FILE|-] [--pcap FILE]
                 [--max-message BYTES] [--kernel ADDR]
      Runs the stack on a TUN interface (needs root or CAP_NET_ADMIN) and
      serves GET / (a chat page), WebSocket /echo and /chat, TCP echo on
      port 7 and discard on port 9.

Run 'glassnet COMMAND -h' for the flags of one command.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
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
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
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

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg app.ServeConfig
	fs.StringVar(&cfg.TUN, "tun", "", "TUN interface to create or attach to (required)")
	addr := fs.String("addr", "", "the userspace stack's address and prefix, e.g. 10.200.0.2/24 (required)")
	hostAddr := fs.String("host-addr", "", "the kernel side's address (default: the first host address of --addr's prefix)")
	fs.BoolVar(&cfg.NoHostConfig, "no-host-config", false, "leave the kernel side of the TUN alone")
	fs.IntVar(&cfg.Port, "port", 8080, "port of the HTTP and WebSocket server")
	fs.IntVar(&cfg.MTU, "mtu", 0, "MTU of the TUN (default 1500)")
	fs.Int64Var(&cfg.MaxMessage, "max-message", 16<<20, "largest WebSocket message accepted, in `BYTES`")
	fs.StringVar(&cfg.Kernel, "kernel", "", "also serve the same handlers on the host's kernel stack at `ADDR` (e.g. 127.0.0.1:8081)")
	tracePath := fs.String("trace", "", "write every event as JSON lines to `FILE` (- for stdout)")
	pcapPath := fs.String("pcap", "", "write every packet to `FILE` (pcap)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if cfg.TUN == "" {
		return errors.New("serve: --tun NAME is required (AF_PACKET --nic is not supported yet)")
	}
	var err error
	if cfg.Addr, err = netip.ParsePrefix(*addr); err != nil {
		return fmt.Errorf("serve: --addr: %w (want an address with a prefix length, e.g. 10.200.0.2/24)", err)
	}
	if *hostAddr != "" {
		if cfg.NoHostConfig {
			return errors.New("serve: --host-addr and --no-host-config exclude each other")
		}
		if cfg.HostAddr, err = netip.ParsePrefix(*hostAddr); err != nil {
			return fmt.Errorf("serve: --host-addr: %w", err)
		}
	}
	var out outputs
	if err := out.open(*tracePath, *pcapPath, stdout); err != nil {
		return err
	}
	if out.trace != nil {
		cfg.Tracer = trace.New(trace.NewJSON(out.trace))
	}
	cfg.PCAP = out.pcap
	cfg.Log = stdout
	if *tracePath == "-" {
		cfg.Log = stderr
	}
	err = app.Serve(ctx, cfg)
	return errors.Join(err, out.close())
}
