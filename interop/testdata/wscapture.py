# A WebSocket conversation on the host's loopback for a capture: a server
# that echoes and a client that sends a text, a 100,000-byte binary
# message, a message in three fragments and a ping, then closes; once
# without compression and once with permessage-deflate.
# Usage: wscapture.py PORT
import asyncio
import sys

import websockets


async def echo(ws):
    async for m in ws:
        await ws.send(m)


async def talk(port, compression):
    async with websockets.connect("ws://127.0.0.1:%d/" % port, compression=compression, max_size=None) as c:
        await c.send("hello from python")
        await c.recv()
        await c.send(bytes(range(256)) * 390 + b"glassnet" * 20)
        await c.recv()
        await c.send(iter(["frag-1 ", "frag-2 ", "frag-3"]))
        await c.recv()
        await (await c.ping(b"are you there"))


async def main():
    port = int(sys.argv[1])
    async with websockets.serve(echo, "127.0.0.1", port, compression="deflate", max_size=None):
        await talk(port, None)
        await talk(port, "deflate")
    print("done")


asyncio.run(main())
