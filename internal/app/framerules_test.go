package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/glassnet/glassnet/ws"
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

// TestServeFrameRulesSummary: serve's closing lines count what its frame
// rules decided, as they do for the link's.
func TestServeFrameRulesSummary(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	m := startMemServe(t, "gnfrs0", ServeConfig{Rules: Rules{Egress: []string{"ws text : split 2"}}, Log: &syncWriter{w: &log}})
	c, _, err := m.dialWS(t, "/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(testCtx(t), ws.MessageText, []byte("two halves")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(testCtx(t)); err != nil || string(p) != "two halves" {
		t.Fatalf("echo: %q, %v", p, err)
	}
	if err := m.stop(); err != nil { // serve has said all it says
		t.Fatal(err)
	}
	if want := "glassnet: hooks: ws out text modify split 1"; !strings.Contains(log.String(), want) {
		t.Errorf("serve said\n%s\nwithout %q", log.String(), want)
	}
}

// Rules.Check finds a bad frame rule as well as a bad packet rule, before
// anything is started, and names the flag it came with.
func TestRulesCheck(t *testing.T) {
	for _, tc := range []struct {
		r    Rules
		want string // "" for no error
	}{
		{Rules{Egress: []string{"tcp : drop", "ws ping : drop"}, Ingress: []string{"loss 1%", "ws text : split 2"}}, ""},
		{Rules{Egress: []string{"ws opcode bogus : drop"}}, "--egress: "},
		{Rules{Ingress: []string{"ws opcode bogus : drop"}}, "--ingress: "},
		{Rules{Egress: []string{"frobnicate"}}, "--egress: "},
		{Rules{Ingress: []string{"frobnicate"}}, "--ingress: "},
	} {
		err := tc.r.Check()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%+v.Check() = %v, want an error starting %q (none if empty)", tc.r, err, tc.want)
		}
	}
}
