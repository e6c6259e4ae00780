package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`client: sending "hello"`,
		`trace: server ws verdict: text frame: modify: payload "hello" → "HELLO" (rule ws in text : replace "hello" "HELLO")`,
		`server: received "HELLO", echoing it`,
		`client: got back "HELLO"`,
		`server: received "say HELLO to HELLO", echoing it`,
		`server: received "goodbye", echoing it`,
		`client: got back "goodbye"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "verdict:"); n != 2 {
		t.Errorf("%d verdict events, want 2 (goodbye does not match):\n%s", n, out.String())
	}
}
