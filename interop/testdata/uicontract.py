#!/usr/bin/python3
"""Checks the browser view of glassnet against what README.md and `go doc ./ui`
promise, as a script that knows nothing else would: the JSON API with urllib,
the live stream with python3-websockets, and the page in headless chromium
over the DevTools protocol.

    uicontract.py api,hostile BASE TOKEN     modes run in turn
    uicontract.py serve BASE TOKEN STACKURL  a `glassnet serve --ui` with a peer
    uicontract.py hostile BASE TOKEN         hostile requests to a running view
    uicontract.py offline BASE TOKEN         a `glassnet view FILE.jsonl`
    uicontract.py page BASE TOKEN CHROMIUM PORT SHOTS   the page

Each broken promise is printed as a line starting "FAIL "; the exit status
is 1 when there was one. Lines starting "ok " say what was checked.
"""

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import websockets

FAILS = []
HITS = []  # states the ws close breakpoint stopped at


def fail(msg):
    FAILS.append(msg)
    print("FAIL " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def ok(msg):
    print("ok " + msg, flush=True)


class View:
    def __init__(self, base, token):
        self.base = base.rstrip("/")
        self.token = token

    def raw(self, method, path, body=None, headers=None, token=True, data=None):
        """Returns (status, headers, bytes)."""
        h = dict(headers or {})
        if token:
            h.setdefault("X-Glassnet-Token", self.token)
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def call(self, method, path, body=None, want=200):
        st, hd, b = self.raw(method, path, body)
        if st != want:
            fail("%s %s: status %d, want %d: %s" % (method, path, st, want, b[:300]))
            return None
        try:
            return json.loads(b)
        except ValueError:
            fail("%s %s: not JSON: %r" % (method, path, b[:200]))
            return None

    def error(self, method, path, body=None, want=400, data=None, headers=None, token=True, contains=""):
        """A request that must fail with want and {"error":"ui: ..."}."""
        st, hd, b = self.raw(method, path, body, headers=headers, token=token, data=data)
        what = "%s %s %s" % (method, path, (json.dumps(body)[:80] if body is not None else (data or b"")[:60]))
        if not check(st == want, "%s: status %d, want %d (%r)" % (what, st, want, b[:200])):
            return None
        try:
            e = json.loads(b)
        except ValueError:
            fail("%s: the error is not JSON: %r" % (what, b[:200]))
            return None
        if not check(isinstance(e, dict) and isinstance(e.get("error"), str), "%s: no {\"error\":...}: %r" % (what, b[:200])):
            return None
        check(e["error"].startswith("ui:"), "%s: the error %r does not start with ui:" % (what, e["error"][:200]))
        check(len(e["error"]) <= 1024, "%s: an error of %d bytes" % (what, len(e["error"])))
        if contains:
            check(contains in e["error"], "%s: the error %r does not say %r" % (what, e["error"], contains))
        return e["error"]

    def state(self):
        return self.call("GET", "/api/state")

    def event(self, id):
        return self.call("GET", "/api/events/%d" % id)

    def wait(self, what, cond, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            v = cond()
            if v:
                return v
            time.sleep(0.05)
        fail("waited %ds for %s; state %s; holds %s" % (timeout, what, json.dumps(self.state()), json.dumps(self.call("GET", "/api/holds"))))
        return None


STATE_KEYS = {"live", "paused", "mode", "current", "first", "last", "count", "history",
              "skipped", "breakpoints", "hit", "held", "clock_paused", "clock_ns", "nodes",
              "ended", "capture", "partial"}
EVENT_KEYS = {"id", "t", "node", "layer", "dir", "event", "summary"}
CONN_KEYS = {"node", "proto", "state", "local", "peer", "recv_q", "send_q", "cwnd", "ssthresh",
             "srtt_ms", "rto_ms", "snd_wnd", "rcv_wnd", "fd"}
HOLD_KEYS = {"id", "point", "node", "event", "summary", "since_ms", "fields"}
ARMED_KEYS = {"id", "point", "node", "filter", "left"}


def check_state(st, where):
    if not check(isinstance(st, dict), "%s: state is not an object: %r" % (where, st)):
        return
    missing = STATE_KEYS - set(st)
    check(not missing, "%s: state lacks %s" % (where, sorted(missing)))
    extra = set(st) - STATE_KEYS - {"type"}
    check(not extra, "%s: state has undocumented %s" % (where, sorted(extra)))
    check(st.get("mode") in (("step", "free") if st.get("live") else ("",)), "%s: mode %r" % (where, st.get("mode")))
    check(isinstance(st.get("breakpoints"), list), "%s: breakpoints %r" % (where, st.get("breakpoints")))


def check_events(evs, where):
    for e in evs:
        missing = EVENT_KEYS - set(e)
        if missing:
            fail("%s: event %s lacks %s" % (where, e.get("id"), sorted(missing)))
            return


# ---------------------------------------------------------------- access

def access(v):
    st, hd, b = v.raw("GET", "/api/state", token=False)
    check(st == 401, "GET /api/state without the token: %d, want 401" % st)
    v.error("GET", "/api/state", token=False, want=401)
    v.error("GET", "/", token=False, want=401)
    v.error("GET", "/api/state", token=False, want=401, headers={"X-Glassnet-Token": "0" * 32})
    st, hd, b = v.raw("GET", "/api/state?token=" + v.token, token=False)
    check(st == 200, "?token= on /api/state: %d" % st)
    st, hd, b = v.raw("GET", "/?token=" + v.token, token=False)
    check(st == 200, "GET /?token=: %d" % st)
    ck = hd.get_all("Set-Cookie") or []
    c = [x for x in ck if x.startswith("glassnet_token=")]
    if check(c, "GET /?token= sets no glassnet_token cookie: %r" % ck):
        low = c[0].lower()
        check("httponly" in low and "samesite=strict" in low, "the cookie is not HttpOnly, SameSite=Strict: %r" % c[0])
        st, hd, b = v.raw("GET", "/api/state", token=False, headers={"Cookie": c[0].split(";")[0]})
        check(st == 200, "the cookie alone: %d" % st)
    check(b"<" in v.raw("GET", "/")[2][:200], "GET / is not the page")
    st, hd, b = v.raw("GET", "/static/app.js")
    check(st == 200, "GET /static/app.js: %d" % st)
    # The paths the docs name answer 404, 405 with Allow, 426.
    v.error("GET", "/api/nothing", want=404)
    st, hd, b = v.raw("PUT", "/api/state")
    check(st == 405 and hd.get("Allow"), "PUT /api/state: %d Allow %r" % (st, hd.get("Allow")))
    v.error("PUT", "/api/state", want=405)
    v.error("GET", "/api/play", want=405)
    v.error("DELETE", "/api/events", want=405)
    v.error("GET", "/api/live", want=426)
    ok("access")


# ---------------------------------------------------------------- events

def events(v, bytes_kept=True):
    st = v.state()
    first, last = st["first"], st["last"]
    r = v.call("GET", "/api/events?from=%d&to=%d" % (first, last))
    if r is None:
        return
    check(set(r) >= {"events", "first", "last"}, "events answer lacks keys: %r" % list(r))
    evs = r["events"]
    check_events(evs, "events")
    check(len(evs) == min(last - first + 1, 10000), "events %d..%d: %d events" % (first, last, len(evs)))
    if evs:
        check(evs[0]["id"] == first and evs[-1]["id"] == min(last, first + 9999),
              "events %d..%d: ids %d..%d" % (first, last, evs[0]["id"], evs[-1]["id"]))
    # one event, and the bytes of a packet
    pk = [e for e in evs if e["layer"] == "link" and e["event"] == "packet"]
    if check(pk, "no link packet among %d events" % len(evs)) and bytes_kept:
        one = v.event(pk[0]["id"])
        if one:
            check(isinstance(one.get("bytes"), str) and len(one["bytes"]) >= 40,
                  "packet %d has no bytes: %r" % (pk[0]["id"], one.get("bytes")))
            try:
                bytes.fromhex(one["bytes"])
            except (ValueError, KeyError, TypeError):
                fail("packet bytes are not hex")
            check(one["id"] == pk[0]["id"] and one["summary"] == pk[0]["summary"], "event %d differs from the range's" % pk[0]["id"])
    # ids that are not there, or not ids
    v.error("GET", "/api/events/0", want=404)
    v.error("GET", "/api/events/-1", want=400)
    v.error("GET", "/api/events/abc", want=400)
    v.error("GET", "/api/events/99999999999999999999999", want=400)
    v.error("GET", "/api/events/%d" % (last + 1000000), want=404)
    v.error("GET", "/api/events?from=abc", want=400)
    v.error("GET", "/api/events?from=-5&to=3", want=400)
    # a parameter the path does not take, or one given twice, is said so
    # rather than left out (a script's limit= would get 10000 events)
    v.error("GET", "/api/events?from=%d&limit=5" % first, want=400, contains="limit")
    v.error("GET", "/api/events?from=%d&from=%d" % (first, last), want=400, contains="from")
    r = v.call("GET", "/api/events?from=%d&to=%d" % (last + 10, last + 20))
    if r is not None:
        check(r["events"] == [], "a range beyond the last: %r" % r["events"][:2])
    ok("events %d..%d" % (first, last))


# ---------------------------------------------------------------- control

def step_units(v):
    st = v.state()
    check_state(st, "start")
    check(st["live"] and st["paused"] and st["mode"] == "step", "demo --ui does not start paused at a step: %r" % st)
    before = st["current"]
    st = v.call("POST", "/api/step", {})
    if st:
        check_state(st, "step")
        check(st["current"] > before, "step {} did not move: %d -> %d" % (before, st["current"]))
    want = {"event": None, "packet": ("link", "packet"), "segment": ("tcp", "segment"),
            "frame": ("ws", "frame"), "message": ("ws", "message")}
    for unit, kind in want.items():
        before = v.state()["current"]
        st = v.call("POST", "/api/step", {"to": unit})
        if not st:
            continue
        check_state(st, "step " + unit)
        check(st["paused"], "step %s: not paused after" % unit)
        check(st["current"] > before, "step %s did not move: %d -> %d" % (unit, before, st["current"]))
        if kind:
            e = v.event(st["current"])
            if e:
                check((e["layer"], e["event"]) == kind,
                      "step %s stopped at %s %s (#%d)" % (unit, e["layer"], e["event"], e["id"]))
    v.error("POST", "/api/step", {"to": "bogus"})
    v.error("POST", "/api/step", {"to": 5})
    ok("step units")


def clock(v):
    st = v.state()
    c0 = st["clock_ns"]
    r = v.call("POST", "/api/clock/advance", {"ms": 5})
    st = v.wait("the clock to move", lambda: (lambda s: s if s["clock_ns"] >= c0 + 4_999_000 else None)(v.state()), 5) or v.state()
    check(st["clock_ns"] >= c0 + 5_000_000 - 1000, "clock/advance 5 ms: clock_ns %d -> %d" % (c0, st["clock_ns"]))
    v.error("POST", "/api/clock/advance", {"ms": -1})
    v.error("POST", "/api/clock/advance", {"ms": "x"})
    ok("clock answered %r" % (r,))


def breakpoints(v):
    bps = ["tcp and fin", "ws close", "rcv_wnd == 0", "retransmit", "state TIME-WAIT"]
    r = v.call("POST", "/api/breakpoints", {"breakpoints": bps})
    check(r is not None and r.get("breakpoints") == bps, "POST breakpoints answered %r" % (r,))
    r = v.call("GET", "/api/breakpoints")
    check(r == {"breakpoints": bps}, "GET breakpoints %r" % (r,))
    check(v.state()["breakpoints"] == bps, "state breakpoints differ")
    v.error("POST", "/api/breakpoints", {"breakpoints": ["tcp and and"]})
    v.error("POST", "/api/breakpoints", {"breakpoints": ["state NOPE"]})
    v.error("POST", "/api/breakpoints", {"breakpoints": "tcp"})
    check(v.call("GET", "/api/breakpoints") == {"breakpoints": bps}, "a bad POST changed the breakpoints")
    r = v.call("POST", "/api/breakpoints", {"breakpoints": []})
    check(r == {"breakpoints": []}, "clearing the breakpoints answered %r" % (r,))
    ok("breakpoints")


def holds(v, node):
    r = v.call("GET", "/api/holds")
    check(r is not None and set(r) >= {"holds", "armed"}, "GET /api/holds %r" % (r,))
    a = v.call("POST", "/api/hold", {"point": "link-egress", "node": node, "filter": "tcp", "count": 1})
    if not check(isinstance(a, dict) and isinstance(a.get("id"), int), "POST /api/hold answered %r" % (a,)):
        return None
    r = v.call("GET", "/api/holds")
    armed = [x for x in r["armed"] if x["id"] == a["id"]]
    if check(armed, "armed %d not in %r" % (a["id"], r)):
        check(set(armed[0]) >= ARMED_KEYS, "armed lacks %s" % sorted(ARMED_KEYS - set(armed[0])))
        check(armed[0]["left"] == 1 and armed[0]["point"] == "link-egress" and armed[0]["node"] == node, "armed %r" % armed[0])
    d = v.call("DELETE", "/api/hold/%d" % a["id"])
    check(d == {"disarmed": a["id"]}, "DELETE /api/hold answered %r" % (d,))
    check(not v.call("GET", "/api/holds")["armed"], "disarmed still armed")
    v.error("DELETE", "/api/hold/%d" % a["id"], want=404)
    v.error("POST", "/api/hold", {"point": "nowhere", "node": node, "count": 1})
    v.error("POST", "/api/hold", {"point": "link-egress", "node": "nobody", "count": 1})
    v.error("POST", "/api/hold", {"point": "link-egress", "node": node, "filter": "tcp and and", "count": 1})
    v.error("POST", "/api/hold", {"point": "ws-out", "node": node, "filter": "tcp and and", "count": 1})
    v.error("POST", "/api/hold", {"point": "link-egress", "node": node, "count": -1})
    v.error("POST", "/api/holds/999999", {"action": "release"}, want=404)
    ok("hold arm and disarm")
    return True


def hold_and_edit(v, node, flt="tcp and ack", play=True):
    """Arms a hold, runs until it holds, edits the window and releases."""
    a = v.call("POST", "/api/hold", {"point": "link-egress", "node": node, "filter": flt, "count": 1})
    if not a:
        return None
    if play:
        v.call("POST", "/api/play")

    def held():
        h = v.call("GET", "/api/holds")
        if h and h["holds"]:
            return h["holds"]
        st = v.state()
        if st.get("hit"):
            HITS.append(st)
            v.call("POST", "/api/play")
        return None
    hs = v.wait("a held packet", held)
    if not hs:
        return None
    h = hs[0]
    check(set(h) >= HOLD_KEYS, "hold lacks %s" % sorted(HOLD_KEYS - set(h)))
    f = h.get("fields", {})
    check(set(f) >= {"flags", "seq", "ack", "window", "payload_hex", "len"}, "held packet fields %r" % sorted(f))
    st = v.state()
    check(st["held"] >= 1, "state.held %r with a held packet" % st["held"])
    # the hold's event: the link "held" step, 0 until it comes
    if h["event"]:
        e = v.event(h["event"])
        check(e and e["layer"] == "link" and e["event"] == "held", "hold event %d is %r" % (h["event"], e and (e["layer"], e["event"])))
    v.error("POST", "/api/holds/%d" % h["id"], {"action": "release", "edit": {"window": 70000}}, contains="65535")
    v.error("POST", "/api/holds/%d" % h["id"], {"action": "release", "edit": {"seq": -1}}, contains="4294967295")
    v.error("POST", "/api/holds/%d" % h["id"], {"action": "release", "edit": {"payload_hex": "zz"}})
    v.error("POST", "/api/holds/%d" % h["id"], {"action": "explode"})
    v.error("POST", "/api/holds/%d" % h["id"], {"action": "release", "edit": {"len": 3}})
    return h


def rules(v, node):
    r = v.call("GET", "/api/rules")
    check(r is not None and "rules" in r, "GET /api/rules %r" % (r,))
    a = v.call("POST", "/api/rules", {"node": node, "point": "egress", "rule": "delay 1ms"})
    if not check(isinstance(a, dict) and isinstance(a.get("id"), int), "POST /api/rules answered %r" % (a,)):
        return
    r = v.call("GET", "/api/rules")
    got = [x for x in r["rules"] if x["id"] == a["id"]]
    check(got and got[0] == {"id": a["id"], "node": node, "point": "egress", "rule": "delay 1ms"}, "rule listed as %r" % got)
    fr = v.call("POST", "/api/rules", {"node": node, "point": "egress", "rule": "ws text : delay 1ms"})
    v.error("POST", "/api/rules", {"node": node, "point": "egress", "rule": "loss 200%"})
    v.error("POST", "/api/rules", {"node": node, "point": "sideways", "rule": "loss 1%"})
    v.error("POST", "/api/rules", {"node": "nobody", "point": "egress", "rule": "loss 1%"})
    d = v.call("DELETE", "/api/rules/%d" % a["id"])
    if fr:
        v.call("DELETE", "/api/rules/%d" % fr["id"])
    ok("DELETE rule answered %r" % (d,))
    check(not [x for x in v.call("GET", "/api/rules")["rules"] if x["id"] == a["id"]], "deleted rule still listed")
    v.error("DELETE", "/api/rules/%d" % a["id"], want=404)
    v.error("DELETE", "/api/rules/abc", want=400)
    ok("rules")


def conns(v):
    r = v.call("GET", "/api/conns")
    if not r:
        return None
    check(set(r) >= {"conns", "at", "stale"}, "conns answer %r" % list(r))
    for c in r["conns"]:
        check(set(c) >= CONN_KEYS, "conn lacks %s: %r" % (sorted(CONN_KEYS - set(c)), c))
        break
    return r


def exports(v, pcap=True):
    s0 = v.state()
    st, hd, b = v.raw("GET", "/api/export?format=jsonl")
    check(st == 200, "export jsonl: %d" % st)
    lines = [json.loads(x) for x in b.splitlines() if x.strip()]
    s1 = v.state()
    check(s0["last"] - s0["first"] + 1 <= len(lines) <= s1["last"] - s1["first"] + 1,
          "jsonl has %d lines, the view %d..%d" % (len(lines), s1["first"], s1["last"]))
    check(hd.get("X-Glassnet-Events"), "export has no X-Glassnet-Events header")
    st, hd, b = v.raw("GET", "/api/export?format=pcapng")
    if pcap:
        check(st == 200 and b[:4] == b"\x0a\x0d\x0d\x0a", "export pcapng: %d %r" % (st, b[:8]))
    else:
        v.error("GET", "/api/export?format=pcapng", want=409)
    st, hd, b = v.raw("GET", "/api/export?format=perfetto")
    check(st == 200 and json.loads(b) is not None, "export perfetto: %d" % st)
    v.error("GET", "/api/export?format=pdf", want=400)
    v.error("GET", "/api/export?format=jsonl&format=pcapng", want=400, contains="format")
    v.error("GET", "/api/export?fmt=pcapng", want=400, contains="fmt")
    st, hd, b = v.raw("GET", "/api/export")
    check(st == 200 and b[:1] == b"{", "export without a format: %d %r" % (st, b[:20]))
    ok("exports")
    return b


# ---------------------------------------------------------------- live stream

async def live_read(ws, types, timeout=10):
    """Reads messages until one of each type in types came; returns them by type."""
    got = {}
    end = time.time() + timeout
    while set(types) - set(got) and time.time() < end:
        try:
            m = await asyncio.wait_for(ws.recv(), max(0.1, end - time.time()))
        except asyncio.TimeoutError:
            break
        check(isinstance(m, str), "live sent a binary message")
        d = json.loads(m)
        got.setdefault(d.get("type"), []).append(d)
    return got


def live_url(v, frm=0, token=None):
    return v.base.replace("http://", "ws://") + "/api/live?token=%s&from=%d" % (token or v.token, frm)


async def live(v, node):
    origin = v.base
    # a foreign Origin is refused with 403
    try:
        async with websockets.connect(live_url(v), origin="http://evil.example"):
            fail("live accepted Origin http://evil.example")
    except websockets.exceptions.InvalidStatusCode as e:
        check(e.status_code == 403, "live with a foreign Origin: %d" % e.status_code)
    try:
        async with websockets.connect(live_url(v, token="0" * 32), origin=origin):
            fail("live accepted a wrong token")
    except websockets.exceptions.InvalidStatusCode as e:
        check(e.status_code == 401, "live with a wrong token: %d" % e.status_code)

    gone = None
    async with websockets.connect(live_url(v), origin=origin, max_size=None) as ws:
        got = await live_read(ws, ["rules", "state"], 5)
        check("rules" in got, "live sent no rules message first: %r" % list(got))
        for s in got.get("state", []):
            check_state(s, "live state")
        # a change brings a state; a rule added brings rules; a hold holds
        r = v.call("POST", "/api/rules", {"node": node, "point": "egress", "rule": "delay 1ms"})
        got = await live_read(ws, ["rules"], 5)
        if check("rules" in got, "adding a rule sent no rules message"):
            rs = got["rules"][-1]
            check(any(x["id"] == r["id"] for x in rs.get("rules", [])), "rules message %r" % rs)
        v.call("DELETE", "/api/rules/%d" % r["id"])
        a = v.call("POST", "/api/hold", {"point": "link-egress", "node": node, "filter": "tcp", "count": 1})
        got = await live_read(ws, ["holds"], 5)
        if check("holds" in got, "arming a hold sent no holds message"):
            check(any(x["id"] == a["id"] for x in got["holds"][-1].get("armed", [])), "holds message %r" % got["holds"][-1])
        v.call("DELETE", "/api/hold/%d" % a["id"])
        # events come; conns about once a second
        st = v.state()
        if st["paused"]:
            v.call("POST", "/api/step", {"to": "packet"})
        got = await live_read(ws, ["events", "conns", "state"], 6)
        check("events" in got, "live sent no events: %r" % list(got))
        check("conns" in got, "live sent no conns in 6 s: %r" % list(got))
        for m in got.get("events", []):
            check_events(m["events"], "live events")
        if "conns" in got:
            check(isinstance(got["conns"][0].get("conns"), list), "conns message %r" % got["conns"][0])
        last = max((e["id"] for m in got.get("events", []) for e in m["events"]), default=0)
        # When the last page goes, the server releases what is held and
        # disarms every hold: a hold armed now, that never matches, shows
        # when it has seen this page go, before the holds that follow.
        gone = v.call("POST", "/api/hold", {"point": "link-egress", "node": node, "filter": "udp and port 1", "count": 1})
        await ws.send(json.dumps({"type": "ack", "last": last}))
        await ws.send("not json")
        await ws.send(json.dumps({"type": "ack", "last": "x"}))
        await ws.send(json.dumps({"type": "nonsense"}))
        try:
            m = await asyncio.wait_for(ws.recv(), 3)
            ok("after garbage the stream goes on: %s" % m[:60])
        except asyncio.TimeoutError:
            ok("after garbage the stream is quiet")
        except websockets.exceptions.ConnectionClosed as e:
            ok("after garbage the stream closed: %s" % e)
    if gone:
        v.wait("the server to see the live page go (the hold it left armed disarmed)",
               lambda: all(x["id"] != gone["id"] for x in v.call("GET", "/api/holds")["armed"]))
    ok("live")


# ---------------------------------------------------------------- modes

def play_unless_ended(v):
    """Plays a run that had not ended when its state was read. One that
    runs freely (played on past a breakpoint) can end before the play
    arrives: then the answer is the 409 of a run that has ended."""
    st, _, b = v.raw("POST", "/api/play")
    check(st == 200 or (st == 409 and b"ui: the run has ended" in b),
          "POST /api/play: status %d, want 200 (or 409 for a run that has just ended): %r" % (st, b[:300]))


def mode_api(v):
    access(v)
    step_units(v)
    clock(v)
    breakpoints(v)
    events(v)
    holds(v, "client")
    rules(v, "client")
    conns(v)
    asyncio.run(live(v, "client"))
    # a breakpoint that the holds below run into
    v.call("POST", "/api/breakpoints", {"breakpoints": ["ws close"]})
    # a held packet: edit the window and release it
    h = hold_and_edit(v, "client")
    if h:
        r = v.call("POST", "/api/holds/%d" % h["id"], {"action": "release", "edit": {"window": 1000}})
        check(r and set(r) >= {"id", "action", "edited", "outcome", "pending"}, "release answered %r" % (r,))
        if r:
            check(r["action"] == "release" and r["edited"], "release answered %r" % r)
        v.error("POST", "/api/holds/%d" % h["id"], {"action": "release"}, want=404)
    for act in ("drop", "duplicate", "delay"):
        h = hold_and_edit(v, "client", flt="tcp")
        if not h:
            continue
        body = {"action": act}
        if act == "delay":
            body["delay_ms"] = 5
        r = v.call("POST", "/api/holds/%d" % h["id"], body)
        check(r and r.get("action") == act, "%s answered %r" % (act, r))
        if v.state()["paused"]:
            v.call("POST", "/api/play")
    # the breakpoint hit on the way
    if not HITS and not v.state()["ended"]:
        play_unless_ended(v)
        st = v.wait("the ws close breakpoint", lambda: (lambda s: s if s["paused"] and s.get("hit") else None)(v.state()), 30)
        if st:
            HITS.append(st)
    if check(HITS, "the ws close breakpoint never stopped the run"):
        st = HITS[0]
        check("ws close" in str(st["hit"]), "state.hit %r does not name the breakpoint" % st["hit"])
        e = v.event(st["current"])
        check(e and e["layer"] == "ws", "the breakpoint stopped at %r" % e)
    v.call("POST", "/api/breakpoints", {"breakpoints": []})
    exports(v)
    if not v.state()["ended"]:
        play_unless_ended(v)
    st = v.wait("the run to end", lambda: (lambda s: s if s["ended"] else None)(v.state()), 60)
    if st:
        for p, b in (("/api/play", None), ("/api/pause", None), ("/api/step", {}), ("/api/clock/advance", {"ms": 1})):
            v.error("POST", p, b, want=409, contains="ui: the run has ended")
    ok("api")


# ---------------------------------------------------------------- hostile

def raw_http(v, request, timeout=10):
    """Sends request bytes on a fresh connection; returns (status, headers, body)."""
    host, port = v.base[len("http://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as c:
        c.sendall(request)
        c.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hd = {}
    for l in lines[1:]:
        k, _, val = l.partition(b":")
        hd[k.strip().lower().decode()] = val.strip().decode()
    return status, hd, body


def err_of(where, st, body, want):
    if not check(st == want, "%s: status %d, want %d: %r" % (where, st, want, body[:200])):
        return
    try:
        e = json.loads(body)
        check(e["error"].startswith("ui:"), "%s: error %r does not start with ui:" % (where, e["error"]))
    except (ValueError, KeyError, TypeError):
        fail("%s: not {\"error\":\"ui: ...\"}: %r" % (where, body[:200]))


def mode_hostile(v):
    node = v.state()["nodes"][0]
    posts = ["/api/step", "/api/breakpoints", "/api/hold", "/api/holds/1", "/api/rules", "/api/clock/advance"]
    for p in posts:
        v.error("POST", p, data=b"{not json", headers={"Content-Type": "application/json"})
        v.error("POST", p, data=b"[1,2,3]", headers={"Content-Type": "application/json"})
        v.error("POST", p, data=b'{"a":1}{"b":2}', headers={"Content-Type": "application/json"})
    v.error("POST", "/api/rules", {"node": node, "point": "egress", "rule": "loss 1%", "extra": 1})
    v.error("POST", "/api/hold", {"point": "link-egress", "node": node, "count": "1"})
    v.error("POST", "/api/hold", {"point": "link-egress", "node": node, "count": 1e20})
    v.error("POST", "/api/breakpoints", {"breakpoints": [1, 2]})
    v.error("POST", "/api/breakpoints", {"breakpoints": ["x" * 100000]})
    v.error("POST", "/api/clock/advance", {"ms": 1e300})
    v.error("POST", "/api/step", {"to": None, "x": []})
    # a huge body: the answer comes before the body is all sent
    host = v.base[len("http://"):]
    with socket.create_connection(tuple([host.split(":")[0], int(host.split(":")[1])]), timeout=10) as c:
        c.sendall(b"POST /api/breakpoints HTTP/1.1\r\nHost: %s\r\nX-Glassnet-Token: %s\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % (host.encode(), v.token.encode(), 64 << 20) + b'{"breakpoints":["' + b"a" * (2 << 20))
        data = b""
        try:
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                b = c.recv(65536)
                if not b:
                    break
                data += b
        except (ConnectionResetError, socket.timeout) as e:
            fail("a 64 MiB body: %r after %r" % (e, data[:100]))
        head, _, body = data.partition(b"\r\n\r\n")
        st = int(head.split()[1]) if head else 0
        err_of("a 64 MiB body", st, body, 413)
    for p in ("/api/events/-1", "/api/events/18446744073709551616", "/api/events/1e3", "/api/events/%2e%2e",
              "/api/holds/-1", "/api/hold/-1", "/api/rules/-1", "/api/rules/18446744073709551615"):
        m = "GET" if "events" in p else ("DELETE" if "/hold/" in p or "rules" in p else "POST")
        st, hd, b = v.raw(m, p, {"action": "release"} if m == "POST" else None)
        check(400 <= st < 500, "%s %s: %d" % (m, p, st))
        try:
            check(json.loads(b)["error"].startswith("ui:"), "%s %s: %r" % (m, p, b[:100]))
        except (ValueError, KeyError):
            fail("%s %s: not a JSON error: %r" % (m, p, b[:100]))
    for m in ("PUT", "PATCH", "DELETE"):
        v.error(m, "/api/events", want=405)
        v.error(m, "/api/play", want=405)
    # DNS rebinding: a page at evil.example that resolves to the view's address
    host = v.base[len("http://"):]
    st, hd, b = raw_http(v, b"GET /api/state HTTP/1.1\r\nHost: evil.example:%s\r\nConnection: close\r\n\r\n" % host.split(":")[1].encode())
    check(st in (401, 403), "a rebound Host without the token: %d" % st)
    st, hd, b = raw_http(v, b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    check(st in (401, 403) and b"token" not in b.lower().replace(b"ui: ", b"") or st in (401, 403), "a rebound GET /: %d %r" % (st, b[:100]))
    err_of("a rebound GET /", st, b, 401)
    # garbage on the wire
    st, hd, b = raw_http(v, b"\x00\x01\x02 garbage\r\n\r\n")
    check(st == 400 or st == 0, "garbage request line: %d" % st)
    asyncio.run(live_hostile(v))
    # still alive, and the live sockets went away
    st = v.state()
    check(st is not None, "the view stopped answering")
    ok("hostile")


async def live_hostile(v):
    origin = v.base
    # 50 live sockets at once, never acking
    socks = []
    for i in range(50):
        try:
            # max_queue=None: python3-websockets stops reading a socket
            # whose 32 queued messages nobody takes, and would then miss
            # the server's answer to its close
            socks.append(await websockets.connect(live_url(v), origin=origin, max_size=None, max_queue=None, ping_interval=None))
        except Exception as e:
            fail("live socket %d: %r" % (i, e))
            break
    ok("%d live sockets open" % len(socks))
    t0 = time.time()
    # garbage: binary, huge text, a close code out of range
    if socks:
        await asyncio.wait_for(socks[0].send(b"\x00\xff" * 1000), 10)
        try:
            await asyncio.wait_for(socks[1].send("x" * (4 << 20)), 10)
        except Exception as e:
            ok("a 4 MiB message: %r" % e)
        # an ack of more than the history holds is taken as the last
        await socks[10].send('{"type":"ack","last":18446744073709551615}')
        for ws in socks[2:10]:
            await ws.send('{"type":"ack","last":-1}')
            await ws.send('{"type":"ack","last":1e99}')
    # A message that is not an ack with an event ID ends the stream with
    # 1008 and a reason that says what the view takes (the doc: "any other
    # message ends the stream with close code 1008"); the others end
    # with the client's close.
    async def close(i, ws):
        try:
            t = time.time()
            await asyncio.wait_for(ws.close(), 12)
            if i == 1:
                check(ws.close_code in (1008, 1009), "live socket 1, sent 4 MiB of text: closed with %s" % ws.close_code)
            elif i == 0 or 2 <= i < 10:
                check(ws.close_code == 1008 and '{"type":"ack","last":ID}' in (ws.close_reason or ""),
                      "live socket %d, sent no ack: closed with %s %r, want 1008 naming the ack" % (i, ws.close_code, ws.close_reason))
            else:
                check(time.time() - t < 5 and ws.close_code == 1000,
                      "live socket %d: close answered after %.1f s with %s" % (i, time.time() - t, ws.close_code))
        except Exception as e:
            fail("closing live socket %d (state %s): %r" % (i, ws.state, e))
    await asyncio.gather(*(close(i, ws) for i, ws in enumerate(socks)))
    ok("closed them in %.1f s" % (time.time() - t0))
    # a raw upgrade that then sends bytes that are no frame
    host, port = v.base[len("http://"):].rsplit(":", 1)
    r, w = await asyncio.open_connection(host, int(port))
    w.write(("GET /api/live?token=%s HTTP/1.1\r\nHost: %s:%s\r\nOrigin: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % (v.token, host, port, origin)).encode())
    await w.drain()
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    check(head.startswith(b"HTTP/1.1 101"), "raw upgrade: %r" % head[:40])
    w.write(b"\xff" * 64)
    await w.drain()
    end = time.time() + 10
    try:
        while time.time() < end and await asyncio.wait_for(r.read(65536), max(0.1, end - time.time())):
            pass
        if time.time() < end:
            ok("a socket sending garbage was closed")
        else:
            fail("a live socket that sent garbage was not closed within 10 s")
    except asyncio.TimeoutError:
        fail("a live socket that sent garbage was not closed within 10 s")
    w.close()


# ---------------------------------------------------------------- page

class Page:
    """One page of headless chromium, over the DevTools protocol."""

    def __init__(self, ws):
        self.ws = ws
        self.n = 0
        self.errors = []

    async def call(self, method, params=None):
        self.n += 1
        n = self.n
        await self.ws.send(json.dumps({"id": n, "method": method, "params": params or {}}))
        while True:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if m.get("id") == n:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if m.get("method") == "Runtime.exceptionThrown":
                self.errors.append(m["params"]["exceptionDetails"].get("text", "") + " " +
                                   str(m["params"]["exceptionDetails"].get("exception", {}).get("description", "")))
            if m.get("method") == "Runtime.consoleAPICalled" and m["params"]["type"] == "error":
                self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in m["params"]["args"]))

    async def eval(self, expr):
        r = await self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr[:80], r["exceptionDetails"]))
        return r["result"].get("value")

    async def wait(self, what, expr, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            v = await self.eval(expr)
            if v:
                return v
            await asyncio.sleep(0.1)
        fail("page: waited %ds for %s" % (timeout, what))
        # What the page said so far, and where it stands: a run killed at
        # its time limit never reaches the report at the end.
        for e in self.errors:
            fail("page reported: " + e[:300])
        self.errors = []
        try:
            status, ready = await self.eval(
                "[(document.getElementById('status') || {}).textContent, document.readyState]")
            fail("page: the status reads %r, the document is %s" % (status, ready))
        except Exception as e:
            fail("page: could not be read: %s" % e)
        return None

    async def key(self, k):
        code = {" ": 32}.get(k, ord(k.upper()))
        for t in ("keyDown", "keyUp"):
            p = {"type": t, "key": k, "windowsVirtualKeyCode": code}
            if t == "keyDown":
                p["text"] = k
            await self.call("Input.dispatchKeyEvent", p)

    async def shot(self, dir, name):
        r = await self.call("Page.captureScreenshot", {"format": "png"})
        path = os.path.join(dir, name + ".png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        ok("screenshot " + path)


# What a script can read off the page: the event the inspector shows, and
# which drawn units are lit as the selection.
SHOWN = """(() => {
  const t = document.getElementById("inspector-title").textContent;
  const m = /#(\\d+)/.exec(t);
  return m ? +m[1] : 0;
})()"""


def lit(id):
    return """(() => [...document.querySelectorAll('[data-event-id="%d"]')]
      .map(e => (e.closest('#ladder') ? 'ladder' : e.closest('#ruler') ? 'ruler' : e.closest('#events') ? 'events' : e.closest('#lanes') ? 'lanes' : 'other') + ':' + (e.getAttribute('data-hl') || ''))
      .join(' '))()""" % id


def synth_click(id, where):
    return """(() => {
      const el = document.querySelector('%s [data-event-id="%d"]');
      if (!el) return false;
      el.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true, view: window, button: 0}));
      return true;
    })()""" % (where, id)


async def page_run(v, chromium, port, shots):
    prof = "/tmp/uicontract-chromium-%d" % port
    proc = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", "--no-proxy-server", "--user-data-dir=" + prof,
                             "--remote-debugging-port=%d" % port, "--window-size=1600,1000", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        targets = None
        for _ in range(100):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=2) as r:
                    targets = [t for t in json.loads(r.read()) if t["type"] == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if not check(targets, "chromium gave no page"):
            return
        async with websockets.connect(targets[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            p = Page(ws)
            await page_checks(v, p, shots)
            for e in p.errors:
                fail("page reported: " + e[:300])
    finally:
        proc.kill()
        proc.wait()
        subprocess.run(["rm", "-rf", prof])


async def page_checks(v, p, shots):
    await p.call("Runtime.enable")
    await p.call("Page.enable")
    await p.call("Emulation.setDeviceMetricsOverride", {"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    await p.call("Page.navigate", {"url": v.base + "/?token=" + v.token})
    await p.wait("the page to draw events", "document.querySelectorAll('#events [data-event-id]').length > 0")
    # keyboard: n steps one event, f to the next frame, space plays and pauses
    await p.call("Runtime.evaluate", {"expression": "document.activeElement && document.activeElement.blur()"})
    # past the server's listen: the connections at that step say so
    while v.state()["current"] < 7:
        c = v.state()["current"]
        await p.key("n")
        cur = v.wait("n to step past %d" % c, lambda: (lambda x: x if x > c else 0)(v.state()["current"]), 10)
        if not cur or not await p.wait("the page at step %d" % cur, "document.getElementById('status').textContent.includes('#%d ')" % cur, 5):
            fail("the status reads %r" % await p.eval("document.getElementById('status').textContent"))
            break
    t = await p.wait("a listening server", "(t => t.includes('LISTEN') ? t : '')(document.getElementById('conns').textContent)", 3)
    check(t, "past the listen the connections show no listening server")
    c0 = v.state()["current"]
    await p.key("n")
    v.wait("n to step", lambda: v.state()["current"] > c0, 10)
    c1 = v.state()["current"]
    await p.key("f")
    st = v.wait("f to step to a frame", lambda: (lambda s: s if s["current"] > c1 else None)(v.state()), 15)
    if st:
        e = v.event(st["current"])
        check(e and (e["layer"], e["event"]) == ("ws", "frame"), "f stopped at %r" % ((e and (e["layer"], e["event"])),))
    await p.wait("the page to show the frame", "%s === %d" % (SHOWN, st["current"] if st else 0))
    # a breakpoint hit, seen by the page
    v.call("POST", "/api/breakpoints", {"breakpoints": ["ws close"]})
    await p.key(" ")
    st = v.wait("space to play to the breakpoint", lambda: (lambda s: s if s.get("hit") else None)(v.state()), 20)
    await p.wait("the status to name the breakpoint", "document.getElementById('status').textContent.includes('ws close')")
    await p.shot(shots, "contract-breakpoint")
    # the connections at that event: the server listens there (a table the
    # server made before the paused stack bound its socket must not say
    # otherwise)
    t = await p.eval("document.getElementById('conns').textContent")
    check("LISTEN" in t and "INITIAL" not in t, "at the breakpoint the connections read %r" % t[:300])
    v.call("POST", "/api/breakpoints", {"breakpoints": []})
    # a held packet, edited, in the page
    a = v.call("POST", "/api/hold", {"point": "link-egress", "node": "client", "filter": "tcp", "count": 1})
    await p.key(" ")
    hs = v.wait("a held packet", lambda: v.call("GET", "/api/holds")["holds"], 15)
    if hs:
        await p.wait("the page to show the hold", "document.querySelectorAll('#holds [data-hold-id]').length > 0")
        await p.shot(shots, "contract-held")
        # its box in the ladder says held, in sight beside its label
        over = await p.wait("the held packet in the ladder", """(() => {
          const g = document.querySelector('#ladder g.pkt[data-held="true"]');
          if (!g) return "";
          const t = [...g.querySelectorAll("text")].find((x) => x.textContent.includes("held"));
          const l = document.querySelector('#ladder g.pkt-label[data-hold-id="' + g.getAttribute("data-hold-id") + '"]');
          if (!t || !l) return "no box text or label";
          const a = t.getBoundingClientRect(), b = l.getBoundingClientRect();
          return b.right > a.left + 1 && b.left < a.right - 1 ? "the label (" + b.left + ".." + b.right + ") covers the box's word (" + a.left + ".." + a.right + ")" : "ok";
        })()""", 5)
        check(over == "ok", "while held: %s" % over)
        v.call("POST", "/api/holds/%d" % hs[0]["id"], {"action": "release", "edit": {"window": 1234}})
        # the ladder's label of the packet that was held does not start
        # inside the box that says so
        over = await p.wait("the released packet in the ladder", """(() => {
          const g = document.querySelector('#ladder g.pkt[data-held="past"]');
          if (!g) return "";
          const t = [...g.querySelectorAll("text")].find((x) => x.textContent.includes("held"));
          const l = document.querySelector('#ladder g.pkt-label[data-event-id="' + g.getAttribute("data-event-id") + '"]');
          if (!t || !l) return "no box text or label";
          const a = t.getBoundingClientRect(), b = l.getBoundingClientRect();
          return b.left > a.left + 1 && b.left < a.right - 1 ? "the label starts at " + b.left + " inside the box's word at " + a.left + ".." + a.right : "ok";
        })()""", 5)
        check(over == "ok", "after the release: %s" % over)
    # click events by data-event-id, as a script does: the inspector, the
    # ladder and the byte stream show it, and the address names it
    evs = v.call("GET", "/api/events?from=1&to=100000")["events"]
    pk = [e for e in evs if e["layer"] == "link" and e["event"] == "packet" and e["node"] == "server"]
    fr = [e for e in evs if e["layer"] == "ws" and e["event"] == "frame"]
    for e in (pk[len(pk) // 2] if pk else None, fr[0] if fr else None):
        if not e:
            continue
        id = e["id"]
        await p.eval("location.hash = ''")
        await p.eval("document.querySelector('#events-filter').value = '#%d '; document.querySelector('#events-filter').dispatchEvent(new Event('input', {bubbles: true}))" % id)
        found = await p.wait("event %d in the list" % id, "!!document.querySelector('#events [data-event-id=\"%d\"]')" % id, 5)
        if found and await p.eval(synth_click(id, "#events")):
            got = await p.wait("a click on event %d to select it" % id, "%s === %d" % (SHOWN, id), 5)
            if got:
                h = await p.eval("location.hash")
                check(h == "#event=%d" % id, "after a click on %d the address is %r" % (id, h))
                l = await p.eval(lit(id))
                check("ladder:sel" in l or "ruler:sel" in l, "event %d clicked is not lit in the ladder or byte stream: %r" % (id, l))
        await p.eval("document.querySelector('#events-filter').value = ''; document.querySelector('#events-filter').dispatchEvent(new Event('input', {bubbles: true}))")
    # j and k: the next and the previous event
    was = await p.eval(SHOWN)
    if was:
        await p.eval("document.activeElement && document.activeElement.blur()")
        await p.key("j")
        nxt = await p.wait("j to select the next event", "(x => x > %d ? x : 0)(%s)" % (was, SHOWN), 5)
        await p.key("k")
        await p.wait("k to go back to %d" % was, "%s === %d" % (SHOWN, was), 5)
    # #event=ID opens it, also after a reload
    if fr:
        id = fr[-1]["id"]
        await p.call("Page.navigate", {"url": v.base + "/?token=" + v.token + "#event=%d" % id})
        await p.wait("#event=%d to open it" % id, "%s === %d" % (SHOWN, id), 15)
        await p.wait("the ladder to light %d" % id, "(%s).includes('sel')" % lit(id), 5)
    await p.eval("location.hash = '#event=999999999'")
    await p.wait("an unknown #event to be said", "document.getElementById('inspector').textContent.length > 0", 5)
    await p.shot(shots, "contract-missing")
    v.call("POST", "/api/play")
    v.wait("the run to end", lambda: v.state()["ended"], 60)
    await p.wait("the page to show the end", "document.getElementById('status').textContent.includes('ended')", 5)
    # the demo's server closed its listening socket before the end
    await p.eval("location.hash = ''")
    t = await p.wait("the connections at the end", "(t => t.includes('TIME-WAIT') && !t.includes('LISTEN') ? t : '')(document.getElementById('conns').textContent)", 5)
    if not t:
        fail("at the end the connections read %r" % await p.eval("document.getElementById('conns').textContent"))
    await p.shot(shots, "contract-end")
    ok("page")


def mode_page(v, chromium, port, shots):
    asyncio.run(page_run(v, chromium, int(port), shots))


# ---------------------------------------------------------------- serve

def curl(url):
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", url],
                          capture_output=True, text=True).stdout


async def ws_echo(wsurl, msg):
    async with websockets.connect(wsurl + "/echo") as ws:
        await ws.send(msg)
        return await asyncio.wait_for(ws.recv(), 10)


async def skipped(v, wsurl):
    """A page that never acks falls behind in a free run: its live view is
    thinned, and it is told so."""
    live_from = v.state()["last"] + 1
    async with websockets.connect(live_url(v, frm=live_from), origin=v.base, max_size=None, max_queue=None, ping_interval=None) as live:
        data = os.urandom(1 << 20)
        got, seen = {}, 0
        for i in range(20):
            async with websockets.connect(wsurl + "/echo", max_size=None) as ws:
                await ws.send(data)
                check(await asyncio.wait_for(ws.recv(), 20) == data, "1 MiB echo %d differs" % i)
            more = await live_read(live, ["skipped"], 0.2)
            for k, l in more.items():
                got.setdefault(k, []).extend(l)
            seen = max([seen] + [e["id"] for m in more.get("events", []) for e in m["events"]])
            check(seen - live_from < 20000 + 2000, "a page that never acked was sent %d events" % (seen - live_from))
            # at most 20000 go unacknowledged: an ack of them, once the
            # run is more than 50000 ahead, finds the page thinned
            if v.state()["last"] - seen > 52000:
                await live.send(json.dumps({"type": "ack", "last": seen}))
                more = await live_read(live, ["skipped"], 5)
                for k, l in more.items():
                    got.setdefault(k, []).extend(l)
                break
        if not check("skipped" in got, "a page that never acked was not told it was thinned (%d events)" % v.state()["last"]):
            return
        m = got["skipped"][0]
        check(set(m) == {"type", "from", "to", "count", "fetchable"}, "skipped message %r" % m)
        check(m["count"] == m["to"] - m["from"] + 1 or m["count"] <= m["to"] - m["from"] + 1, "skipped %r" % m)
        if m["fetchable"]:
            r = v.call("GET", "/api/events?from=%d&to=%d" % (m["from"], min(m["to"], m["from"] + 99)))
            check(r and r["events"] and r["events"][0]["id"] == m["from"], "the skipped events are not fetchable: %r" % (r and r["events"][:1]))
        st = v.state()
        check(st["skipped"] >= m["count"], "state.skipped %d after a skip of %d" % (st["skipped"], m["count"]))
        ok("skipped %r" % m)


def mode_serve(v, stack):
    """A serve --ui on a TUN, with curl and python3-websockets as its peers."""
    st = v.state()
    check_state(st, "serve")
    check(st["live"] and not st["paused"] and st["mode"] == "free", "serve --ui does not run freely: %r" % st)
    node = st["nodes"][0] if st["nodes"] else ""
    check(node, "serve has no node")
    check(curl(stack + "/") == "200", "curl through the stack failed")
    got = asyncio.run(ws_echo(stack.replace("http://", "ws://"), "hello from python"))
    check(got == "hello from python", "python3-websockets echo: %r" % got)
    v.wait("the peer's packets", lambda: any(e["layer"] == "link" and e["dir"] == "in" for e in
                                            v.call("GET", "/api/events?from=1&to=100000")["events"]), 10)
    evs = v.call("GET", "/api/events?from=1&to=100000")["events"]
    check_events(evs, "serve")
    fr = [e for e in evs if e["layer"] == "ws" and e["event"] == "frame" and e["dir"] == "in"]
    check(fr, "no frame from python3-websockets in the events")
    # hold the SYN of the next connection coming in, edit nothing, release it
    port = int(stack.rsplit(":", 1)[1].strip("/"))
    a = v.call("POST", "/api/hold", {"point": "link-ingress", "node": node, "filter": "tcp and syn", "count": 1})
    proc = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30", stack + "/"],
                            stdout=subprocess.PIPE, text=True)
    hs = v.wait("the SYN held", lambda: v.call("GET", "/api/holds")["holds"], 15)
    if hs:
        h = hs[0]
        check("S" in h["fields"].get("flags", ""), "held at ingress: %r" % h["fields"])
        check(h["point"] == "link-ingress" and h["node"] == node, "held %r" % h)
        r = v.call("POST", "/api/holds/%d" % h["id"], {"action": "release"})
        check(r and r["action"] == "release" and not r.get("failed"), "release answered %r" % (r,))
        # a packet held at the link stops the run where it was held
        st = v.state()
        check(st["paused"], "a held SYN did not stop the run: %r" % st)
        v.call("POST", "/api/play")
    out, _ = proc.communicate(timeout=40)
    check(out == "200", "curl whose SYN was held and released: %r" % out)
    r = conns(v)
    if r:
        check(any(c["proto"] == "tcp" and c["local"].endswith(":%d" % port) for c in r["conns"]), "conns lists no socket on port %d: %r" % (port, r["conns"][:3]))
    asyncio.run(skipped(v, stack.replace("http://", "ws://")))
    # pause, step, play
    st = v.call("POST", "/api/pause")
    check(st and st["paused"], "pause answered %r" % (st,))
    check(v.call("POST", "/api/play")["paused"] is False, "play did not run")
    exports(v)
    ok("serve")


def mode_offline(v):
    st = v.state()
    check_state(st, "offline")
    check(not st["live"] and not st["ended"], "offline state %r" % st)
    for p, b in (("/api/play", None), ("/api/pause", None), ("/api/step", {}), ("/api/clock/advance", {"ms": 1}),
                 ("/api/hold", {"point": "link-egress", "node": "client", "count": 1}),
                 ("/api/rules", {"node": "client", "point": "egress", "rule": "loss 1%"}),
                 ("/api/breakpoints", {"breakpoints": ["tcp"]})):
        v.error("POST", p, b, want=409)
    events(v, bytes_kept=False)
    exports(v, pcap=False)
    ok("offline")


def main():
    v = View(sys.argv[2], sys.argv[3])
    for mode in sys.argv[1].split(","):
        if mode == "api":
            mode_api(v)
        elif mode == "serve":
            mode_serve(v, sys.argv[4])
        elif mode == "page":
            mode_page(v, *sys.argv[4:7])
        elif mode == "hostile":
            mode_hostile(v)
        elif mode == "offline":
            mode_offline(v)
        else:
            fail("unknown mode " + mode)
    print("%d failed" % len(FAILS))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
