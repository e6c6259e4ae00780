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
		`client: sending a 1048576-byte message`,
		`client: .*connection reset by peer \(ECONNRESET: true\)`,
		`server: .*connection reset by peer \(ECONNRESET: true\)`,
		`client link: 1 RST injected`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}
