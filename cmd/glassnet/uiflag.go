package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
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
	if v == "" {
		// --ui "$ADDR" with ADDR unset, as an empty --trace is refused.
		return fmt.Errorf("ADDR is empty: give host:port, e.g. %s, or --ui alone for that one", ui.DefaultAddr)
	}
	f.set = true
	if v == "true" {
		v = ""
	}
	if v == "false" {
		f.set = false
		v = ""
	}
	if v != "" && !strings.Contains(v, ":") {
		// A port alone or a host alone: the example puts back the half
		// that is missing.
		host, port, _ := net.SplitHostPort(ui.DefaultAddr)
		example := net.JoinHostPort(host, v)
		if !isDigits(v) {
			example = net.JoinHostPort(v, port)
		}
		return fmt.Errorf("%q: want ADDR as host:port, e.g. %s (port 0: any free port)", v, example)
	}
	if v != "" {
		if _, port, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("%q: want ADDR as host:port, e.g. %s: %v", v, ui.DefaultAddr, err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("%q: port %q is not a number from 0 to 65535 (0: any free port)", v, port)
		}
	}
	f.addr = v
	return nil
}

// IsBoolFlag lets --ui stand alone.
func (f *uiFlag) IsBoolFlag() bool { return true }

// uiArgs turns "--ui ADDR" into "--ui=ADDR" when the word after --ui is an
// address (it has a colon and is not a flag), so that the address may
// follow with a space as the usage says. A port alone, an IP address alone
// or localhost, and an empty word, are taken as a mistaken ADDR, which Set
// refuses saying what is missing, instead of as the argument that follows.
// A file that exists with a colon in its name and no port after it
// (view --ui run:1.jsonl) is the argument that follows.
func uiArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if (a == "--ui" || a == "-ui") && i+1 < len(args) {
			// an address, or a port alone (refused by Set, saying how)
			if next := args[i+1]; next == "" || !strings.HasPrefix(next, "-") && (strings.Contains(next, ":") && !isFileNotAddr(next) || isDigits(next) || isHostAlone(next)) {
				out = append(out, a+"="+next)
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// isFileNotAddr says whether s names a file that exists and is not
// host:port with a port number.
func isFileNotAddr(s string) bool {
	if _, port, err := net.SplitHostPort(s); err == nil && isDigits(port) {
		return false
	}
	_, err := os.Stat(s)
	return err == nil
}

// isHostAlone says whether s is an IPv4 address or localhost: a host
// without the port an ADDR needs, and not a file or command argument.
func isHostAlone(s string) bool {
	if strings.EqualFold(s, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
