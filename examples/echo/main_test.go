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
		`client: connected 10\.0\.0\.1:\d+ -> 10\.0\.0\.2:80`,
		`server: echoing text "hello, glassnet"`,
		`client: got back "hello, glassnet"`,
		`client: got back "every byte went through two userspace TCP/IP stacks"`,
		`server: connection from 10\.0\.0\.1:\d+ ended: .*status 1000 .*"bye"`,
		`client: close handshake done`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}
