"""A /chat member that talks to the next member who joins.

Usage: chatpeer.py URL. It prints "ready" once it is a member, waits for
someone to join, says "hello from python", then waits for a line that
ends in "hello from chromium" and prints it.
"""

import asyncio
import sys

import websockets

TIMEOUT = 20


async def main(url):
    async with websockets.connect(url) as ws:
        # A broadcast arrives only once this connection is a member.
        await asyncio.wait_for(ws.recv(), TIMEOUT)
        print("ready", flush=True)
        while not (await asyncio.wait_for(ws.recv(), TIMEOUT)).endswith(" joined"):
            pass
        await ws.send("hello from python")
        while True:
            line = await asyncio.wait_for(ws.recv(), TIMEOUT)
            if line.endswith(": hello from chromium"):
                print("heard", repr(line.split(": ", 1)[1]), flush=True)
                return


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
