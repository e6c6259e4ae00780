package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--addr", "10.200.0.2/24"}, "--tun NAME is required"},
		{[]string{"serve", "--tun", "glass0", "--addr", "10.200.0.2"}, "want an address with a prefix length"},
		{[]string{"serve", "--tun", "glass0", "--addr", "10.200.0.2/24", "--host-addr", "10.200.0.1/24", "--no-host-config"}, "exclude each other"},
		{[]string{"serve", "--tun", "glass0", "--addr", "10.200.0.2/24", "extra"}, `unexpected argument "extra"`},
		{[]string{"demo", "--bogus"}, "flag provided but not defined"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(tc.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("run(%q) = %v (stderr %q), want an error containing %q", tc.args, err, stderr.String(), tc.want)
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
