// Events: every event as one line, virtualized (only the rows in sight are
// in the DOM), so 100,000 events scroll as smoothly as 100.

import { esc, ms, summaryOf } from "./fields.js";
import { shortText } from "./expert.js";
import { patch } from "./dom.js";

// rowHeight is a line's height in px: the CSS variable --ev-row of the
// list, 20, or 34 where a narrow window puts what the event says on a
// line of its own under its id, stack and layer.
function rowHeight(el) {
  return parseFloat(getComputedStyle(el).getPropertyValue("--ev-row")) || 20;
}

export class EventsView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.spacer = document.createElement("div");
    this.spacer.className = "spacer";
    el.append(this.spacer);
    this.list = [];
    this.filter = "";
    this.onlyFocus = false;
    this.row = rowHeight(el);
    el.addEventListener("scroll", () => this.paint());
    window.addEventListener("resize", () => {
      const row = rowHeight(el);
      if (row === this.row) return;
      // the same event stays at the top of the list
      const at = this.el.scrollTop / this.row;
      this.row = row;
      this.sig = "";
      this.painted = "";
      this.build();
      this.el.scrollTop = at * row;
      this.paint(true);
    });
    // on press, not only on click: a redraw between press and release
    // must not lose it; a click alone (a script's) selects too
    for (const type of ["mousedown", "click"]) el.addEventListener(type, (e) => {
      if (e.button !== 0) return;
      const r = e.target.closest("[data-event-id]");
      if (r) this.app.select(+r.dataset.eventId, "events");
    });
    el.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        this.app.move(e.key === "ArrowDown" ? 1 : -1);
      }
    });
    const f = document.getElementById("events-filter");
    f.addEventListener("input", () => {
      this.filter = f.value.trim().toLowerCase();
      this.app.invalidate();
    });
    const c = document.getElementById("events-focus");
    c.addEventListener("change", () => {
      this.onlyFocus = c.checked;
      this.app.invalidate();
    });
  }

  // line is what the filter reads: the summary as the page shows it,
  // which has the words the line shows too (a packet's "[P.]" and "seq"
  // are in "Flags [P.], seq"; a frame reads "text 15 B masked")
  line(e) {
    return ("#" + e.id + " " + e.node + " " + e.layer + " " + e.dir + " " + e.event + " " + summaryOf(e) + notesText(this.app.store, e)).toLowerCase();
  }

  build() {
    const st = this.app.store;
    let evs = st.events;
    if (this.onlyFocus && this.app.focus) evs = st.connEvents(this.app.focus);
    if (this.filter) {
      const words = this.filter.split(/\s+/);
      evs = evs.filter((e) => {
        const l = this.line(e);
        return words.every((w) => l.includes(w));
      });
    }
    this.list = evs;
    this.spacer.style.height = evs.length * this.row + "px";
    document.getElementById("events-count").textContent =
      evs.length === st.events.length ? st.events.length + "" : evs.length + " of " + st.events.length;
  }

  render() {
    const app = this.app;
    const sig = app.store.version + "|" + this.filter + "|" + this.onlyFocus + "|" + (this.onlyFocus ? app.focus : "");
    const follow = this.el.scrollTop + this.el.clientHeight >= this.spacer.offsetHeight - this.row * 2;
    if (sig !== this.sig) {
      this.sig = sig;
      this.build();
      // follow the tail of a live run while the user is at the bottom and
      // nothing is selected; a recorded one is read from its start, as the
      // ladder shows it
      if (follow && !app.selected && !app.readonly) this.el.scrollTop = this.spacer.offsetHeight;
    }
    if (app.selected && app.selected !== this.scrolledTo && app.selFrom !== "events") {
      this.scrolledTo = app.selected;
      this.reveal(app.selected);
    }
    this.paint(true);
  }

  reveal(id) {
    const i = this.find(id);
    if (i < 0) return;
    const top = i * this.row;
    if (top < this.el.scrollTop || top > this.el.scrollTop + this.el.clientHeight - this.row) {
      this.el.scrollTop = Math.max(0, top - this.el.clientHeight / 2);
    }
  }

  find(id) {
    const l = this.list;
    let lo = 0, hi = l.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (l[m].id < id) lo = m + 1;
      else hi = m;
    }
    return lo < l.length && l[lo].id === id ? lo : -1;
  }

  paint(force) {
    const st = this.app.store;
    const top = this.el.scrollTop;
    const h = this.el.clientHeight || 400;
    const row = this.row;
    const first = Math.max(0, Math.floor(top / row) - 5);
    const last = Math.min(this.list.length, Math.ceil((top + h) / row) + 5);
    const key = first + ":" + last + ":" + this.app.selected + ":" + this.app.state.current + ":" + this.sig;
    if (!force && key === this.painted) return;
    if (key === this.painted) return;
    this.painted = key;
    const cur = this.app.state.current;
    let html = "";
    for (let i = first; i < last; i++) {
      const e = this.list[i];
      const hl = this.app.hl(e.id);
      html +=
        '<div class="vrow ' + esc(e.dir || "") + '" style="top:' + i * row + 'px" data-event-id="' + e.id + '"' +
        (hl ? ' data-hl="' + hl + '"' : "") + (e.id === cur ? ' data-current="true"' : "") +
        ' title="' + esc(ms(e.t) + " ms  " + summaryOf(e)) + '">' +
        '<span class="id">#' + e.id + "</span>" +
        '<span class="nd">' + esc(e.node || "") + "</span>" +
        '<span class="ly">' + esc(e.layer || "") + "</span>" +
        '<span class="sm">' + esc(said(e, notesText(st, e))) + "</span></div>";
    }
    patch(this.spacer, html);
  }
}

// said is what an event's line says. Most summaries begin with the
// event's name ("segment to IP", "close sent 1000"): it is not said twice.
// A packet's flags, seq and length come first and its addresses last, in
// brackets: every line of a connection has the same ones, and a line is
// cut at the column's edge (every packet read "packet IP 10.0.0.1.47065 >
// 10.0.0…", none told apart).
// Wireshark's notes on a TCP packet (notes) come first, as in its Info
// column: "packet [Dup ACK #1] [.] ack 183".
function said(e, notes) {
  const sum = summaryOf(e);
  let s = sum && (sum === e.event || sum.startsWith(e.event + " ")) ? sum : e.event + "  " + sum;
  // (IP's own lines too: "output IPv4 10.0.0.1 > 10.0.0.2 tcp, ttl 64")
  const m = /^(.*?)\bIP(?:6|v4|v6)? (\S+) > (\S+?):? (.*)$/.exec(s);
  if (m) s = m[1] + m[4] + "  (" + m[2] + " > " + m[3] + ")";
  // "Flags [P.], seq 1:5" as the ladder writes it: "[P.] seq 1:5"
  s = s.replace(/\bFlags (\[[^\]]*\]),? ?/, "$1 ");
  return notes ? s.replace(/^\S+/, (w) => w + notes) : s;
}

// notesText is a packet's notes as its line shows them: " [Dup ACK #1]".
function notesText(st, e) {
  return (st.notes.get(e.id) || []).map((n) => " [" + shortText(n) + "]").join("");
}
