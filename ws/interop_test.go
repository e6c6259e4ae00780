package ws

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// nodeClient exercises the server from Node's built-in WebSocket client
// (undici): text, binary, a large message, a ping from the server, and a
// close handshake started by the client.
const nodeClient = `
const ws = new WebSocket(process.argv[1], ["chat"]);
ws.binaryType = "arraybuffer";
const got = [];
const big = "x".repeat(200000) + "κόσμε";
ws.onopen = () => {
  ws.send("hello κόσμε");
  ws.send(new Uint8Array([0, 1, 2, 255]));
  ws.send(big);
};
ws.onmessage = (e) => {
  if (typeof e.data === "string") {
    got.push(e.data === big ? "big ok" : "text " + e.data);
  } else {
    got.push("binary " + Array.from(new Uint8Array(e.data)).join(","));
  }
  if (got.length === 3) ws.close(4001, "done");
};
ws.onclose = (e) => {
  console.log(got.join("\n"));
  console.log("protocol " + ws.protocol);
  console.log("close " + e.code + " " + e.reason + " clean=" + e.wasClean);
};
ws.onerror = (e) => { console.log("error " + e.message); };
`

func TestInteropNode(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("interop test in -short mode")
	}
	if err := exec.Command("node", "--experimental-websocket", "-e", "if (typeof WebSocket !== 'function') process.exit(1)").Run(); err != nil {
		netnstest.SkipOrFail(t, "node with a built-in WebSocket client is not available")
	}
	pinged := make(chan error, 1)
	url, errs := handlerServer(t, &AcceptOptions{Subprotocols: []string{"chat"}}, func(c *Conn) error {
		ctx := context.Background()
		// The ping goes first: the client closes once it has its three
		// echoes, so a ping racing the echoes could meet a closed
		// connection. Ping reads for itself and keeps the messages that
		// arrive before the pong for ReadMessage.
		err := c.Ping(ctx, []byte("are you there"))
		pinged <- err
		if err != nil {
			return err
		}
		for {
			typ, p, err := c.ReadMessage(ctx)
			if err != nil {
				return err
			}
			if err := c.WriteMessage(ctx, typ, p); err != nil {
				return err
			}
		}
	})
	out, err := exec.CommandContext(testContext(t), "node", "--experimental-websocket", "-e", nodeClient, url).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := "text hello κόσμε\nbinary 0,1,2,255\nbig ok\nprotocol chat\nclose 4001  clean=true\n" // the server echoes the code only
	if got := string(out); !strings.HasSuffix(got, want) {
		t.Fatalf("node printed\n%s\nwant\n%s", got, want)
	}
	if err := recvErr(t, errs); CloseStatus(err) != 4001 {
		t.Fatalf("server saw %v, want close 4001", err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
