// Controls: play, pause, step and step to the next unit, the keyboard,
// breakpoints, the paused clock's timers with "fire now", and exports.

import * as api from "./api.js";
import { fmtDur } from "./fields.js";
import { tick, ticker } from "./dom.js";
import { isDrop, isPacket, isSegment } from "./model.js";

// TIME_WAIT is how long a connection stays in TIME-WAIT, in ns (gVisor's
// DefaultTCPTimeWaitTimeout).
const TIME_WAIT = 60e9;

const $ = (id) => document.getElementById(id);

// dur is a time as fmtDur writes it, its number and unit kept on one line.
const dur = (ns) => fmtDur(ns).replace(" ", "\u00a0");

// lines is the text of a box of one item a line, without blank lines and
// the spaces around each.
const lines = (v) => v.split("\n").map((s) => s.trim()).filter(Boolean).join("\n");

export class Controls {
  constructor(app) {
    this.app = app;
    $("play").onclick = () => this.act("/api/play");
    $("pause").onclick = () => this.act("/api/pause");
    $("step").onclick = () => this.step("event");
    $("stepunit").onclick = () => this.step($("stepto").value);
    for (const a of document.querySelectorAll("[data-export]")) {
      a.href = api.exportURL(a.dataset.export);
      a.setAttribute("download", "glassnet." + (a.dataset.export === "perfetto" ? "perfetto.json" : a.dataset.export));
    }
    document.addEventListener("keydown", (e) => this.key(e));
    this.bpEl = $("breakpoints");
    this.bpEl.innerHTML =
      '<textarea id="bp-text" rows="3" spellcheck="false" placeholder="one per line, e.g.&#10;tcp and fin&#10;ws close&#10;rcv_wnd == 0&#10;retransmit&#10;state TIME-WAIT" title="Filters as in --egress/--ingress rules (tcp and fin, ws close, port 80 and syn), or TCP conditions (rcv_wnd == 0, retransmit, state TIME-WAIT)"></textarea>' +
      '<div class="btns"><button id="bp-apply" data-action="breakpoints">Set breakpoints</button><span id="bp-msg"></span></div>';
    $("bp-apply").onclick = () => this.setBreakpoints();
    this.timersEl = $("timers");
    this.timersEl.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-fire]");
      if (b) this.fire(b.fireMs || 1);
    });
  }

  async act(path, body) {
    try {
      const st = await api.post(path, body);
      // The live stream sends every change in order; an answer may arrive
      // after a newer state (a breakpoint hit at once), so it is used only
      // without the stream.
      if (st && !this.app.liveOpen()) this.app.setState(st);
      this.app.invalidate();
      return st;
    } catch (err) {
      this.app.status("error", path.replace("/api/", "") + ": " + err.message);
      return null;
    }
  }

  step(to) {
    this.app.pinned = false;
    return this.act("/api/step", to && to !== "event" ? { to } : {});
  }

  key(e) {
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === " ") {
      e.preventDefault();
      if (this.app.readonly || this.app.state.ended) return;
      this.act(this.app.state.paused ? "/api/play" : "/api/pause");
    } else if (e.key === "n") {
      if (!this.app.readonly && !this.app.state.ended) this.step("event");
    } else if (e.key === "f") {
      if (!this.app.readonly && !this.app.state.ended) this.step("frame");
    } else if (e.key === "j") this.app.move(1);
    else if (e.key === "k") this.app.move(-1);
  }

  async setBreakpoints() {
    const list = lines($("bp-text").value).split("\n").filter(Boolean);
    const msg = $("bp-msg");
    try {
      const r = await api.post("/api/breakpoints", { breakpoints: list });
      msg.className = "ok";
      msg.textContent = list.length ? list.length + " set" : "none set";
      msg.dataset.result = "ok";
      if (r && r.breakpoints) {
        this.app.state.breakpoints = r.breakpoints;
        $("bp-text").dataset.synced = r.breakpoints.join("\n");
      }
    } catch (err) {
      msg.className = "err";
      msg.textContent = err.message;
      msg.dataset.result = "error";
    }
  }

  // fire moves the paused clock so that a timer fires. What it sends comes
  // when the stack runs on: until then the rows of the timers it made due
  // say they fired.
  async fire(ms) {
    const st = this.app.store;
    const last = st.events.length ? st.events[st.events.length - 1].id : 0;
    if (!(await this.act("/api/clock/advance", { ms }))) return;
    this.fired = { last, ms };
    this.tsig = "";
    this.app.invalidate();
  }

  // firedNote is what the row of a timer due in left ns says after "fire
  // now" made it due, until the stack has run on (an event came), or "".
  firedNote(left, last, what) {
    const f = this.fired;
    if (!f || !last || last.id !== f.last || left > f.ms * 1e6) return "";
    return "fired: the clock moved " + f.ms + " ms; " + what + " when the stack runs on (step or play)";
  }

  render() {
    const app = this.app;
    const s = app.state;
    const ro = app.readonly;
    $("play").disabled = ro || !!s.ended || (s.live && !s.paused);
    $("pause").disabled = ro || !!s.paused || !!s.ended;
    $("step").disabled = ro || !s.paused || !!s.ended;
    $("stepunit").disabled = ro || !s.paused || !!s.ended;
    for (const a of document.querySelectorAll("[data-export]")) {
      // a history without packet bytes (a JSON-lines trace) has no capture
      const off = !!api.traceURL || (a.dataset.export === "pcapng" && !s.capture);
      a.setAttribute("aria-disabled", String(off));
      if (a.dataset.export === "pcapng") a.title = s.capture ? "Packets of every stack for Wireshark or tshark: one interface per stack, so each packet is in it twice (sent and received); filter by frame.interface_name before Wireshark's TCP analysis" : "No packet bytes in this history to capture (a trace in JSON lines keeps none; record the run with --pcap)";
      if (a.dataset.export === "jsonl") a.title = "Every event as a JSON line";
      // the history keeps the newest events: say when the oldest are gone
      if (s.first > 1 && !off) a.title += " (events #" + s.first + " to #" + s.last + ": the view keeps the newest; the " + (s.first - 1) + " before are not in it, --trace FILE keeps every one)";
    }
    const bp = $("bp-text");
    // a recorded trace does not run, so nothing can stop it
    if (bp.disabled !== ro) {
      bp.disabled = ro;
      $("bp-apply").disabled = ro;
      if (ro) {
        bp.placeholder = "A recorded trace: breakpoints stop a live run.";
        $("bp-msg").textContent = "";
      }
    }
    // The box shows the breakpoints set, also by another page or a
    // script, unless it holds an edit not set yet.
    const set = (s.breakpoints || []).join("\n");
    if (set !== (bp.dataset.synced || "")) {
      if (document.activeElement !== bp && lines(bp.value) === (bp.dataset.synced || "")) bp.value = set;
      bp.dataset.synced = set;
      // The count beside the button is the breakpoints set now, not
      // what this page last set.
      const n = (s.breakpoints || []).length;
      const msg = $("bp-msg");
      msg.className = "ok";
      msg.textContent = n ? n + " set" : "none set";
      msg.dataset.result = "ok";
    }
    this.timers();
  }

  // timers: the retransmission timer of each stack of the focused
  // connection, from its last TCP state, counted down on the stack's clock.
  timers() {
    const app = this.app;
    const st = app.store;
    const c = st.conns.get(app.focus);
    // the timers are those at the event selected, as the connections
    // table and the state change show it there, in a live run too; with
    // none selected a live run's count down on its clock, from its
    // latest event
    const at = app.selected ? st.get(app.selected) : null;
    const latest = st.events.length ? st.events[st.events.length - 1] : null;
    // a timer that is not the live one cannot be fired: a recorded run's,
    // an ended run's, or one at an event before the latest
    const over = app.readonly || app.state.ended || (at && latest && at.id !== latest.id);
    // the run's end closed its stacks: true at its latest event, not at
    // one selected before it
    const ended = app.state.ended && !at;
    const last = at || latest;
    // while the run plays freely the connections table shows the server's
    // socket table: the timers follow the state it shows (the trace's
    // state may be newer or older than it until the next table)
    const table = !at && app.connsView && app.connsView.ref() === null;
    const sig = st.version + "|" + app.focus + "|" + app.state.paused + "|" + app.state.clock_paused + "|" + app.state.ended + "|" + (at ? at.id : 0) + "|" + (table ? app.connsAt + JSON.stringify(app.conns) : "");
    if (sig === this.tsig) return;
    this.tsig = sig;
    // Rows and their "fire now" buttons are kept and changed in place: they
    // change with every events message, and a button rebuilt between a
    // press and its release loses the click.
    // the connection's events up to the one the timers are at
    const ids = c ? (at ? c.ids.filter((id) => id <= at.id) : c.ids) : [];
    const rows = [];
    const stopped = app.state.clock_paused || app.state.paused ? " (clock stopped)" : "";
    for (const n of c && last ? c.nodes : []) {
      // at a segment this stack received, the state it left, as the
      // table and the state change show it
      const s = at && app.connsView ? app.connsView.stateShown(c, n, at.id) : st.stateAt(c, n, at ? at.id : Infinity);
      const sid = s ? s.id : 0;
      if (!s || s.state === "SYN-SENT" || s.state === "SYN-RCVD") {
        // In the handshake (or before any TCP state was traced) a SYN or
        // SYN-ACK the stack sent waits on the handshake's timer: 1 s,
        // doubled for each time sent again; the handshake reports its
        // state once, with the first.
        // (TCP's own steps when traced: a copy a rule dropped counts)
        const out = ids.map((id) => st.get(id)).filter((e) => e.node === n && e.dir === "out" && /S/.test(e.flags || ""));
        const segs = out.filter(isSegment);
        const syns = segs.length ? segs : out.filter(isPacket);
        if (!syns.length || ended) continue;
        const sent = syns[syns.length - 1];
        // the handshake is over once the stack sent anything but a SYN
        // after it (its ACK, data): a capture has no state to say so
        if (!s && ids.some((id) => id > sent.id && (e => e.node === n && isPacket(e) && e.dir === "out" && !/S/.test(e.flags || ""))(st.get(id)))) continue;
        const rto = 1e9 * 2 ** (syns.length - 1);
        const left = Math.max(0, rto - (last.t - sent.t));
        const row = this.timerRow(n);
        const what = sent.flags.includes(".") ? "SYN-ACK" : "SYN";
        say(row, "", "The handshake's retransmission timer (RFC 6298: 1 s at first, doubled each time)",
          this.firedNote(left, last, "it sends the " + what + " again") || [what + (syns.length > 1 ? " sent " + syns.length + " times" : " sent") + ": again in ≈\u00a0", dur(left), " of " + dur(rto) + stopped]);
        fireButton(row, over, left);
        rows.push(row);
        continue;
      }
      // the last data segment this stack sent arms the timer (TCP's own
      // step when it is traced: a copy a rule dropped was sent all the same)
      let sent = null;
      for (let i = ids.length - 1; i >= 0; i--) {
        const e = st.get(ids[i]);
        if (e.node === n && (isPacket(e) || isSegment(e)) && e.dir === "out" && (e.payload_len > 0 || /[SF]/.test(e.flags || ""))) {
          sent = e;
          break;
        }
      }
      // a closed connection has no timer, whatever count in flight its
      // last state kept
      const shown = (table && app.connsView.shownState(app.focus, n)) || s.state;
      const closed = shown === "CLOSED" || shown === "TIME-WAIT";
      // data sent after the last TCP state is in flight too
      const waiting = (s.outstanding > 0 || (sent && sent.id > sid)) && !ended && !closed;
      const row = this.timerRow(n);
      if (closed) {
        if (shown === "CLOSED") {
          say(row, "hint", "", "connection closed: no retransmission timer");
          fireButton(row, true);
        } else if (app.state.live && ended) {
          // the run is over: its stacks are closed, TIME-WAIT with them
          say(row, "hint", "TIME-WAIT (RFC 9293 3.6.1) ends with the stack: the run has ended and its stacks are closed", "TIME-WAIT when the run ended; the stack is closed now");
          fireButton(row, true);
        } else {
          // 2MSL: gVisor's TIME-WAIT lasts 60 s (Linux's TCP_TIMEWAIT_LEN)
          const left = Math.min(TIME_WAIT, Math.max(0, TIME_WAIT - (last.t - s.t)));
          say(row, "hint", "TIME-WAIT (RFC 9293 3.6.1): the connection's addresses are kept for 2 MSL so that a late segment of it is not taken for a new connection's",
            this.firedNote(left, last, "TIME-WAIT ends") || ["TIME-WAIT: closes in ≈\u00a0", dur(left), " of " + dur(TIME_WAIT) + stopped]);
          fireButton(row, over, left);
        }
      } else if (waiting && sent) {
        // Each time the timer fires TCP sends again and doubles the RTO
        // (RFC 6298 5.5), with no segment received, so no new report:
        // count the copies sent again since the last one (TCP's own
        // steps when traced, else the packets).
        // A copy sent again counts when it came an RTO after the send
        // before it (the timer fired); a fast retransmission or a tail
        // loss probe comes sooner and leaves the RTO as it was.
        const segs = ids.some((id) => id > sid && st.get(id).node === n && isSegment(st.get(id)));
        // With SACK on both sides the stack's first timer is RACK's tail
        // loss probe (RFC 8985 7): it sends the last segment again at
        // 2 SRTT + 200 ms at most, no later than the RTO would, and
        // leaves the RTO as it was; the RTO fires only after it.
        const sack = ids.filter((id) => { const e = st.get(id); return isPacket(e) && /S/.test(e.flags || ""); });
        let probe = sack.length >= 2 && sack.every((id) => /sackOK/.test(st.get(id).options || st.get(id).summary || ""));
        let backoff = 0, rto = s.rto, prevT = null, probed = false;
        for (const id of ids) {
          if (id <= sid) continue;
          const e = st.get(id);
          if (e.node !== n || e.dir !== "out" || !(segs ? isSegment(e) : e.layer === "link" && (isPacket(e) || isDrop(e)))) continue;
          if (st.retrans.has(id) && prevT !== null && e.t - prevT >= 0.9 * Math.min(rto, s.rto)) {
            if (probe) {
              probe = false;
              probed = true;
            } else {
              backoff++;
              rto = Math.min(rto * 2, 120e9);
            }
          }
          prevT = e.t;
        }
        const left = Math.max(0, rto - (last.t - sent.t));
        say(row, "", "Retransmission timer: fires if no ACK comes for the data in flight" + (probed ? "; a tail loss probe (RFC 8985 7) went first and left it as it was" : "") + (backoff ? "; doubled for each of the " + backoff + " times it fired since the last TCP report (RFC 6298 5.5)" : ""),
          this.firedNote(left, last, "TCP sends again") || ["RTO in ≈\u00a0", dur(left), " of " + dur(rto) + (probed && !backoff ? " (after a tail loss probe)" : "") + (backoff ? " (backed off ×" + 2 ** backoff + ")" : "") + stopped]);
        fireButton(row, over, left);
      } else {
        say(row, "hint", "", "no data in flight: retransmission timer idle (RTO " + fmtDur(s.rto) + ")");
        fireButton(row, true);
      }
      rows.push(row);
    }
    if (!rows.length) {
      const msg = !c || !last ? "No connection." : "No TCP state yet.";
      if (this.timersEl.firstElementChild?.className !== "empty" || this.timersEl.textContent !== msg) this.timersEl.innerHTML = '<div class="empty">' + msg + "</div>";
      return;
    }
    // A row kept stays where it is when another comes or goes: taken out
    // and put back, its button would lose the focus and a click being made
    // on it.
    const want = new Set(rows);
    for (const r of [...this.timersEl.children]) if (!want.has(r)) r.remove();
    let next = this.timersEl.firstElementChild;
    for (const r of rows) {
      if (r === next) next = next.nextElementSibling;
      else this.timersEl.insertBefore(r, next);
    }
  }

  // timerRow returns the kept row of node n, made on first use.
  timerRow(n) {
    this.timerRows ??= new Map();
    let row = this.timerRows.get(n);
    if (!row) {
      row = document.createElement("div");
      row.className = "row";
      row.dataset.timerNode = n;
      const b = document.createElement("b");
      b.textContent = n;
      const fire = document.createElement("button");
      fire.className = "live-only";
      fire.title = "Move the paused clock forward so the timer fires now";
      fire.textContent = "fire now";
      fire.dataset.fire = ""; // what it moves the clock by is fireMs: see fireButton
      row.append(b, " ", document.createElement("span"), " ", fire);
      this.timerRows.set(n, row);
    }
    return row;
  }
}

