package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/internal/netnstest"
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
