package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`client received 262144 bytes intact`,
		`server egress rewrote: TTL on [1-9]\d* packets \(rule "ttl 42"\), window on [1-9]\d* segments`,
		`client ingress saw [1-9]\d* segments: 0 with another TTL, 0 with a wider window, 0 with a bad checksum`,
		`client's TCP checksum errors: 0`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}
