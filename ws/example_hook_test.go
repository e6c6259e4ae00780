package ws_test

import (
	"bytes"
	"context"
	"fmt"
	"net"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// A frame rule written in Go: the server upper-cases every text frame it
// reads before its application sees it, and a FrameCounter counts what the
// rule did. The same rule as text is ParseFrameRule's business; Edit is
// what only Go can say.
func ExampleFrameRule() {
	upper := ws.CountFrames(&ws.FrameRule{
		Name:    "shout",
		Match:   ws.FrameMatch{Dir: trace.In, Opcodes: []ws.Opcode{ws.OpText}},
		Edit:    func(f *ws.HookFrame) { f.Payload = bytes.ToUpper(f.Payload) },
		Verdict: ws.FrameVerdict{Verdict: hook.Verdict{Action: hook.Modify, Reason: "shout"}},
	})

	ctx := context.Background()
	serverSide, clientSide := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ws.Upgrade(ctx, serverSide, &ws.AcceptOptions{ConnOptions: ws.ConnOptions{FrameHook: upper}})
		if err != nil {
			serverSide.Close()
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.ReadMessage(ctx)
			if err != nil {
				return // the client's close
			}
			c.WriteMessage(ctx, typ, p)
		}
	}()

	c, _, err := ws.Client(ctx, clientSide, "ws://glassnet.example/", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range []string{"quiet", "please"} {
		c.WriteMessage(ctx, ws.MessageText, []byte(m))
		_, p, _ := c.ReadMessage(ctx)
		fmt.Println(string(p))
	}
	c.WriteMessage(ctx, ws.MessageBinary, []byte("bytes"))
	_, p, _ := c.ReadMessage(ctx)
	fmt.Println(string(p))
	c.Close(ws.StatusNormalClosure, "")
	<-done
	fmt.Println(upper.Counts())
	// Output:
	// QUIET
	// PLEASE
	// bytes
	// map[in text modify shout:2]
}
