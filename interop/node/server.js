// A WebSocket echo server built on Node's ws package (npm ws@8), with
// permessage-deflate enabled as Node servers commonly run it.
//
// Usage: node server.js HOST PORT. It prints "listening PORT" when ready
// (PORT 0 picks a free one), then a line per event the Go test checks:
// "close CODE REASON" for every close frame a client sends, and
// "pong PAYLOAD" for every pong. Messages are echoed, except commands:
//
//	ping-me   the server pings with payload "node ping" and, when the pong
//	          arrives, sends the text "pong <payload>"
//	close-me  the server starts the close handshake with 4002 "server bye"
"use strict";

const { WebSocketServer } = require("ws");

const [host, port] = process.argv.slice(2);
const wss = new WebSocketServer({ host, port: Number(port), perMessageDeflate: true, maxPayload: 64 << 20 });

wss.on("listening", () => console.log("listening " + wss.address().port));
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    if (!isBinary && data.toString() === "ping-me") {
      ws.ping("node ping");
      return;
    }
    if (!isBinary && data.toString() === "close-me") {
      ws.close(4002, "server bye");
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on("pong", (payload) => {
    console.log("pong " + payload.toString());
    ws.send("pong " + payload.toString());
  });
  ws.on("close", (code, reason) => console.log("close " + code + " " + reason.toString()));
  ws.on("error", (err) => console.log("error " + err.message));
});
process.on("SIGTERM", () => process.exit(0));
