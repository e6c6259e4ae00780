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
		`clean link: median ping round trip`,
		`with the rules: median ping round trip \d+ms`,
		`200 messages came back intact and in order`,
		`the client's link lost [1-9]\d* packets and delayed [1-9]\d*; TCP retransmitted [1-9]\d* segments`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}
