// A WebSocket client built on Node's ws package (npm ws@8).
//
// Usage: node client.js BASE CASE, where BASE is ws://host:port and CASE one
// of the functions in cases. Each case prints one line saying what it
// observed (the Go test compares it); a failure exits non-zero.
"use strict";

const crypto = require("crypto");
const WebSocket = require("ws");

const TIMEOUT = 10000;

function open(url, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function next(ws) {
  return new Promise((resolve, reject) => {
    ws.once("message", (data, isBinary) => resolve({ data, isBinary }));
    ws.once("close", (code) => reject(new Error("closed with " + code + " before a message")));
  });
}

function closed(ws) {
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
}

async function bye(ws) {
  const done = closed(ws);
  ws.close(1000);
  await done;
}

const cases = {
  async text(base) {
    const ws = await open(base + "/echo");
    ws.send("hello κόσμε");
    const m = await next(ws);
    console.log("text", m.isBinary ? "binary" : "text", JSON.stringify(m.data.toString()));
    await bye(ws);
  },

  async binary(base) {
    const data = crypto.randomBytes(1 << 20);
    const ws = await open(base + "/echo", { maxPayload: 0 });
    ws.send(data);
    const m = await next(ws);
    console.log("binary", m.isBinary ? "binary" : "text", m.data.length, data.equals(m.data) ? "equal" : "DIFFERENT");
    await bye(ws);
  },

  async fragments(base) {
    // fin: false sends a frame without FIN; the next send continues the
    // message with a continuation frame.
    const ws = await open(base + "/echo");
    ws.send("frag-1 ", { fin: false });
    ws.send("frag-2 ", { fin: false });
    ws.send("frag-3", { fin: true });
    const m = await next(ws);
    console.log("fragments", JSON.stringify(m.data.toString()));
    await bye(ws);
  },

  async ping(base) {
    const ws = await open(base + "/echo");
    const pong = new Promise((resolve) => ws.once("pong", resolve));
    ws.ping("node ping");
    const payload = await pong;
    console.log("pong", JSON.stringify(payload.toString()));
    await bye(ws);
  },

  async close(base) {
    const ws = await open(base + "/echo");
    const done = closed(ws);
    ws.close(1000, "client done");
    const c = await done;
    console.log("close", c.code, JSON.stringify(c.reason));
  },

  async close4001(base) {
    const ws = await open(base + "/echo");
    const done = closed(ws);
    ws.close(4001, "custom");
    const c = await done;
    console.log("close", c.code, JSON.stringify(c.reason));
  },

  async chat(base) {
    // Other /chat members may talk at the same time: wait for this
    // process's own line.
    const line = "hello from b (" + process.pid + ")";
    const a = await open(base + "/chat");
    const heardA = until(a, line);
    const b = await open(base + "/chat");
    const heardB = until(b, line);
    b.send(line);
    const [ma, mb] = await Promise.all([heardA, heardB]);
    if (ma !== mb) throw new Error("a heard " + ma + ", b heard " + mb);
    console.log("chat", JSON.stringify(line.split(" (")[0]));
    await Promise.all([bye(a), bye(b)]);
  },

  async deflate(base) {
    // ws offers permessage-deflate by default; print what was agreed.
    const ws = await open(base + "/echo");
    const ext = ws.extensions || "none";
    ws.send("x".repeat(1000));
    const m = await next(ws);
    console.log("deflate", m.data.length, ext === "" ? "none" : "negotiated " + ext);
    await bye(ws);
  },
};

function until(ws, line) {
  return new Promise((resolve) => {
    const on = (data) => {
      const s = data.toString();
      if (s.endsWith(": " + line)) {
        ws.off("message", on);
        resolve(s);
      }
    };
    ws.on("message", on);
  });
}

const [base, name] = process.argv.slice(2);
const fn = cases[name];
if (!fn) {
  console.error("unknown case " + name);
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error("timed out");
  process.exit(1);
}, TIMEOUT);
fn(base).then(
  () => clearTimeout(timer),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
