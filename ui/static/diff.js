// State change: for each stack of the focused connection, its TCP
// variables at the selected step (or where the stack stopped) next to the
// values before, the changed ones marked, and what caused the change: the
// received segment, an application write or read, or a timer.

import { isPacket, isState } from "./model.js";
import { FIELD_HELP, esc, fieldValue, flagWords } from "./fields.js";
import { patch } from "./dom.js";
import { ssState } from "./states.js";

// CAUSE_HELP says what a column's "cause:" line is: a student reads the
// word, not the code that finds it.
const CAUSE_HELP =
  "cause: what made TCP change the marked variables since its previous report of this connection: " +
  "a segment received (its flags, data and window), the application's writes and reads, a timer that fired. " +
  "The # at the end is TCP's report (a tcp state event) the values below are read from."

const VARS = ["state", "rel_snd_una", "rel_snd_nxt", "rel_rcv_nxt", "snd_wnd", "rcv_wnd", "cwnd", "ssthresh", "srtt", "rto", "outstanding", "snd_buf_used", "rcv_buf_used"];
// shown writes a variable's value: a state as glassnet ss names it (its
// data-new keeps the trace's name).
const shown = (k, v) => (k === "state" ? ssState(v) : fieldValue(k, v));
const SHORT = { rel_snd_una: "snd_una", rel_snd_nxt: "snd_nxt", rel_rcv_nxt: "rcv_nxt", snd_buf_used: "send-q", rcv_buf_used: "recv-q", outstanding: "in flight" };

