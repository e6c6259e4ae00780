"""A WebSocket client built on Debian's python3-websockets.

Usage: wsclient.py BASE CASE, where BASE is ws://host:port and CASE one of
the functions in CASES. Each case prints one line saying what it observed
(the Go test compares it); a failure raises and exits non-zero.
"""

import asyncio
import os
import sys

import websockets

TIMEOUT = 10


async def text(base):
    async with websockets.connect(base + "/echo") as ws:
        await ws.send("hello κόσμε")
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        print("text", repr(got))


async def binary(base):
    data = os.urandom(1 << 20)
    async with websockets.connect(base + "/echo", max_size=None) as ws:
        await ws.send(data)
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        print("binary", type(got).__name__, len(got), "equal" if got == data else "DIFFERENT")


async def fragments(base):
    # Given an iterable, websockets sends one message as a text frame with
    # FIN clear followed by continuation frames.
    async with websockets.connect(base + "/echo") as ws:
        await ws.send(["frag-1 ", "frag-2 ", "frag-3"])
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        print("fragments", repr(got))


async def ping(base):
    async with websockets.connect(base + "/echo") as ws:
        pong = await ws.ping(b"glassnet ping")
        # The waiter completes only on a pong that carries the same payload.
        await asyncio.wait_for(pong, TIMEOUT)
        print("pong", "received")


async def close(base):
    ws = await websockets.connect(base + "/echo")
    await asyncio.wait_for(ws.close(1000, "client done"), TIMEOUT)
    # close_code is what the server's close frame carried.
    print("close", ws.close_code, repr(ws.close_reason))


async def chat(base):
    # Other /chat members may talk at the same time: wait for this
    # process's own line, and take any broadcast as proof of membership.
    line = f"hello from b ({os.getpid()})"
    async with websockets.connect(base + "/chat") as a:
        await asyncio.wait_for(a.recv(), TIMEOUT)
        async with websockets.connect(base + "/chat") as b:
            await b.send(line)
            heard_a = await asyncio.wait_for(until(a, line), TIMEOUT)
            heard_b = await asyncio.wait_for(until(b, line), TIMEOUT)
            assert heard_a == heard_b, (heard_a, heard_b)
            print("chat", repr(line.split(" (")[0]))


async def until(ws, line):
    """Returns the first message that ends in ": " + line."""
    while True:
        msg = await ws.recv()
        if msg.endswith(": " + line):
            return msg


async def wait_close(base):
    """Connects, says "ready" and reports the close frame the server sends."""
    async with websockets.connect(base + "/echo") as ws:
        print("ready", flush=True)
        try:
            await ws.recv()
        except websockets.ConnectionClosed as e:
            if e.rcvd is None:
                raise AssertionError(f"closed without a close frame: {e}")
            print("closed by server", e.rcvd.code, repr(e.rcvd.reason))
            return
        raise AssertionError("a message arrived instead of a close frame")


async def many(base):
    # 500 messages of different sizes, each echoed in order and intact.
    n, ok = 500, 0
    async with websockets.connect(base + "/echo", max_size=None) as ws:
        for i in range(n):
            msg = ("%d:" % i) + "x" * (i * 7 % 3000)
            await ws.send(msg)
            if await asyncio.wait_for(ws.recv(), 60) == msg:
                ok += 1
    print("many", n, "sent", ok, "intact")


async def rtt(base):
    # The median of 11 WebSocket ping round trips, in whole milliseconds.
    loop = asyncio.get_running_loop()
    times = []
    async with websockets.connect(base + "/echo") as ws:
        for _ in range(11):
            start = loop.time()
            pong = await ws.ping()
            await asyncio.wait_for(pong, TIMEOUT)
            times.append(loop.time() - start)
    times.sort()
    print("rtt", int(times[len(times) // 2] * 1000))


CASES = {f.__name__: f for f in (text, binary, fragments, ping, close, chat, wait_close, many, rtt)}

if __name__ == "__main__":
    asyncio.run(CASES[sys.argv[2]](sys.argv[1]))
