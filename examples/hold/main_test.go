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
		`held:      IP 10\.0\.0\.2\.7000 > 10\.0\.0\.1\.\d+: Flags \[[FP]*\.\], seq \d+:\d+, ack \d+, .*length 22`,
		`payload:   "hello from the server\\n"`,
		`continued: IP 10\.0\.0\.2\.7000 > 10\.0\.0\.1\.\d+: Flags \[[FP]*\.\], seq \d+:\d+, .*length 22`,
		`client read "HELLO FROM THE SERVER\\n"`,
		`server: 1 held, 1 continued; copies resent while held, dropped: [1-9]\d*`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}
