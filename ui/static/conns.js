// Connections: an ss-like table. Live, the server's socket table; from a
// recorded trace, the last TCP state each stack reported.

import { connKey } from "./model.js";
import { esc, fmtDur } from "./fields.js";

export class ConnsView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.key = "";
    // on press, not click: a redraw between press and release must not lose it
    el.addEventListener("mousedown", (e) => {
      if (e.button !== 0) return;
      const tr = e.target.closest("tr[data-conn]");
      if (!tr) return;
      this.app.setFocus(tr.dataset.conn);
      const c = this.app.store.conns.get(tr.dataset.conn);
      if (c && !this.app.selected) this.app.invalidate();
    });
  }

  rows() {
    const app = this.app;
    const st = app.store;
    if (app.conns && app.conns.length) {
      return app.conns.map((c) => ({
        key: c.peer ? connKey(c.local + "->" + c.peer) : c.local,
        node: c.node,
        // a UDP socket's state is the stack's datagram one (BOUND,
        // CONNECTED): the protocol in front tells it from a TCP socket on
        // the same port
        state: c.proto && !c.proto.startsWith("tcp") ? c.proto + " " + c.state : c.state,
        local: c.local,
        peer: c.peer || "*",
        recv_q: c.recv_q,
        send_q: c.send_q,
        cwnd: c.cwnd,
        srtt: c.srtt_ms !== undefined ? c.srtt_ms + " ms" : "",
        rto: c.rto_ms !== undefined ? c.rto_ms + " ms" : "",
        wnd: c.snd_wnd !== undefined ? c.snd_wnd + "/" + c.rcv_wnd : "",
      }));
    }
    const out = [];
    for (const c of st.tcpConns()) {
      const nodes = c.nodes.size ? [...c.nodes] : [""];
      for (const n of nodes) {
        const sid = c.states.get(n);
        const s = sid ? st.get(sid) : null;
        const [a, b] = c.key.split(" ⇄ ");
        // local is the endpoint the node's socket events name first
        let local = a, peer = b;
        for (const id of c.ids) {
          const e = st.get(id);
          if (e.node === n && (e.layer === "socket" || e.layer === "ws") && e.conn && e.conn.includes("->")) {
            [local, peer] = e.conn.split("->");
            break;
          }
        }
        out.push({
          key: c.key,
          node: n,
          state: s ? s.state : "…",
          local,
          peer,
          recv_q: s ? s.rcv_buf_used : "",
          send_q: s ? s.snd_buf_used : "",
          cwnd: s ? s.cwnd : "",
          srtt: s ? fmtDur(s.srtt) : "",
          rto: s ? fmtDur(s.rto) : "",
          wnd: s ? s.snd_wnd + "/" + s.rcv_wnd : "",
        });
      }
    }
    return out;
  }

  render() {
    const app = this.app;
    const sig = app.store.version + "|" + app.focus + "|" + (app.conns ? JSON.stringify(app.conns) : "");
    if (sig === this.sig) return;
    this.sig = sig;
    const rows = this.rows();
    if (!rows.length) {
      this.el.innerHTML = '<div class="empty">No TCP connection yet.</div>';
      return;
    }
    let h =
      "<table><thead><tr>" +
      '<th title="The stack that owns the socket, and the TCP state (RFC 9293)">stack<br>state</th>' +
      '<th title="local address -> peer address">local<br>→ peer</th>' +
      '<th title="Recv-Q: bytes received, not yet read by the application">recv‑q</th>' +
      '<th title="Send-Q: bytes written, not yet acknowledged by the peer">send‑q</th>' +
      '<th title="Congestion window, in segments">cwnd</th>' +
      '<th title="Smoothed round-trip time">rtt</th>' +
      "</tr></thead><tbody>";
    for (const r of rows) {
      h +=
        '<tr data-conn="' + esc(r.key) + '" data-node="' + esc(r.node || "") + '" aria-selected="' + (r.key === app.focus) + '" title="' + esc("rto " + r.rto + ", send/receive window " + r.wnd + " bytes") + '">' +
        // two lines a cell, so that the queues and cwnd fit beside them
        '<td class="state"><span class="nd">' + esc(r.node || "") + "</span><br>" + esc(r.state || "") + "</td>" +
        '<td class="addr">' + esc(r.local) + "<br>→ " + esc(r.peer) + "</td>" +
        '<td class="num">' + esc(r.recv_q ?? "") + "</td>" +
        '<td class="num">' + esc(r.send_q ?? "") + "</td>" +
        '<td class="num">' + esc(r.cwnd ?? "") + "</td>" +
        '<td class="num">' + esc(r.srtt) + "</td>" +
        "</tr>";
    }
    this.el.innerHTML = h + "</tbody></table>";
  }
}
