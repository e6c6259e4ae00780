package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-n", "2000", "-per-addr", "500"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`server 10\.0\.0\.1:80 \(one port\); client 4 source addresses 10\.1\.0\.1\.\.10\.1\.0\.4`,
		`established 2000 WebSocket connections in `,
		`pinged every connection in `,
		`server, 2000 idle connections: heap in use .* B/conn\), goroutine stacks .* total \d+ B/conn`,
		`goroutines per connection: \d+\.\d\d`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}
