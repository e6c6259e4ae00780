package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/glassnet/glassnet/ui"
)

// uiFlag is --ui [ADDR]: a flag that may stand alone (the default
// address) or take an address.
type uiFlag struct {
	set  bool
	addr string
}

func (f *uiFlag) String() string { return f.addr }

func (f *uiFlag) Set(v string) error {
	f.set = true
	if v == "true" {
		v = ""
	}
	if v == "false" {
		f.set = false
		v = ""
	}
	if v != "" && !strings.Contains(v, ":") {
		return fmt.Errorf("%q: want ADDR as host:port, e.g. 127.0.0.1:%s", v, strings.TrimLeft(v, "abcdefghijklmnopqrstuvwxyz.-"))
	}
	f.addr = v
	return nil
}

// IsBoolFlag lets --ui stand alone.
func (f *uiFlag) IsBoolFlag() bool { return true }

// uiArgs turns "--ui ADDR" into "--ui=ADDR" when the word after --ui is an
// address (it has a colon and is not a flag), so that the address may
// follow with a space as the usage says.
func uiArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if (a == "--ui" || a == "-ui") && i+1 < len(args) {
			// an address, or a port alone (refused by Set, saying how)
			if next := args[i+1]; !strings.HasPrefix(next, "-") && (strings.Contains(next, ":") || isDigits(next)) {
				out = append(out, a+"="+next)
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// view serves a recorded run in the browser view until interrupted.
func view(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("view", stderr)
	var addr uiFlag
	fs.Var(&addr, "ui", "serve the view at `ADDR` on the host's stack (default "+ui.DefaultAddr+")")
	rest, err := parseFlags(fs, uiArgs(args), stdout, true)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("view: one FILE: a .jsonl written by --trace, or a capture written by --pcap (pcapng or pcap)")
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	srv, err := ui.New(ui.Options{})
	if err != nil {
		f.Close()
		return err
	}
	n, err := srv.Load(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("view: %s: %w", rest[0], err)
	}
	url, err := srv.Start(addr.addr)
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	defer srv.Close()
	fmt.Fprintln(stderr, ui.Announce(url))
	_ = n
	<-ctx.Done()
	return nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
