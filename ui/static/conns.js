// Connections: an ss-like table. Live, the server's socket table; from a
// recorded trace, the last TCP state each stack reported.

import { isPacket, endpoint } from "./model.js";
import { esc, fmtDur } from "./fields.js";
import { patch } from "./dom.js";
import { DiffView } from "./diff.js";
import { ssState } from "./states.js";

export class ConnsView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.key = "";
    // on press, not only on click: a redraw between press and release
    // must not lose it; a click alone (a script's) selects too
    for (const type of ["mousedown", "click"]) el.addEventListener(type, (e) => {
      if (e.button !== 0) return;
      const tr = e.target.closest("tr[data-conn]");
      if (tr) this.choose(tr);
    });
    // and from the keyboard: a row takes the focus (Tab), the arrows go
    // from row to row, Enter chooses one
    el.addEventListener("keydown", (e) => {
      const tr = e.target.closest("tr[data-conn]");
      if (!tr || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "Enter") {
        e.preventDefault();
        this.choose(tr);
      } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const to = e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
        if (to && to.dataset.conn) to.focus();
      }
    });
    // The chosen row stays in sight when the table's size changes (a
    // narrower window makes each row taller and the table shorter): if
    // it was in sight before the change, it is brought back after it. A
    // person's scroll decides whether it was; a scroll the browser makes
    // because the size changed (the table's or its rows') does not.
    this.inSight = false;
    this.size = "";
    el.addEventListener("scroll", () => {
      if (!this.resized()) this.inSight = this.chosenInSight();
    });
    new ResizeObserver(() => this.resized()).observe(el);
  }

  // resized brings the chosen row back into sight if the table's size
  // changed since it was in sight, and says whether the size changed.
  resized() {
    if (this.sizeKey() === this.size) return false;
    const rows = this.chosenRows();
    if (this.inSight && rows.length && !this.chosenInSight()) this.scrollTo(rows);
    this.look();
    return true;
  }

  sizeKey() {
    return this.el.clientWidth + "x" + this.el.clientHeight + "x" + this.el.scrollHeight;
  }

  // look notes the table's size and whether the chosen row is in sight.
  look() {
    this.size = this.sizeKey();
    this.inSight = this.chosenInSight();
  }

  // lookSoon looks at the start of the next frame, when the layout the
  // last one painted is still clean, instead of making the browser lay
  // the page out once more in the middle of a draw.
  lookSoon() {
    if (this.lookPending) return;
    this.lookPending = true;
    requestAnimationFrame(() => {
      this.lookPending = false;
      this.look();
    });
  }

  chosenRows() {
    return [...this.el.querySelectorAll('tr[aria-selected="true"]')];
  }

  chosenInSight() {
    const rows = this.chosenRows();
    if (!rows.length) return false;
    const box = this.el.getBoundingClientRect();
    return rows[0].getBoundingClientRect().top >= box.top - 1 && rows[rows.length - 1].getBoundingClientRect().bottom <= box.bottom + 1;
  }

  // scrollTo puts rows in the middle of the table's sight.
  scrollTo(rows) {
    const box = this.el.getBoundingClientRect();
    const a = rows[0].getBoundingClientRect().top, b = rows[rows.length - 1].getBoundingClientRect().bottom;
    this.el.scrollTop += a - box.top - Math.max(0, (box.bottom - box.top - (b - a)) / 2);
  }

  // choose focuses every view on the connection of a row.
  choose(tr) {
    this.app.setFocus(tr.dataset.conn);
    const c = this.app.store.conns.get(tr.dataset.conn);
    if (c && !this.app.selected) this.app.invalidate();
  }

  // ref is the event the table shows the connections at: the one selected,
  // or the step the run stopped at; Infinity while it runs freely (then
  // the server's own table is shown, with what was traced since).
  ref() {
    const app = this.app;
    if (app.selected) return app.selected;
    if (app.state.paused && app.state.current) return app.state.current;
    return app.readonly || !app.conns || !app.conns.length ? Infinity : null;
  }

  // shownState is the state the table shows for node's end of connection
  // key, or "" when it has no such row: while the run plays freely it is
  // the server's socket table's, which the Timers panel follows so that
  // the two never disagree.
  shownState(key, node) {
    const r = this.rows().find((r) => r.key === key && r.node === node);
    return r ? r.state : "";
  }

  rows() {
    const app = this.app;
    const st = app.store;
    const ref = this.ref();
    if (ref !== null) {
      // the state each stack had reached at ref, as the state change and
      // the ladder show it; listening sockets as the trace has them at
      // ref, and the others from the server's table (which, while a
      // paused stack holds a lock it needs, may be one from long before)
      const table = (app.conns || []).filter((c) => !c.peer);
      const traced = this.listenersAt(ref);
      const known = this.connectedAt(ref); // node|fd of the sockets in a connection by ref
      for (const l of traced) known.add(l.node + "|" + l.fd);
      const listeners = traced.map((l) => {
        const t = table.find((c) => c.node === l.node && c.local === l.local && (c.proto || "tcp").startsWith("tcp"));
        return { key: l.local, node: l.node, state: "LISTEN", local: l.local, peer: "*", recv_q: t ? t.recv_q : "", send_q: t ? t.send_q : "", cwnd: "", srtt: "", rto: "", wnd: "" };
      }).concat(table.filter((c) => !known.has(c.node + "|" + c.fd) && !traced.some((l) => l.node === c.node && l.local === c.local)).map((c) => ({ key: c.local, node: c.node, state: c.proto && !c.proto.startsWith("tcp") ? c.proto + " " + c.ss_state : c.state, local: c.local, peer: "*", recv_q: c.recv_q, send_q: c.send_q, cwnd: "", srtt: "", rto: "", wnd: "" })));
      return listeners.concat(this.traceRows((c) => c.first <= ref, ref));
    }
    if (app.conns && app.conns.length) {
      // The server's table comes about once a second, and not while a
      // paused stack holds a connection's lock: a connection's TCP state
      // traced after the table was begun (app.connsAt) is newer, and is
      // shown instead.
      const traced = (key, node) => {
        const c = st.conns.get(key);
        const sid = c && c.states.get(node);
        return sid && sid > (app.connsAt || 0) ? st.get(sid) : null;
      };
      const table = app.conns.map((c) => {
        const key = c.peer ? st.latest(c.local + "->" + c.peer) : c.local;
        const s = c.peer ? traced(key, c.node) : null;
        return s ? this.fromState(key, c.node, c.local, c.peer, s) : {
        key,
        node: c.node,
        // a UDP socket's state is ss's (UNCONN, ESTAB for a connected
        // one): the protocol in front tells it from a TCP socket on the
        // same port; gVisor's error state (reset, timed out) is CLOSED, as
        // the trace's state change names it (Linux's TCP_CLOSE), which
        // the table writes as ss does, UNCONN
        state: c.proto && !c.proto.startsWith("tcp") ? c.proto + " " + c.ss_state : c.state === "ERROR" ? "CLOSED" : c.state,
        local: c.local,
        peer: c.peer || "*",
        recv_q: c.recv_q,
        send_q: c.send_q,
        cwnd: c.cwnd,
        // no sample yet is not a round trip of nothing
        srtt: c.srtt_ms ? fmtDur(Math.round(c.srtt_ms * 1e6)) : "–",
        rto: c.rto_ms !== undefined ? fmtDur(Math.round(c.rto_ms * 1e6)) : "",
        wnd: c.snd_wnd !== undefined ? c.snd_wnd + "/" + c.rcv_wnd : "",
        };
      });
      // A connection the trace shows after the table was begun and the
      // table lacks (a stepped stack holds the locks a new table needs):
      // its row from the trace, marked as such.
      const have = new Set(table.map((r) => r.node + "|" + r.key));
      const later = this.traceRows((c, n) => c.last > (app.connsAt || 0) && !have.has(n + "|" + c.key), Infinity);
      for (const r of later) r.traced = true;
      return table.concat(later);
    }
    return this.traceRows(() => true, Infinity);
  }

  // listenersAt are the sockets the trace shows listening at ref: a
  // socket "listen" event at or before ref, and no "close" of it since.
  listenersAt(ref) {
    const st = this.app.store;
    const out = [];
    for (const c of st.conns.values()) {
      if (!c.listener) continue;
      const open = new Map(); // node|fd -> listen event
      for (const id of c.ids) {
        if (id > ref) break;
        const e = st.get(id);
        if (!e || e.layer !== "socket") continue;
        if (e.event === "listen") open.set(e.node + "|" + e.fd, e);
        else if (e.event === "close") open.delete(e.node + "|" + e.fd);
      }
      for (const e of open.values()) out.push({ node: e.node, fd: e.fd, local: e.conn });
    }
    return out;
  }

  // connectedAt is the node|fd of every socket the trace shows in a
  // connection at or before ref: the server's table may be older and list
  // it as not yet connected.
  connectedAt(ref) {
    const st = this.app.store;
    const out = new Set();
    for (const c of st.conns.values()) {
      if (c.listener || c.first > ref) continue;
      const seen = new Set();
      for (const id of c.ids) {
        if (id > ref || seen.size === c.nodes.size) break;
        const e = st.get(id);
        if (!e || e.layer !== "socket" || typeof e.fd !== "number" || seen.has(e.node)) continue;
        seen.add(e.node);
        out.add(e.node + "|" + e.fd);
      }
    }
    return out;
  }

  // traceRows are rows made from the trace: for each TCP connection and
  // stack that want(c, node) accepts, its last TCP state at or before ref.
  traceRows(want, ref) {
    const st = this.app.store;
    const out = [];
    for (const c of st.tcpConns()) {
      const nodes = c.nodes.size ? [...c.nodes] : [""];
      for (const n of nodes) {
        if (!want(c, n)) continue;
        const s = this.stateShown(c, n, ref);
        const [a, b] = c.base.split(" ⇄ ");
        // local is the endpoint the node's socket events name first, or
        // (a capture has none) the one its first packet left from or
        // came to
        let local = a, peer = b;
        for (const id of c.ids) {
          const e = st.get(id);
          if (e.node === n && (e.layer === "socket" || e.layer === "ws") && e.conn && e.conn.includes("->")) {
            [local, peer] = e.conn.split("->");
            break;
          }
          if (e.node === n && isPacket(e) && e.src !== undefined) {
            const src = endpoint(e.src, e.sport), dst = endpoint(e.dst, e.dport);
            [local, peer] = e.dir === "out" ? [src, dst] : [dst, src];
            break;
          }
        }
        const row = this.fromState(c.key, n, local, peer, s, ref);
        const syn = s ? null : st.synSent(c, n, ref);
        if (syn) {
          // sent, not yet reported: the state change says so too
          row.state = /\./.test(syn.flags) ? "SYN-RCVD" : "SYN-SENT";
          row.unreported = syn.id;
        }
        out.push(row);
      }
    }
    return out;
  }

  // stateShown is node's TCP state on connection c at event ref, as the
  // state change shows it: for a segment node received on c, the state it
  // left, which TCP reports after it (segments read in a batch are all on
  // the link before the first report); else the last at or before ref.
  stateShown(c, node, ref) {
    const st = this.app.store;
    const sel = ref !== Infinity ? st.get(ref) : null;
    if (sel && sel.node === node && isPacket(sel) && sel.dir === "in" && st.connOf.get(sel.id) === c.key) {
      const diff = this.app.views.find((v) => v instanceof DiffView);
      const after = diff && diff.stateAfter(node, { ids: c.ids, get: (i) => st.get(c.ids[i]) }, sel);
      if (after) return after;
    }
    return st.stateAt(c, node, ref);
  }

  // fromState is a connection's row from its last TCP state event s
  // (null: none yet). The queues go on from there with the application's
  // reads and writes traced since: they change them without a TCP step.
  fromState(key, node, local, peer, s, ref = Infinity) {
    let rq = s ? s.rcv_buf_used : "", sq = s ? s.snd_buf_used : "";
    const c = s && this.app.store.conns.get(key);
    if (c) {
      for (let i = c.ids.length - 1; i >= 0 && c.ids[i] > s.id; i--) {
        if (c.ids[i] > ref) continue;
        const e = this.app.store.get(c.ids[i]);
        if (e.node !== node || e.layer !== "socket" || typeof e.n !== "number") continue;
        if (e.event === "recv") rq -= e.n;
        else if (e.event === "send") sq += e.n;
      }
      rq = Math.max(0, rq);
    }
    return {
      key,
      node,
      // as the state change says it: the handshake reports its state
      // once, after its first segments
      state: s ? s.state : "no state yet",
      local,
      peer,
      recv_q: rq,
      send_q: sq,
      cwnd: s ? s.cwnd : "",
      srtt: s && s.srtt ? fmtDur(s.srtt) : "–",
      rto: s ? fmtDur(s.rto) : "",
      wnd: s ? (s.snd_wnd ?? "?") + "/" + s.rcv_wnd : "",
    };
  }

  render() {
    const app = this.app;
    const sig = app.store.version + "|" + app.focus + "|" + this.ref() + "|" + !!app.state.paused + "|" + (app.conns ? JSON.stringify(app.conns) : "");
    if (sig === this.sig) return;
    this.sig = sig;
    const rows = this.rows();
    if (!rows.length) {
      patch(this.el, '<div class="empty">No TCP connection yet.</div>');
      this.lookSoon();
      return;
    }
    const traced = rows.some((r) => r.traced);
    let h =
      // the table is late because a paused stack holds a lock it needs,
      // or only because it is made about once a second
      (traced ? '<div class="hint" data-conns-note>The socket table is from #' + esc(app.connsAt || 0) + (app.state.paused ? " (a paused stack holds it)" : " (it is made about once a second)") + "; rows marked ◦ are from the trace since.</div>" : "") +
      "<table><thead><tr>" +
      '<th title="The stack that owns the socket, and its TCP state, named as glassnet ss names it (ESTAB, SYN-RECV, FIN-WAIT-1, UNCONN for a socket with no connection)">stack<br>state</th>' +
      '<th title="local address -> peer address">local<br>→ peer</th>' +
      '<th class="num" title="Recv-Q: bytes received, not yet read by the application">recv‑q</th>' +
      '<th class="num" title="Send-Q: bytes written, not yet acknowledged by the peer">send‑q</th>' +
      '<th class="num" title="Congestion window, in segments">cwnd</th>' +
      '<th class="num" title="Smoothed round-trip time">rtt</th>' +
      "</tr></thead><tbody>";
    for (const r of rows) {
      h +=
        '<tr data-conn="' + esc(r.key) + '" data-node="' + esc(r.node || "") + '"' + (r.traced ? ' data-source="trace"' : "") + ' tabindex="0" aria-selected="' + (r.key === app.focus) + '" title="' + esc("rto " + r.rto + ", send/receive window " + r.wnd + " bytes") + '">' +
        // two lines a cell, so that the queues and cwnd fit beside them
        '<td class="state"' + (r.unreported ? ' title="' + esc("Entered by sending the " + (r.state === "SYN-RCVD" ? "SYN-ACK" : "SYN") + " #" + r.unreported + "; TCP reports the state and its variables when the step that sent it is done") + '"' : "") + '><span class="nd">' + esc(r.node || "") + (r.traced ? " ◦" : "") + "</span><br>" + esc(ssState(r.state)) + "</td>" +
        '<td class="addr">' + esc(r.local) + "<br>→ " + esc(r.peer) + incarnation(app.store, r.key) + "</td>" +
        '<td class="num">' + esc(r.recv_q ?? "") + "</td>" +
        '<td class="num">' + esc(r.send_q ?? "") + "</td>" +
        '<td class="num">' + esc(r.cwnd ?? "") + "</td>" +
        '<td class="num">' + esc(r.srtt) + "</td>" +
        // the same numbers on a line of their own, shown in a narrow
        // window instead of their columns
        '<td class="nums">' + narrowNums(r) + "</td>" +
        "</tr>";
    }
    patch(this.el, h + "</tbody></table>");
    this.reveal();
    this.lookSoon();
  }

  // reveal brings the chosen connection's rows into the table's sight
  // once when the choice changes (a selection in another view, an
  // address #event=ID, a recorded run's first connection): among a
  // hundred connections the one every view shows is otherwise out of
  // sight, below the first few. The table keeps where a person scrolled
  // it while the choice stays.
  reveal() {
    const app = this.app;
    if (this.revealed === app.focus) return;
    const rows = this.chosenRows();
    if (!rows.length) return;
    this.revealed = app.focus;
    if (!this.chosenInSight()) this.scrollTo(rows);
  }
}

// incarnation marks a row whose endpoints had more than one connection
// (a SYN with another initial sequence number used them again) with the
// connection's number among them, "#1" for the first.
function incarnation(st, key) {
  const c = st.conns.get(key);
  if (!c || (c.n === 1 && !st.incarnation.has(c.base))) return "";
  return ' <span class="inc" title="' + esc("connection " + c.n + " between these endpoints: a SYN with another initial sequence number used them again; its bytes and sequence numbers count from its own SYN") + '">#' + c.n + "</span>";
}

// narrowNums is a row's queues, cwnd and rtt on one line, as a narrow
// window shows them under the row's state and addresses.
function narrowNums(r) {
  const q = r.recv_q !== "" && r.recv_q != null ? "q " + r.recv_q + " / " + (r.send_q ?? "") : "";
  const rest = [r.cwnd !== "" && r.cwnd != null ? "cwnd " + r.cwnd : "", r.srtt && r.srtt !== "–" ? "rtt " + r.srtt : ""];
  // each item whole, the line broken between them where a megabyte's
  // queues leave no room for all
  return [q, ...rest].filter(Boolean).map((x) => "<span>" + esc(x) + "</span>").join(" · ");
}
