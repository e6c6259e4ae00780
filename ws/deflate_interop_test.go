package ws

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// pythonWS is Debian's python3 with websockets, which negotiates
// permessage-deflate by default (offering client_max_window_bits).
const pythonWS = "/usr/bin/python3"

func needPythonWebsockets(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("interop test in -short mode")
	}
	if err := exec.Command(pythonWS, "-c", "import websockets").Run(); err != nil {
		netnstest.SkipOrFail(t, "python3 websockets is not available")
	}
}

const pythonDeflateClient = `
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], max_size=None) as ws:
        print("extensions", ws.response_headers.get("Sec-WebSocket-Extensions"))
        msgs = ["hello κόσμε " * 50] * 5 + [bytes(range(256)) * 40, "x" * 300000, ""]
        for m in msgs:
            await ws.send(m)
            got = await ws.recv()
            print("echo ok" if got == m else "echo MISMATCH")
        await ws.close(4002, "done")
asyncio.run(main())
`

func TestInteropPythonDeflateClient(t *testing.T) {
	t.Parallel()
	needPythonWebsockets(t)
	var rsv1 atomic.Int64
	hook := FrameHookFunc(func(f *HookFrame) FrameVerdict {
		if f.Header.Rsv&Rsv1 != 0 {
			rsv1.Add(1)
		}
		return FrameVerdict{}
	})
	url, errs := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{FrameHook: hook, Compression: CompressionOptions{Enabled: true}}})
	out, err := exec.CommandContext(testContext(t), pythonWS, "-c", pythonDeflateClient, url).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := "extensions permessage-deflate\n" + strings.Repeat("echo ok\n", 8)
	if string(out) != want {
		t.Fatalf("python printed\n%s\nwant\n%s", out, want)
	}
	if err := recvErr(t, errs); CloseStatus(err) != 4002 {
		t.Fatalf("server saw %v, want close 4002", err)
	}
	if rsv1.Load() < 10 {
		t.Fatalf("only %d compressed frames went either way", rsv1.Load())
	}
}

const pythonDeflateServer = `
import asyncio, sys, websockets
async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
`

func TestInteropPythonDeflateServer(t *testing.T) {
	t.Parallel()
	needPythonWebsockets(t)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	cmd := exec.CommandContext(ctx, pythonWS, "-c", pythonDeflateServer)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	port, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("python server: %v", err)
	}
	for _, o := range []CompressionOptions{
		{Enabled: true},
		{Enabled: true, ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10},
	} {
		c, resp, err := Dial(ctx, "ws://127.0.0.1:"+strings.TrimSpace(port), &DialOptions{ConnOptions: ConnOptions{Compression: o}})
		if err != nil {
			t.Fatalf("Dial with %+v: %v", o, err)
		}
		if c.cfg.deflate == nil {
			t.Fatalf("compression not negotiated: %q", resp.Header.Get("Sec-WebSocket-Extensions"))
		}
		t.Logf("offer %q, answer %q", deflateOffer(&o), resp.Header.Get("Sec-WebSocket-Extensions"))
		for i, m := range [][]byte{text(1, 5000), text(1, 5000), bytes.Repeat([]byte{0, 1, 2}, 100000), {}} {
			if err := c.WriteMessage(ctx, MessageBinary, m); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.ReadMessage(ctx)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("message %d: %v (%d bytes, want %d)", i, err, len(got), len(m))
			}
		}
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
	}
}
