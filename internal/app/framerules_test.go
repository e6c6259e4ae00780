package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
)

// TestDemoFrameRules runs the demo with frame rules on the client's side:
// every large text message it writes is split into 4 fragments, which the
// server reassembles (the echoes still check), and pongs it reads are
// duplicated, which the ws layer ignores as unsolicited.
func TestDemoFrameRules(t *testing.T) {
	var out, js bytes.Buffer
	err := Demo(context.Background(), DemoOptions{
		Out:   &out,
		Trace: &js,
		Rules: Rules{
			Egress:  []string{"ws text and len > 1000 : split 4"},
			Ingress: []string{"ws pong : duplicate"},
		},
	})
	if err != nil {
		t.Fatalf("Demo: %v\n%s", err, out.String())
	}
	var serverFrames, splitVerdicts, dupVerdicts int
	dec := json.NewDecoder(&js)
	for {
		var e map[string]any
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch {
		case e["layer"] == "ws" && e["event"] == "frame" && e["node"] == "server" && e["dir"] == "in" && e["len"] == 750.0:
			serverFrames++
		case e["layer"] == "ws" && e["event"] == "verdict" && e["rule"] == "ws text and len > 1000 : split 4":
			splitVerdicts++
		case e["layer"] == "ws" && e["event"] == "verdict" && e["rule"] == "ws pong : duplicate":
			dupVerdicts++
		}
	}
	if serverFrames != 4 || splitVerdicts != 1 || dupVerdicts != 1 {
		t.Errorf("server read %d frames of 750 bytes, %d split verdicts, %d duplicate verdicts; want 4, 1, 1", serverFrames, splitVerdicts, dupVerdicts)
	}
}