export class DiffView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    // The columns are drawn again with every events message: a link is
    // followed on press, so a redraw between press and release does not
    // lose it; the click (also from the keyboard) does the same. (The
    // columns are changed in place, and a link kept leads where it led.)
    const follow = (e) => {
      const a = e.target.closest("[data-goto]");
      if (a) {
        e.preventDefault();
        this.app.select(+a.dataset.goto, "diff");
      }
    };
    el.addEventListener("mousedown", (e) => e.button === 0 && follow(e));
    el.addEventListener("click", follow);
  }

  render() {
    const app = this.app;
    const ref = app.selected || app.state.current || (app.store.events.length ? app.store.events[app.store.events.length - 1].id : 0);
    const sig = app.store.version + "|" + app.focus + "|" + ref;
    if (sig === this.sig) return;
    this.sig = sig;
    const st = app.store;
    const c = st.conns.get(app.focus);
    if (!c) {
      patch(this.el, '<div class="empty">No connection.</div>');
      return;
    }
    const evs = { ids: c.ids, get: (i) => st.get(c.ids[i]) };
    let h = '<div class="diffgrid">';
    const nodes = [...c.nodes];
    if (c.client && nodes[0] !== c.client) nodes.reverse();
    for (const n of nodes) h += this.column(n, evs, ref);
    patch(this.el, h + "</div>");
  }

  column(node, evs, ref) {
    const st = this.app.store;
    // the last state at or before ref; for a segment this stack received
    // on this connection, the state it left, which comes after it (in a
    // batch, after the states of the segments received before it). A
    // segment of another connection (selected, then this one chosen in
    // the table) left none of this one's states.
    let s1 = null;
    const sel = st.get(ref);
    if (sel && sel.node === node && isPacket(sel) && sel.dir === "in" && st.connOf.get(sel.id) === this.app.focus) s1 = this.stateAfter(node, evs, sel);
    for (let i = this.upTo(evs.ids, ref) - 1; !s1 && i >= 0; i--) {
      const e = evs.get(i);
      if (e.node === node && isState(e)) {
        s1 = e;
        break;
      }
    }
    let h = '<div class="diffcol" data-node="' + esc(node) + '"><h3>' + esc(node) + "</h3>";
    if (!s1) {
      // a SYN or SYN-ACK sent puts the stack in SYN-SENT or SYN-RCVD
      // before TCP reports it
      const c = st.conns.get(this.app.focus);
      const syn = c && st.synSent(c, node, ref);
      if (!syn) return h + '<div class="cause">no TCP state yet</div></div>';
      const ack = /\./.test(syn.flags);
      return h + '<div class="cause" data-unreported="' + (ack ? "SYN-RCVD" : "SYN-SENT") + '">' + ssState(ack ? "SYN-RCVD" : "SYN-SENT") + ': it sent the <a href="#event=' + syn.id + '" data-goto="' + syn.id + '">' + (ack ? "SYN-ACK" : "SYN") + " #" + syn.id +
        "</a>; TCP reports the state and its variables when the step that sent it is done</div></div>";
    }
    const s0id = st.stateBefore.get(s1.id);
    const s0 = s0id ? st.get(s0id) : null;
    h += '<div class="cause" data-cause title="' + esc(CAUSE_HELP) + '">' + this.cause(node, evs, s0, s1) + "</div>";
    h += '<table data-state-id="' + s1.id + '"><tbody>';
    for (const k of VARS) {
      if (s1[k] === undefined) continue;
      const was = s0 ? s0[k] : undefined;
      const changed = s0 && was !== s1[k];
      const zero = (k === "snd_wnd" || k === "rcv_wnd") && s1[k] === 0;
      h +=
        '<tr data-field="' + k.replace(/^rel_/, "") + '" data-new="' + esc(s1[k]) + '"' + (changed ? ' data-changed="true"' : "") +
        ' class="' + (changed ? "changed" : "") + (zero ? " zero" : "") + '" title="' + esc(FIELD_HELP[k] || "") + '">' +
        "<td>" + esc(SHORT[k] || k) + "</td>" +
        "<td>" + (changed ? esc(was === undefined ? "unknown" : shown(k, was)) + " → " : "") + esc(shown(k, s1[k])) + (zero ? " (zero window)" : "") + "</td></tr>";
    }
    h += "</tbody></table>";
    // TCP reports its state when a segment comes in, not when it sends:
    // data sent since the report is shown from the packets themselves,
    // so that a step that sends does not read "in flight 0".
    const sent = this.sentSince(node, evs, s1, ref);
    if (sent && s1.rel_snd_nxt !== undefined && sent.end > s1.rel_snd_nxt) {
      const una = s1.rel_snd_una !== undefined ? s1.rel_snd_una : s1.rel_snd_nxt;
      h += '<div class="cause" data-sent-since="' + esc(sent.end) + '">sent since this report: ' + sent.n + " segment" + (sent.n > 1 ? "s" : "") +
        ' up to <a href="#event=' + sent.last.id + '" data-goto="' + sent.last.id + '">#' + sent.last.id + "</a>: snd_nxt " + esc(s1.rel_snd_nxt) + " → " + esc(sent.end) +
        ", " + esc(sent.end - una) + " bytes not yet acknowledged</div>";
    }
    return h + "</div>";
  }

  // sentSince finds the segments node sent after the state report s1 up
  // to the event ref: how many, the last, and the relative sequence
  // number after the highest (SYN and FIN count one); null when none.
  sentSince(node, evs, s1, ref) {
    let r = null;
    for (let i = this.upTo(evs.ids, s1.id), end = this.upTo(evs.ids, ref); i < end; i++) {
      const e = evs.get(i);
      if (e.node !== node || !isPacket(e) || e.dir !== "out" || e.rel_seq === undefined) continue;
      const len = (e.payload_len || 0) + (/[SF]/.test(e.flags || "") ? 1 : 0);
      if (!len) continue;
      r = r || { n: 0, end: 0 };
      r.n++;
      r.last = e;
      r.end = Math.max(r.end, e.rel_seq + len);
    }
    return r;
  }

  // upTo returns how many of the sorted ids are <= id.
  upTo(ids, id) {
    let lo = 0, hi = ids.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (ids[m] <= id) lo = m + 1;
      else hi = m;
    }
    return lo;
  }

  // explainer is the received segment that moved s0 to s1, found by what
  // it changed: for a new SND.UNA, the first segment that carried that ACK
  // (those after it with the same ACK are duplicates or window updates);
  // else for a new RCV.NXT, the segment that ends there. Segments received
  // in one batch are all read off the link before TCP reports on any, so
  // the segment may come before s0.
  explainer(node, evs, s0, s1) {
    const una = s1.rel_snd_una !== s0.rel_snd_una, nxt = s1.rel_rcv_nxt !== s0.rel_rcv_nxt;
    if (!una && !nxt) return null;
    let found = null;
    for (let i = this.upTo(evs.ids, s1.id) - 1, n = 0; i >= 0 && n < 400; i--, n++) {
      const e = evs.get(i);
      if (e.node !== node || !isPacket(e) || e.dir !== "in") continue;
      if (una) {
        if (e.rel_ack === s1.rel_snd_una) found = e;
        else if (e.rel_ack < s1.rel_snd_una) break;
      } else {
        const len = (e.payload_len || 0) + (/F/.test(e.flags || "") ? 1 : 0);
        if (len > 0 && e.rel_seq + len === s1.rel_rcv_nxt) return e;
      }
    }
    return found;
  }

  // stateAfter is the state report that received segment p left: among
  // the next reports of its stack, the one p explains (for a RST, the
  // report of CLOSED it brought on: it moves neither SND.UNA nor RCV.NXT,
  // and the reports of the segments read in its batch before it come
  // first); else the first report after it.
  stateAfter(node, evs, p) {
    const st = this.app.store;
    const rst = /R/.test(p.flags || "");
    let first = null;
    for (let i = this.upTo(evs.ids, p.id), n = 0, reports = 0; i < evs.ids.length && n < 400 && reports < 64; i++, n++) {
      const e = evs.get(i);
      if (e.node !== node || !isState(e)) continue;
      first = first || e;
      reports++;
      if (rst && e.state === "CLOSED" && e.dir !== "out") return e;
      const s0 = st.get(st.stateBefore.get(e.id));
      if (!rst && s0 && this.explainer(node, evs, s0, e) === p) return e;
    }
    return first;
  }

  // scaled is " ×2^N = W" for the window field of p, a segment node
  // received, when both SYNs offered window scaling (RFC 7323); "" for a
  // SYN (never scaled) or without scaling.
  scaled(evs, node, p) {
    if (/S/.test(p.flags || "") || typeof p.win !== "number") return "";
    let peer = null, own = null;
    for (let i = 0; i < evs.ids.length && (peer === null || own === null); i++) {
      const e = evs.get(i);
      if (e.node !== node || !isPacket(e) || !/S/.test(e.flags || "")) continue;
      const m = /wscale (\d+)/.exec(e.options || "");
      if (e.dir === "in") peer = m ? +m[1] : -1;
      else own = m ? +m[1] : -1;
    }
    if (!(peer > 0) || !(own >= 0)) return "";
    return " ×" + 2 ** peer + " = " + p.win * 2 ** peer;
  }

  // cause names what happened on node between two state reports.
  cause(node, evs, s0, s1) {
    const from = s0 ? s0.id : 0;
    const parts = [];
    let pkt = null;
    let writes = 0, reads = 0, resent = 0;
    let sent = null, call = "";
    const link = (e, t) => '<a href="#event=' + e.id + '" data-goto="' + e.id + '">' + esc(t) + "</a>";
    for (let i = this.upTo(evs.ids, from); i < evs.ids.length && evs.ids[i] <= s1.id; i++) {
      const e = evs.get(i);
      if (e.node !== node) continue;
      if (isPacket(e) && e.dir === "in") pkt = e;
      if (isPacket(e) && e.dir === "out" && /[SFR]/.test(e.flags || "")) sent = e;
      if (e.layer === "socket" && (e.event === "connect" || e.event === "shutdown" || e.event === "close")) call = e.event;
      if (e.layer === "socket" && e.event === "send") writes += e.n;
      if (e.layer === "socket" && e.event === "recv") reads += e.n;
      if (isPacket(e) && e.dir === "out" && this.app.store.retrans.has(e.id)) resent++;
    }
    if (s1.dir === "out") {
      // a state entered by sending: the SYN, SYN-ACK or FIN, and the call
      // that sent it (the call's own event comes once it returns)
      for (let i = this.upTo(evs.ids, s1.id), n = 0; !call && i < evs.ids.length && n < 40; i++, n++) {
        const e = evs.get(i);
        if (e.node === node && e.layer === "socket" && (e.event === "connect" || e.event === "shutdown" || e.event === "close")) call = e.event;
      }
      // CLOSED by sending: a reset (an abort, or a close with data
      // unread), or no segment at all when the stack gave up on its peer
      const what = sent
        ? link(sent, flagWords(sent.flags) + " sent")
        : s1.state === "SYN-SENT" || s1.state === "SYN-RCVD"
          ? "SYN sent"
          : s1.state === "CLOSED"
            ? "the stack gave up on its peer (retransmissions or keep-alives unanswered)"
            : "FIN queued";
      parts.push(what + (call ? " by the application's " + call + "()" : ""));
      if (pkt && /S/.test(pkt.flags || "") && s1.state === "SYN-RCVD") parts.push(link(pkt, "SYN received"));
      return "cause: " + parts.join("; ") + " · " + link(s1, "#" + s1.id);
    }
    // the segment whose ACK or end this report took, when one did
    const why = s0 && this.explainer(node, evs, s0, s1);
    if (why) pkt = why;
    let injected = null;
    if (!pkt && s1.state === "CLOSED") {
      // a RST is reported after the segments that came before it, which
      // were reported one by one since: the one that ended it came in
      // earlier, off the wire, or from a rule that resets the connection
      // at both ends (its RST back to this stack never crosses the link)
      for (let i = this.upTo(evs.ids, s1.id) - 1, n = 0; i >= 0 && n < 400; i--, n++) {
        const e = evs.get(i);
        if (e.node !== node) continue;
        if (isPacket(e) && e.dir === "in" && (e.flags || "").includes("R")) {
          pkt = e;
          break;
        }
        if (e.event === "verdict" && e.action === "inject" && e.reason === "rst") {
          injected = e;
          break;
        }
      }
    }
    if (injected) parts.push(link(injected, "RST received from the rule " + JSON.stringify(injected.rule || "") + ", which reset the connection"));
    if (pkt) {
      let what = "segment received";
      const f = pkt.flags || "";
      if (f.includes("R")) what = "RST received";
      else if (f.includes("S")) what = flagWords(f) + " received";
      else if (f.includes("F")) what = s0 && s0.state === "FIN-WAIT1" && s1.state === "TIME-WAIT" ? "FIN received, with the ACK of ours (" + ssState("FIN-WAIT2") + " skipped)" : "FIN received";
      else if (pkt.payload_len > 0) what = pkt.payload_len + " bytes of data received";
      else if (f.includes(".")) what = "ACK received";
      parts.push(link(pkt, what) + (pkt.win === 0 ? " with window 0" : " (win " + esc(pkt.win + this.scaled(evs, node, pkt)) + ")"));
    }
    // (a number and its unit on one line)
    if (writes) parts.push("application write of " + esc(writes) + "\u00a0B");
    if (reads) parts.push("application read of " + esc(reads) + "\u00a0B");
    if (resent) parts.push("retransmission timer fired (" + resent + " resent)");
    if (!parts.length) parts.push(s0 ? "a timer or the stack itself" : "first report");
    return "cause: " + parts.join("; ") + " · " + link(s1, "#" + s1.id);
  }
}