// say writes what a timer's row says, changing only what differs: its
// class, its tooltip and its text, which is either words alone or, for a
// timer that counts down, [before, count, after]. The count is the one
// text node that changes as the clock goes on (tick), left as it is while
// text in the row is selected.
function say(row, cls, title, text) {
  const span = row.querySelector("span");
  if (span.className !== cls) span.className = cls;
  if (span.title !== title) span.title = title;
  if (typeof text === "string") {
    if (span.childNodes.length !== 1 || span.firstChild.nodeType !== Node.TEXT_NODE) span.replaceChildren(text);
    else if (span.firstChild.nodeValue !== text) span.firstChild.nodeValue = text;
    return;
  }
  const [before, count, after] = text;
  const k = span.childNodes;
  if (k.length !== 3 || k[0].nodeType !== Node.TEXT_NODE || !(k[1].dataset && "tick" in k[1].dataset) || k[2].nodeType !== Node.TEXT_NODE) {
    span.replaceChildren(before);
    ticker(span).nodeValue = count;
    span.append(after);
    return;
  }
  if (k[0].nodeValue !== before) k[0].nodeValue = before;
  if (k[2].nodeValue !== after) k[2].nodeValue = after;
  tick(ticker(span), count, row);
}

// fireButton shows a row's "fire now" (unless off), set to move the
// clock by what is left of the timer, in ns. That changes with every
// count, so it is a property of the button and not an attribute: an
// attribute changed every tick would be a change to the page for a script
// watching it, with nothing a person sees changed.
function fireButton(row, off, left) {
  const fire = row.querySelector("button");
  if (fire.hidden !== off) fire.hidden = off;
  if (off) return;
  fire.fireMs = Math.max(1, Math.ceil(left / 1e6));
}
