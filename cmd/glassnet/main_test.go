package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/internal/stacktest"
)

// TestMain lets the test binary stand in for glassnet when lab
// re-executes itself.
// With GLASSNET_TEST_MAIN set it is glassnet itself, with the arguments
// that follow the test flags (for the terminal test).
func TestMain(m *testing.M) {
	if app.InLabChild() {
		os.Exit(app.RunLabChild())
	}
	if args := os.Getenv("GLASSNET_TEST_MAIN"); args != "" {
		os.Args = append([]string{"glassnet"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	if err := stacktest.PrivateControlDir(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--addr", "10.200.0.2/24"}, "--tun NAME or --nic IFACE is required"},
		{[]string{"serve", "--tun", "glass0", "--addr", "10.200.0.2"}, "want an address with a prefix length"},
		{[]string{"serve", "--tun", "glass0", "--addr", "10.200.0.2/24", "--host-addr", "10.200.0.1/24", "--no-host-config"}, "exclude each other"},
		{[]string{"serve", "--tun", "glass0", "--addr", "10.200.0.2/24", "extra"}, `unexpected argument "extra"`},
		{[]string{"demo", "--bogus"}, "flag provided but not defined"},
		{[]string{"serve", "--tun", "glass0", "--nic", "eth1", "--addr", "10.200.0.2/24"}, "exclude each other"},
		{[]string{"serve", "--tun", "glass0"}, "--addr is required"},
		{[]string{"serve", "--tun", "glass0", "--addr", "10.200.0.2/24,fd00::2"}, "want an address with a prefix length"},
		{[]string{"serve", "--nic", "eth1", "--addr", "10.200.0.2/24", "--mac", "zz"}, "--mac"},
		{[]string{"lab", "--bogus"}, "flag provided but not defined"},
		{[]string{"serve", "--nic", "eth1", "--addr", "10.200.0.2/24", "--no-offload"}, "--no-offload applies to a TUN"},
		{[]string{"lab", "--nic", "--no-offload", "--", "true"}, "--no-offload applies to a TUN"},
		{[]string{"lab", "--addr", "10.200.0.2/32", "--", "true"}, "no room for the kernel side"},
		{[]string{"demo", "--egress", "tcp and prot 80 : drop"}, `demo: --egress: rule "tcp and prot 80 : drop": at column 9: unknown word "prot"`},
		{[]string{"serve", "--tun", "glass0", "--addr", "10.200.0.2/24", "--ingress", "loss 120%"}, `serve: --ingress: rule "loss 120%": at column 6: "120%" where a percentage (e.g. 20%) belongs`},
		{[]string{"serve", "--tun", "glass0", "--addr", "10.200.0.2/24", "--egress", "loss 1%", "--egress", "port 80 : delay soon"}, `rule "port 80 : delay soon": at column 17: "soon" where a duration`},
		{[]string{"lab", "--egress", "ws opcode pingg : drop", "--", "true"}, "at column 11: an opcode is"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(tc.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("run(%q) = %v (stderr %q), want an error containing %q", tc.args, err, stderr.String(), tc.want)
		}
	}
}

// TestRunDemoFrameRules: the demo's closing line counts what the frame
// rules decided, as it does for the link's.
func TestRunDemoFrameRules(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run([]string{"demo", "--egress", "ws text and len > 1000 : split 4"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	if want := "the client's hooks decided: ws out text modify split 1"; !strings.Contains(stdout.String(), want) {
		t.Errorf("demo output lacks %q:\n%s", want, stdout.String())
	}
}

// TestRunDemoRules runs the demo with rules on the client's link: it still
// completes, and says what the hooks decided.
func TestRunDemoRules(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run([]string{"demo", "--egress", "loss 10% seed 5", "--egress", "delay 5ms jitter 2ms", "--ingress", "duplicate 10% seed 1"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"link-egress: delay", "the client's hooks decided:", "link-egress delay delay", "link-ingress duplicate duplicate"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

func TestRunDemo(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run([]string{"demo"}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "101 Switching Protocols") {
		t.Fatalf("demo printed:\n%s", stdout.String())
	}
}

// TestRunLab runs `glassnet lab -- COMMAND` through the command line and
// checks that the command's exit status comes back.
func TestRunLab(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := run([]string{"lab", "--nic", "--", "/bin/sh", "-c", "echo inside $GLASSNET_LAB; exit 3"}, &stdout, &stderr)
		var exit exitError
		if !errors.As(err, &exit) || exit != 3 {
			t.Fatalf("lab = %v (stderr %q), want exit status 3", err, stderr.String())
		}
		if got := stdout.String(); got != "inside glass0\n" {
			t.Errorf("command printed %q", got)
		}
	})
}

// TestRunLabNotRun: a command the lab cannot run exits as a shell's does,
// 127 when it is not found and 126 when it cannot be executed, so that a
// script tells it from the command's own failure.
func TestRunLabNotRun(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		for _, tc := range []struct {
			cmd  string
			code exitError
		}{
			{"/nonexistent/glassnet-cmd", 127},
			{"glassnet-no-such-command", 127},
			{"/", 126},
		} {
			var stdout, stderr bytes.Buffer
			err := run([]string{"lab", "--", tc.cmd}, &stdout, &stderr)
			var exit exitError
			if !errors.As(err, &exit) || exit != tc.code {
				t.Errorf("lab -- %s = %v (stderr %q), want exit status %d", tc.cmd, err, stderr.String(), tc.code)
			}
		}
	})
}

// noNIC names an interface that does not exist: a serve that got past its
// flag checks would fail to open it, and nothing is created on the host.
const noNIC = "glassnet-none0"

// flagErrors are flags whose value would silently mean something else;
// each must stop the command with a message naming the flag.
var flagErrors = []struct {
	args []string
	want string
}{
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-message", "-1"}, "serve: --max-message -1: want a positive number of bytes"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-message", "0"}, "serve: --max-message 0: want a positive number of bytes"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-message-memory", "0"}, "serve: --max-message-memory 0: want a positive number of bytes"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-message-memory", "-1"}, "serve: --max-message-memory -1: want a positive number of bytes"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-message-memory", "1048576"}, "serve: --max-message-memory 1048576 is less than --max-message 16777216: a message that --max-message allows could never be read whole"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-message", "536870912", "--max-message-memory", "268435456"}, "serve: --max-message-memory 268435456 is less than --max-message 536870912"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--port", "0"}, "serve: --port 0: want a port from 1 to 65535"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--port", "-80"}, "serve: --port -80: want a port from 1 to 65535"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--port", "65536"}, "serve: --port 65536: want a port from 1 to 65535"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--port", "7"}, "serve: --port 7: TCP port 7 is the stack's echo service"},
	{[]string{"serve", "--nic", noNIC, "--addr", "0.0.0.0/0"}, "serve: --addr 0.0.0.0/0: 0.0.0.0 is the unspecified address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "::/0"}, "serve: --addr ::/0: :: is the unspecified address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24,0.0.0.0/24"}, "serve: --addr 0.0.0.0/24: 0.0.0.0 is the unspecified address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "255.255.255.255/32"}, "serve: --addr 255.255.255.255/32: 255.255.255.255 is the limited broadcast address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.255/24"}, "10.200.0.255 is the broadcast address of 10.200.0.0/24"},
	{[]string{"serve", "--nic", noNIC, "--addr", "224.0.0.5/24"}, "224.0.0.5 is a multicast address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "ff02::1/64"}, "ff02::1 is a multicast address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "127.0.0.2/8"}, "127.0.0.2 is a loopback address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24,10.200.0.2/16"}, "10.200.0.2 is given twice"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--allow-origin", "[a"}, `invalid value "[a" for flag --allow-origin: ws: origin pattern "[a": syntax error in pattern`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--allow-origin", ""}, "empty origin pattern"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--idle-timeout", "-1s"}, "serve: --idle-timeout -1s: want a duration, or 0 to never close an idle connection"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--idle-timeout", "5ms"}, "serve: --idle-timeout 5ms: want 1s or more (a WebSocket is pinged every third of it), or 0 to never close an idle connection"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--idle-timeout", "1ns"}, "serve: --idle-timeout 1ns: want 1s or more"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-conns", "-1"}, "serve: --max-conns -1: want a number of connections, or 0 for no limit"},
	{[]string{"lab", "--max-message", "-1", "--", "true"}, "lab: --max-message -1: want a positive number of bytes"},
	{[]string{"lab", "--port", "0", "--", "true"}, "lab: --port 0: want a port from 1 to 65535"},
	{[]string{"lab", "--addr", "0.0.0.0/0", "--", "true"}, "lab: --addr 0.0.0.0/0: 0.0.0.0 is the unspecified address"},
	{[]string{"lab", "--addr", "255.255.255.255/32", "--", "true"}, "lab: --addr 255.255.255.255/32: 255.255.255.255 is the limited broadcast address"},
	{[]string{"lab", "--allow-origin", "a[", "--", "true"}, "syntax error in pattern"},
	{[]string{"lab", "--pcap", "-", "--", "true"}, "lab: --pcap -: stdout is the command's"},
	{[]string{"lab", "--trace", "-", "--", "true"}, "lab: --trace -: stdout is the command's"},
	{[]string{"lab", "--trace", "same.out", "--pcap", "same.out", "--", "true"}, "lab: --trace and --pcap both write to same.out (the same file)"},
	{[]string{"lab", "--trace", "same.out", "--pcap", "./same.out", "--", "true"}, "lab: --trace and --pcap both write to ./same.out (the same file)"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.0/24"}, "10.200.0.0 is the network address of 10.200.0.0/24"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/0"}, "a prefix shorter than /8 would route that much of the address space"},
	{[]string{"serve", "--nic", noNIC, "--addr", "fd00::2/8"}, "a prefix shorter than /16"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/32"}, "serve: --addr 10.200.0.2/32 leaves no room for the kernel side's address"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--host-addr", "0.0.0.0/0"}, "serve: --host-addr 0.0.0.0/0: 0.0.0.0 is the unspecified address"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--host-addr", "127.0.0.5/8"}, "127.0.0.5 is a loopback address"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--host-addr", "224.0.0.5/24"}, "224.0.0.5 is a multicast address"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--host-addr", "10.200.1.1/24"}, "serve: --host-addr 10.200.1.1/24: no --addr lies in 10.200.1.0/24"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--host-addr", "10.200.0.1/32"}, "no --addr lies in 10.200.0.1/32"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--host-addr", "10.200.0.1/24,10.200.0.1/24"}, "serve: --host-addr 10.200.0.1/24: 10.200.0.1 is given twice"},
	// --host-addr replaces every default: an --addr it leaves out is one the host cannot reach.
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24,fd00:200::2/64", "--host-addr", "fd00:200::1/64"}, "serve: --addr 10.200.0.2/24: no --host-addr lies on its network, so the kernel would have no route to it; give one there too (e.g. --host-addr 10.200.0.1/24), or leave --host-addr out"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24,10.201.0.2/24", "--host-addr", "10.200.0.1/24"}, "serve: --addr 10.201.0.2/24: no --host-addr lies on its network"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--host-addr", "10.200.0.2/24"}, "serve: --host-addr 10.200.0.2/24: 10.200.0.2 is the stack's own (--addr 10.200.0.2/24)"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24,10.200.0.1/24"}, "serve: --addr 10.200.0.1/24: the kernel side takes the first host address of each prefix, 10.200.0.1, which is the stack's own; give the stack another address, or the kernel side one with --host-addr"},
	{[]string{"lab", "--addr", "10.200.0.2/24,10.200.0.1/24", "--", "true"}, "lab: --addr 10.200.0.1/24: the kernel side takes the first host address of each prefix, 10.200.0.1, which is the stack's own; give the stack another address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--pcap", "-"}, "serve: --pcap -: stdout carries"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--trace", "-", "--calls", "-"}, "serve: --trace and --calls both write to - (stdout)"},
	{[]string{"demo", "--mtu", "-1"}, "demo: --mtu -1: want an MTU from 68 to 65535"},
	{[]string{"demo", "--mtu", "0"}, "demo: --mtu 0: want an MTU from 68 to 65535"},
	{[]string{"demo", "--mtu", "100000"}, "demo: --mtu 100000"},
	{[]string{"demo", "--pcap", "-"}, "demo: --pcap -: stdout carries"},
	{[]string{"demo", "--pcap", "/dev/stdout"}, "demo: --pcap /dev/stdout: stdout carries"},
	{[]string{"demo", "--trace", "/dev/stdout", "--calls", "-"}, "demo: --trace and --calls both write to - (stdout)"},
	{[]string{"demo", "--trace", "-", "--calls", "-"}, "demo: --trace and --calls both write to - (stdout)"},
	{[]string{"demo", "--trace", "same.out", "--pcap", "./same.out"}, "demo: --trace and --pcap both write to ./same.out (the same file)"},
	{[]string{"demo", "--ui", "18112"}, `"18112": want ADDR as host:port, e.g. 127.0.0.1:18112`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--mac", "00:00:00:00:00:00"}, "serve: --mac 00:00:00:00:00:00: want a unicast Ethernet address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--mac", "01:00:5e:00:00:01"}, "want a unicast Ethernet address"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--allow-origin", "http://"}, `origin pattern "http://": no host after ://`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--allow-origin", "ftp://x"}, "a page's origin is http:// or https://, not ftp://"},
	// A URL copied with its path, or a scheme's own port, matched no
	// browser's Origin: every page it named got 403.
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--allow-origin", "https://app.example.com/"}, `"https://app.example.com/": a browser's Origin is scheme://host[:port], without a path or user, and without the scheme's own port; write "https://app.example.com"`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--allow-origin", "https://app.example.com:443"}, `write "https://app.example.com"`},
	{[]string{"lab", "--allow-origin", "localhost:*/chat", "--", "true"}, `write "localhost:*"`},
	// A flag is not the value of the one before it.
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--allow-origin", "--ui"}, `invalid value "--ui" for flag --allow-origin: --ui is a flag, not a PATTERN`},
	{[]string{"serve", "--addr", "10.200.0.2/24", "--nic", "--promisc"}, `invalid value "--promisc" for flag --nic: --promisc is a flag, not an IFACE`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--egress", "rate 1mbit limit 0"}, `limit "0": want a size above 0`},
	// A slip of h for ms would hold every packet, or frame, for days.
	{[]string{"demo", "--egress", "delay 99999h"}, `demo: --egress: rule "delay 99999h": at column 7: delay 99999h is longer than the most a rule may delay, 1m`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--ingress", "tcp : delay 1s jitter 2m"}, "jitter 2m is longer than the most a rule may delay, 1m"},
	{[]string{"lab", "--egress", "rate 1bit", "--", "true"}, "want 200bit or more"},
	{[]string{"demo", "--ingress", "ws text : delay 99999h"}, `demo: --ingress: rule "ws text : delay 99999h": at column 17: delay 99999h is longer than the most a rule may delay, 1m`},
	{[]string{"serve", "--tun", "a/b", "--addr", "10.200.0.2/24"}, `serve: --tun "a/b": an interface name is 1 to 15 bytes`},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24,fd00:200::2/64", "--mtu", "1000"}, "serve: --mtu 1000: IPv6 (--addr fd00:200::2/64) needs a link MTU of at least 1280"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--mtu", "40"}, "serve: --mtu 40: want an MTU from 68 to 65535"},
	{[]string{"demo", "--port", "abc"}, "demo: flag provided but not defined: --port (glassnet demo -h lists its flags)"},
	{[]string{"serve", "--nic", "glassnet-none1", "--addr", "10.200.0.2/24", "--mtu", "1400"}, "serve: --mtu applies to a TUN; glassnet-none1 keeps its own MTU"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--host-addr", "10.200.0.1/24"}, "serve: --host-addr and --no-host-config apply to a TUN"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--no-host-config"}, "serve: --host-addr and --no-host-config apply to a TUN"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--promisc"}, "serve: --mac and --promisc apply to --nic"},
	{[]string{"serve", "--tun", "glassnet-none0", "--addr", "10.200.0.2/24", "--mac", "02:00:00:00:00:02"}, "serve: --mac and --promisc apply to --nic"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--kernel", "8081"}, "serve: --kernel 8081: want ADDR as host:port"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--kernel", "127.0.0.1:99999"}, `serve: --kernel 127.0.0.1:99999: want ADDR as host:port, e.g. 127.0.0.1:8081 (port 0: any free one): port "99999" is not a number`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--kernel", "localhost:http"}, `port "http" is not a number`},
	// Its own two listeners on one port: not "another program listens there".
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--kernel", "127.0.0.1:8999", "--ui"}, "serve: --kernel 127.0.0.1:8999 and --ui 127.0.0.1:8999 would listen on one address of the host's stack; give one of them another port"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--kernel", ":8081", "--ui", "127.0.0.1:8081"}, "serve: --kernel :8081 and --ui 127.0.0.1:8081 would listen on one address"},
	{[]string{"serve", "--nic", "glassnet-none2", "--nic", "glassnet-none1", "--addr", "10.200.0.2/24"}, `serve: invalid value "glassnet-none1" for flag --nic: given twice, "glassnet-none2" and then "glassnet-none1": it takes one value`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--port", "8080", "--port", "8081"}, `given twice, "8080" and then "8081"`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--idle-timeout", "5"}, `serve: invalid value "5" for flag --idle-timeout: want a duration with its unit, such as 30s, 5m`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--idle-timeout", "9999999999h"}, `serve: invalid value "9999999999h" for flag --idle-timeout: want a duration with its unit, such as 30s, 5m or 1h30m, at most 2562047h`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-message", "16MiB"}, `serve: invalid value "16MiB" for flag --max-message: want a whole number of bytes, such as 16777216 (no unit)`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-message-memory", "256MiB"}, `serve: invalid value "256MiB" for flag --max-message-memory: want a whole number of bytes`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--mtu", "0"}, "serve: --mtu 0: want an MTU from 68 to 65535 (or leave it out for 1500)"},
	{[]string{"demo", "--mtu", "1500", "--mtu", "576"}, `demo: invalid value "576" for flag --mtu: given twice`},
	{[]string{"demo", "--trace", ""}, "demo: --trace is empty: name a file (or leave --trace out for none)"},
	{[]string{"demo", "--calls="}, "demo: --calls is empty"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--pcap", ""}, "serve: --pcap is empty"},
	{[]string{"lab", "--trace=", "--", "true"}, "lab: --trace is empty"},
	// An empty value is not the flag left out: --kernel "$ADDR" with ADDR
	// unset served on the userspace stack alone without a word, an empty
	// --host-addr or lab's --addr took the default.
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--kernel", ""}, "serve: --kernel is empty: give host:port, e.g. 127.0.0.1:8081"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--mac="}, "serve: --mac is empty: give the stack's MAC"},
	{[]string{"serve", "--tun=", "--nic", noNIC, "--addr", "10.200.0.2/24"}, "serve: --tun is empty: name the TUN interface"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--host-addr", ""}, `serve: invalid value "" for flag --host-addr: no CIDR in it`},
	{[]string{"serve", "--nic", noNIC, "--addr", ","}, `serve: invalid value "," for flag --addr: no CIDR in it`},
	{[]string{"lab", "--addr=", "--", "true"}, `lab: invalid value "" for flag --addr: no CIDR in it`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--port", "8080.0"}, `serve: invalid value "8080.0" for flag --port: want a whole number, such as 8080 (glassnet serve -h`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--mtu", "1.5k"}, `serve: invalid value "1.5k" for flag --mtu: want a whole number (glassnet serve -h`},
	// flag reads a leading 0 as octal and 0x as hex: --port 010 served 8.
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--port", "010"}, `serve: invalid value "010" for flag --port: want a whole number in decimal: 010 reads as 8 (a leading 0 is octal, 0x hex)`},
	{[]string{"demo", "--mtu", "01500"}, "01500 reads as 832"},
	{[]string{"demo", "--mtu", "0x5dc"}, "0x5dc reads as 1500"},
	{[]string{"lab", "--max-message", "0o777", "--", "true"}, "0o777 reads as 511"},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "--max-conns", "0b11"}, "0b11 reads as 3"},
	{[]string{"demo", "--no-delayed-ack=yes"}, `invalid boolean value "yes" for --no-delayed-ack: want true or false`},
	{[]string{"ss", "--brief=maybe"}, `invalid boolean value "maybe" for --brief: want true or false`},
	{[]string{"ss", ""}, `ss: NAME "": want the TUN or NIC name a serve runs on, such as glass0 (or leave it out when only one runs)`},
	{[]string{"ss", "../../etc/passwd"}, `ss: NAME "../../etc/passwd": want the TUN or NIC name`},
	{[]string{"view", "--ui", "18112", "trace.jsonl"}, `view: invalid value "18112" for flag --ui: "18112": want ADDR as host:port`},
	{[]string{"demo", "--ui", "127.0.0.1:99999"}, `demo: invalid value "127.0.0.1:99999" for flag --ui: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
	{[]string{"view", "--ui", "a:b:c", "trace.jsonl"}, `"a:b:c": want ADDR as host:port`},
	{[]string{"demo", "--ui", ""}, `invalid value "" for flag --ui: ADDR is empty: give host:port, e.g. 127.0.0.1:8999, or --ui alone`},
	{[]string{"view", "--ui=", "trace.jsonl"}, `invalid value "" for flag --ui: ADDR is empty`},
	{[]string{"demo", "--ui=localhost"}, `"localhost": want ADDR as host:port, e.g. localhost:8999`},
	{[]string{"demo", "--ui", "localhost"}, `"localhost": want ADDR as host:port, e.g. localhost:8999`},
	{[]string{"demo", "--ui", "127.0.0.1"}, `"127.0.0.1": want ADDR as host:port, e.g. 127.0.0.1:8999`},
	{[]string{"view", "--ui", "127.0.0.1", "trace.jsonl"}, `view: invalid value "127.0.0.1" for flag --ui: "127.0.0.1": want ADDR as host:port, e.g. 127.0.0.1:8999`},
	// A value of several words with its quotes left out: the error
	// named only the word after the first.
	{[]string{"demo", "--egress", "loss", "20%"}, `demo: unexpected argument "20%": a RULE is one argument; quote it whole: --egress 'loss 20%'`},
	{[]string{"demo", "--ingress", "tcp", "and", "syn", ":", "drop", "--mtu", "1400"}, `demo: unexpected argument "and": a RULE is one argument; quote it whole: --ingress 'tcp and syn : drop'`},
	{[]string{"demo", "--egress=drop", "5"}, `quote it whole: --egress 'drop 5'`},
	{[]string{"serve", "--nic", noNIC, "--addr", "10.200.0.2/24", "fd00:200::2/64"}, `serve: unexpected argument "fd00:200::2/64": give more CIDRs comma-separated (--addr 10.200.0.2/24,fd00:200::2/64) or with --addr again`},
	{[]string{"demo", "--step", "extra"}, `demo: unexpected argument "extra"`},
	// tcpdump -r - reads stdin; view said "open -: no such file".
	{[]string{"view", "-"}, "view: -: view reads a FILE, not stdin"},
}

// TestRunUIInUse: --ui at an address another program listens on says so
// and what to do, for demo and view alike.
func TestRunUIInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	file := filepath.Join(t.TempDir(), "demo.jsonl")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"demo", "--trace", file}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	for _, args := range [][]string{{"demo", "--ui", ln.Addr().String()}, {"view", "--ui", ln.Addr().String(), file}} {
		err := run(args, &stdout, &stderr)
		want := args[0] + ": --ui: "
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "address already in use; another program listens there") ||
			!strings.Contains(err.Error(), "give --ui another ADDR, e.g. --ui 127.0.0.1:0 for any free port") {
			t.Errorf("run(%q) = %v, want an error saying %q that the address is in use and what to do", args, err, want)
		}
	}
}

// TestPrefixListMapped: an IPv4-mapped IPv6 prefix is taken as the IPv4
// prefix it stands for, so that the ready line and the kernel side say
// 10.200.0.1/24, not ::ffff:10.200.0.1/120.
func TestPrefixListMapped(t *testing.T) {
	t.Parallel()
	var l prefixList
	if err := l.Set("::ffff:10.200.0.2/120,fd00:200::2/64"); err != nil {
		t.Fatal(err)
	}
	if got := l.String(); got != "10.200.0.2/24,fd00:200::2/64" {
		t.Errorf("--addr ::ffff:10.200.0.2/120,fd00:200::2/64 = %s, want 10.200.0.2/24,fd00:200::2/64", got)
	}
	if err := l.Set("::ffff:10.200.0.2/64"); err == nil || !strings.Contains(err.Error(), "shorter than /96") {
		t.Errorf("--addr ::ffff:10.200.0.2/64 = %v, want an error", err)
	}
}

// TestDecimalFlags: a whole number in decimal is taken however it is
// signed or grouped; one that flag would read otherwise (octal, hex) is
// refused, saying what it would have been.
func TestDecimalFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arg  string
		want int64 // -1: refused
	}{
		{"1500", 1500}, {"+1500", 1500}, {"0", 0}, {"-0", 0}, {"00", 0}, {"-5", -5}, {"1_500", 1500},
		{"010", -1}, {"0x10", -1}, {"0o10", -1}, {"0b10", -1}, {"-010", -1}, {"0_10", -1},
	} {
		fs := newFlagSet("demo", io.Discard)
		n := fs.Int64("n", 7, "N")
		_, err := parseFlags(fs, []string{"--n", tc.arg}, io.Discard, false)
		switch {
		case tc.want == -1 && (err == nil || !strings.Contains(err.Error(), "in decimal")):
			t.Errorf("--n %s = %d, %v; want an error saying it is not decimal", tc.arg, *n, err)
		case tc.want != -1 && (err != nil || *n != tc.want):
			t.Errorf("--n %s = %d, %v; want %d", tc.arg, *n, err, tc.want)
		}
	}
}

// TestParseFlagsOnce: a flag that takes one value may be given twice with
// the same value, a repeatable one adds its values up, and -h still
// prints each flag's kind and default.
func TestParseFlagsOnce(t *testing.T) {
	t.Parallel()
	fs := newFlagSet("serve", io.Discard)
	mtu := fs.Int("mtu", 1500, "MTU")
	var addrs prefixList
	fs.Var(&addrs, "addr", "`CIDR`s")
	rest, err := parseFlags(fs, []string{"--mtu", "576", "--addr", "10.0.0.2/24", "x", "--mtu=576", "--addr", "fd00::2/64"}, io.Discard, true)
	if err != nil || *mtu != 576 || len(addrs) != 2 || !slices.Equal(rest, []string{"x"}) {
		t.Fatalf("parseFlags = %q, %v; mtu %d, addrs %v", rest, err, *mtu, addrs)
	}
	if _, ok := fs.Lookup("mtu").Value.(*onceValue); ok {
		t.Error("parseFlags left its wrapper on --mtu")
	}
	var help bytes.Buffer
	fs = newFlagSet("serve", io.Discard)
	fs.Int("mtu", 1500, "MTU")
	fs.Duration("idle-timeout", 5*time.Minute, "idle `D`")
	if _, err := parseFlags(fs, []string{"-h"}, &help, true); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-mtu int", "(default 1500)", "-idle-timeout D", "(default 5m0s)"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("-h printed %q, without %q", help.String(), want)
		}
	}
	if strings.Contains(help.String(), "panic") {
		t.Errorf("-h printed %q", help.String())
	}
}

// TestFlagNotTakenForValue: a flag that takes a word (a FILE, NAME, RULE,
// PATTERN or CIDR) does not take the flag after it as that word, as
// "--trace --step" once wrote the trace to a file named --step and did
// not step; "-", a word that only starts with a dash, and ./--step are
// still values.
func TestFlagNotTakenForValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		want  string // in the error; "" for none
		trace string // --trace's value when taken
	}{
		{[]string{"--trace", "--step"}, "--step is a flag, not a FILE: give a FILE before it (./--step for a file so named)", ""},
		{[]string{"--trace=--step"}, "--step is a flag, not a FILE", ""},
		{[]string{"-trace", "-step"}, "-step is a flag, not a FILE", ""},
		{[]string{"--trace", "--stpe"}, "--stpe is a flag, not a FILE", ""},
		{[]string{"--trace", "-h"}, "-h is a flag, not a FILE", ""},
		{[]string{"--trace", "--ui=127.0.0.1:0"}, "--ui=127.0.0.1:0 is a flag, not a FILE", ""},
		{[]string{"--trace", "--", "x"}, "-- ends the flags, it is not a FILE", ""},
		{[]string{"--egress", "--step"}, "--step is a flag, not a RULE: give a RULE before it", ""},
		{[]string{"--allow-origin", "--ui"}, "--ui is a flag, not a PATTERN", ""},
		{[]string{"--addr", "--step"}, "--step is a flag, not a CIDR", ""},
		{[]string{"--nic", "--step"}, "--step is a flag, not an IFACE", ""},
		{[]string{"--trace", "-"}, "", "-"},
		{[]string{"--trace", "-x"}, "", "-x"},
		{[]string{"--trace", "--1"}, "", "--1"},
		{[]string{"--trace", "./--step", "--step"}, "", "./--step"},
		{[]string{"--mtu", "-1", "--trace", "t.jsonl"}, "", "t.jsonl"},
	} {
		fs := newFlagSet("serve", io.Discard)
		trace := fs.String("trace", "", "`FILE`")
		fs.String("nic", "", "`IFACE`")
		fs.Bool("step", false, "step")
		fs.Int("mtu", 1500, "MTU")
		var ui uiFlag
		fs.Var(&ui, "ui", "`ADDR`")
		var rules app.Rules
		addRuleFlags(fs, &rules)
		var origins []string
		addLimitFlags(fs, &origins)
		var addrs prefixList
		fs.Var(&addrs, "addr", "`CIDR`s")
		_, err := parseFlags(fs, tc.args, io.Discard, true)
		switch {
		case tc.want == "" && (err != nil || *trace != tc.trace):
			t.Errorf("%q: --trace %q, %v; want %q", tc.args, *trace, err, tc.trace)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v (--trace %q); want an error containing %q", tc.args, err, *trace, tc.want)
		}
	}
}

// TestOutputsSameFileByLink: two outputs on one file are refused also when
// one of them names it through a symbolic or hard link, or through a
// link to its directory; their bytes mixed into a file neither could read.
func TestOutputsSameFileByLink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(real, nil, 0o644))
	must(os.Symlink(real, filepath.Join(dir, "sym")))
	must(os.Link(real, filepath.Join(dir, "hard")))
	must(os.Mkdir(filepath.Join(dir, "d"), 0o755))
	must(os.Symlink(filepath.Join(dir, "d"), filepath.Join(dir, "dl")))
	for _, tc := range []struct {
		trace, pcap string
		same        bool
	}{
		{"real", "sym", true},
		{"hard", "real", true},
		{"d/new", "dl/new", true},
		{"real", "d/real", false},
		{"d/new", "dl/other", false},
	} {
		err := checkOutputs("demo", map[string]string{"--trace": filepath.Join(dir, tc.trace), "--pcap": filepath.Join(dir, tc.pcap)})
		if same := err != nil && strings.Contains(err.Error(), "(the same file)"); same != tc.same {
			t.Errorf("--trace %s --pcap %s: %v; want one file: %v", tc.trace, tc.pcap, err, tc.same)
		}
	}
}

// TestRunMistakeKeepsOutputs: a mistake in serve's command line leaves
// the files its --trace, --pcap and --calls name as they were, so that a
// typo does not empty the recording of an earlier run.
func TestRunMistakeKeepsOutputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"--trace", "--pcap", "--calls"} {
		path := filepath.Join(dir, f[2:])
		if err := os.WriteFile(path, []byte("an earlier run\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, bad := range [][]string{{"--addr", "0.0.0.0/0"}, {"--addr", "10.200.0.2/24", "--mtu", "1400"}, {"--addr", "10.200.0.2/24", "--port", "0"}} {
			args := append([]string{"serve", "--nic", noNIC, f, path}, bad...)
			var stdout, stderr bytes.Buffer
			err := run(args, &stdout, &stderr)
			var cfg *app.ConfigError
			if !errors.As(err, &cfg) {
				t.Errorf("run(%q) = %v, want a mistake in the command line", args, err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "an earlier run\n" {
				t.Errorf("after run(%q) the file holds %q (%v), want it as it was", args, b, err)
			}
		}
	}
}

// TestRunFlagErrors checks each flag error's message, and that none of them
// is a misleading one (255.255.255.255/32 once said "duplicate address").
func TestRunFlagErrors(t *testing.T) {
	t.Parallel()
	apartFromHost(t, testRunFlagErrors)
}

func testRunFlagErrors(t *testing.T) {
	for _, tc := range flagErrors {
		var stdout, stderr bytes.Buffer
		err := run(tc.args, &stdout, &stderr)
		if err == nil {
			t.Errorf("run(%q) succeeded, want an error containing %q", tc.args, tc.want)
			continue
		}
		got := err.Error() + stderr.String()
		if !strings.Contains(got, tc.want) || strings.Contains(got, "duplicate") || strings.Contains(got, noNIC) {
			t.Errorf("run(%q) = %v (stderr %q), want an error containing %q", tc.args, err, stderr.String(), tc.want)
		}
	}
}

// TestFlagErrorsExitTwo runs glassnet itself (this test binary standing in
// for it) with each bad flag: it must exit with status 2 and print the
// message on stderr.
func TestFlagErrorsExitTwo(t *testing.T) {
	t.Parallel()
	apartFromHost(t, testFlagErrorsExitTwo)
}

// apartFromHost runs fn in a network namespace of its own when the tests
// run as root: should a flag check break, serve would open the TUN its row
// names and configure the kernel's side of it, which must never happen in
// the host's own namespace. Without root no device can be made, and fn
// runs here.
func apartFromHost(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	if os.Geteuid() == 0 {
		netnstest.Run(t, fn)
		return
	}
	fn(t)
}

func testFlagErrorsExitTwo(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range flagErrors {
		if slices.ContainsFunc(tc.args, func(a string) bool { return a == "" || strings.Contains(a, " ") }) {
			continue // GLASSNET_TEST_MAIN splits on spaces
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "GLASSNET_TEST_MAIN="+strings.Join(tc.args, " "))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("glassnet %s: %v, want exit status 2", strings.Join(tc.args, " "), err)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("glassnet %s printed %q, want %q", strings.Join(tc.args, " "), stderr.String(), tc.want)
		}
	}
}

// TestUnknownCommand: a mistaken command is one line naming the ones
// there are, not the whole usage with the mistake below it.
func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run([]string{"sever", "--tun", "glass0"}, &stdout, &stderr)
	if err == nil || err.Error() != `unknown command "sever": want one of demo, serve, ss, lab or view (glassnet help lists them)` || stderr.Len() != 0 || stdout.Len() != 0 {
		t.Errorf("run(sever) = %v, stdout %q, stderr %.100q; want one line naming the commands", err, stdout.String(), stderr.String())
	}
}

// TestExitStatus: a mistake in the command line exits 2, a failure while
// running 1, -h 0 with the flags on stdout; flags may follow the
// arguments, and a flag error is said once.
func TestExitStatus(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	noStack := fmt.Sprintf("gn-none%d", os.Getpid()%10000000)
	for _, tc := range []struct {
		args   string
		code   int
		stdout string // in stdout
		stderr string // in stderr
	}{
		{"demo -h", 0, "Usage:\n  glassnet demo  [--trace FILE|-]", ""},
		{"ss -h", 0, "Usage:\n  glassnet ss    [--brief] [NAME]\n      The socket table", ""},
		{"view -h", 0, "glassnet view  [--ui ADDR] [--skip N] FILE", ""},
		{"serve --help", 0, "-max-conns", ""},
		{"view /nonexistent/trace.jsonl", 1, "", "no such file"},
		{"view /nonexistent/trace.jsonl --ui 127.0.0.1:0", 1, "", "no such file"},
		{"view / --ui 127.0.0.1:0", 1, "", "glassnet: view: / is a directory; view reads a .jsonl that --trace wrote, or a pcapng or pcap capture"},
		{"view main.go --ui 127.0.0.1:0", 1, "", "glassnet: view: main.go: trace: line 1: not a JSON object: invalid character '/' looking for beginning of value (view reads a .jsonl that --trace wrote, or a pcapng or pcap capture such as --pcap or tcpdump -w writes)"},
		// a name no stack has, though other glassnet processes may run
		{"ss " + noStack + " --brief", 1, "", noStack},
		{"ss --bogus", 2, "", "ss: flag provided but not defined: --bogus"},
		{"ss -tan", 2, "", "ss: flag provided but not defined: -tan (glassnet ss -h lists its flags)"},
		{"demo -mtu=x", 2, "", `demo: invalid value "x" for flag --mtu: want a whole number`},
		{"nosuch", 2, "", "glassnet: unknown command \"nosuch\": want one of demo, serve, ss, lab or view (glassnet help lists them)\n"},
		{"help serve", 0, "Usage:\n  glassnet serve (--tun NAME | --nic IFACE)", ""},
		{"help lab", 0, "[-- COMMAND [ARG...]]\n      Creates a network namespace", ""},
		{"help nosuch", 2, "", "glassnet: help: \"nosuch\": want one of demo, serve, ss, lab or view"},
		{"demo --trace /nonexistent/dir/x.jsonl", 1, "", "glassnet: demo: --trace /nonexistent/dir/x.jsonl: no such file or directory; the directory /nonexistent/dir must exist"},
		{"demo --calls /", 1, "", "glassnet: demo: --calls /: is a directory; name a file"},
		{"serve --nic glassnet-none0 --addr 10.200.0.2/24 --pcap /nonexistent/x.pcap", 1, "", "glassnet: serve: --pcap /nonexistent/x.pcap: no such file or directory; the directory /nonexistent must exist"},
	} {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "GLASSNET_TEST_MAIN="+tc.args)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		}
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("glassnet %s: exit %d, stdout %.200q, stderr %.300q; want exit %d, %q on stdout, %q on stderr", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
		if n := strings.Count(stderr.String(), "flag provided but not defined"); n > 1 {
			t.Errorf("glassnet %s said the flag error %d times", tc.args, n)
		}
	}
}
