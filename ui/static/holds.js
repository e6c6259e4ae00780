// Hold queue: units parked at a hook point, each with a form for its
// editable fields and the actions release, drop, duplicate and delay; and
// "hold the next matching unit".

import * as api from "./api.js";
import { FIELD_HELP, esc, fmtDur, frameWordsIn } from "./fields.js";
import { patch, setOptions, tick, ticker } from "./dom.js";

const POINTS = [
  ["link-egress", "link egress: a packet leaving the stack"],
  ["link-ingress", "link ingress: a packet entering the stack"],
  ["socket-send", "socket send: data the application writes"],
  ["ws-out", "ws out: a frame being sent"],
  ["ws-in", "ws in: a frame received"],
];

const EDIT_HELP = {
  flags: "TCP flags as tcpdump writes them: S, F, R, P, . (ACK), e.g. P. or F.",
  seq: "Sequence number (absolute, as on the wire)",
  ack: "Acknowledgment number (absolute, as on the wire)",
  window: "Advertised receive window (as on the wire, before scaling); 0 closes it",
  payload_hex: "Payload bytes in hex",
  opcode: "Frame opcode: text, binary, continuation, close, ping, pong",
  fin: "FIN bit: last frame of the message",
  len: "Length in bytes (of the whole IP packet at the link, of the payload for a frame or a send): it follows the edits (not editable)",
  fd: "The socket the data is written to (not editable)",
  compressed: "part of a compressed message (permessage-deflate, RSV1 on its first frame): the payload is deflate data, not editable here",
};

const REL_HELP = {
  seq: "The sequence number relative to this direction's first (its SYN's is 0), as the ladder writes it; edit it or the absolute one",
  ack: "The acknowledgment number relative to the other direction's first, as the ladder writes it; edit it or the absolute one",
};

const TEXT_HELP = "The payload as UTF-8 text, when it is: edit it or the hex (a held send keeps its length). Where every line of it ends in CR LF (HTTP), a line end typed here is CR LF too.";

// hexText is the text that hex spells in UTF-8, or null when it is not
// whole bytes of valid UTF-8.
function hexText(hex) {
  const h = String(hex).replace(/\s+/g, "");
  if (h.length % 2 || /[^0-9a-f]/i.test(h)) return null;
  const b = new Uint8Array(h.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(b);
  } catch {
    return null;
  }
}

// textView is how the payload hex reads in a text box: {text, crlf}, or
// {why} when a text box cannot give it back unchanged. A text box's value
// has LF alone for a line end (it turns CR LF and CR into LF), so a
// payload whose every line ends in CR LF (HTTP) is shown with LF and
// written back with CR LF (crlf), and one with a CR elsewhere is not
// text here; nor is one with another control character, which the page's
// markup does not keep (a NUL becomes U+FFFD).
function textView(hex) {
  const t = hexText(hex);
  if (t === null) return { why: "not UTF-8 text: edit the hex" };
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(t)) return { why: "control characters a text box does not keep: edit the hex" };
  if (!t.includes("\r")) return { text: t, crlf: false };
  if (!/\r(?!\n)|(?<!\r)\n/.test(t)) return { text: t.replace(/\r\n/g, "\n"), crlf: true };
  return { why: "line ends a text box does not keep (a CR without LF, or LF and CR LF both): edit the hex" };
}

// textHex is the payload hex of what the text box t says, line ends as
// textView found them.
function textHex(t) {
  const v = t.dataset.crlf === "true" ? t.value.replace(/\r?\n/g, "\r\n") : t.value;
  return [...new TextEncoder().encode(v)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// setTextView makes the text box t show the payload hex.
function setTextView(t, hex) {
  const v = textView(hex);
  t.value = v.text === undefined ? "" : v.text;
  t.readOnly = v.text === undefined;
  t.placeholder = v.why || "";
  t.dataset.crlf = v.crlf ? "true" : "false";
}

// Fields shown with a held unit that follow from it and are not edited.
const SHOWN_ONLY = new Set(["len", "fd", "compressed"]);

// A card's fields in the order tcpdump and Wireshark give them (flags,
// seq, ack, win, length, then the payload); a field not named here
// comes after them.
const ORDER = ["flags", "seq", "ack", "window", "opcode", "fin", "fd", "len", "compressed", "payload_hex"];
const NAMES = { payload_hex: "payload (hex)" };

// edits says what the fields of a held unit's card change, as the trace
// will ("window 4096 → 0", "payload 10 → 12 B").
function edits(card, h) {
  const out = [];
  for (const inp of card.querySelectorAll("[data-field]")) {
    const k = inp.dataset.field;
    const old = h && h.fields ? h.fields[k] : undefined;
    if (old === undefined) continue;
    if (typeof old === "boolean") {
      if (inp.checked !== old) out.push(k + " " + old + " → " + inp.checked);
    } else if (typeof old === "number") {
      if (inp.value.trim() !== "" && Number(inp.value) !== old) out.push(k + " " + old + " → " + inp.value.trim());
    } else if (k === "payload_hex") {
      const a = String(old).toLowerCase(), b = inp.value.replace(/\s+/g, "").toLowerCase();
      if (a === b) continue;
      if (a.length !== b.length) out.push("payload " + a.length / 2 + " → " + Math.floor(b.length / 2) + " B");
      else {
        let n = 0;
        for (let i = 0; i < a.length; i += 2) if (a.slice(i, i + 2) !== b.slice(i, i + 2)) n++;
        out.push("payload: " + n + " of " + a.length / 2 + " B changed");
      }
    } else if (inp.value !== old) out.push(k + " " + (old === "" ? "(none)" : old) + " → " + (inp.value === "" ? "(none)" : inp.value));
  }
  return out;
}

export class HoldsView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    el.innerHTML =
      '<div id="hold-list"></div><div id="hold-last" aria-live="polite"></div>' +
      '<div class="sub live-only">Hold the next matching unit</div>' +
      '<div class="form live-only" id="hold-next">' +
      '<label for="hn-point">where</label><select id="hn-point">' + POINTS.map(([v, t]) => '<option value="' + v + '" title="' + esc(t) + '">' + v + "</option>").join("") + "</select>" +
      '<label for="hn-node">stack</label><select id="hn-node"></select>' +
      '<label for="hn-filter" title="The filter syntax of --egress/--ingress rules; empty matches anything">filter</label><input id="hn-filter" type="text" placeholder="e.g. tcp and ack (empty: any)" spellcheck="false">' +
      "</div>" +
      '<div class="btns live-only"><button id="hn-arm" data-action="hold-next">Hold next</button><span id="hn-msg"></span></div>' +
      '<div id="hold-armed" class="list"></div>';
    document.getElementById("hn-arm").onclick = () => this.arm();
    // while something is held, its waiting time is redrawn each second
    setInterval(() => {
      if (app.holds.length) app.invalidate();
    }, 1000);
    // an edit: the fields that follow it, and what the card will change
    el.addEventListener("input", (e) => {
      const card = e.target.closest("[data-hold-id]");
      if (!card) return;
      this.follow(e.target, card);
      this.showEdits(card);
    });
    el.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-hold-action]");
      if (b) this.act(b.closest("[data-hold-id]"), b.dataset.holdAction);
      const d = e.target.closest("button[data-disarm]");
      if (d) this.disarm(d.dataset.disarm);
      const g = e.target.closest("[data-goto]");
      if (g) {
        e.preventDefault();
        this.app.select(+g.dataset.goto, "holds");
        return;
      }
      // A click on a card, but not on what edits or decides it, selects
      // the event it is known by (its data-event-id), as a click on any
      // drawn unit does.
      const card = e.target.closest(".holdcard[data-event-id]");
      if (card && !b && !e.target.closest("input, textarea, select, button, label, a")) this.app.select(+card.dataset.eventId, "holds");
    });
  }

  // follow makes the fields that follow the one just typed in agree
  // with it: a relative seq or ack and its absolute one, a payload's hex
  // and its text.
  follow(t, card) {
    if (t.dataset.text) {
      const hex = card.querySelector('[data-field="' + t.dataset.text + '"]');
      if (hex) hex.value = textHex(t);
      return;
    }
    if (t.dataset.field === "payload_hex") {
      const txt = card.querySelector('[data-text="payload_hex"]');
      if (txt) setTextView(txt, t.value);
      return;
    }
    if (t.value.trim() === "") return;
    if (t.dataset.rel) {
      const abs = card.querySelector('[data-field="' + t.dataset.rel + '"]');
      if (abs) abs.value = (Number(t.dataset.base) + Number(t.value)) >>> 0;
    } else if (t.dataset.field === "seq" || t.dataset.field === "ack") {
      const rel = card.querySelector('[data-rel="' + t.dataset.field + '"]');
      if (rel) rel.value = (Number(t.value) - Number(rel.dataset.base)) >>> 0;
    }
  }

  // showEdits marks the fields of a card that differ from the unit as
  // it was held and says under them what a release will change.
  showEdits(card) {
    const h = this.app.holds.find((x) => String(x.id) === card.dataset.holdId);
    const list = edits(card, h);
    for (const inp of card.querySelectorAll("[data-field], [data-rel], [data-text]")) {
      const k = inp.dataset.field || inp.dataset.rel || inp.dataset.text;
      const changed = list.some((x) => x.startsWith(k === "payload_hex" ? "payload" : k + " "));
      inp.classList.toggle("edited", changed);
    }
    const box = card.querySelector("[data-edits]");
    box.textContent = list.length ? "will change: " + list.join(", ") : "";
    box.hidden = !list.length;
  }

  arm() {
    const body = {
      point: document.getElementById("hn-point").value,
      node: document.getElementById("hn-node").value,
      filter: document.getElementById("hn-filter").value.trim(),
      count: 1,
    };
    return this.request(() => api.post("/api/hold", body), "armed");
  }

  disarm(id) {
    return this.request(() => api.del("/api/hold/" + encodeURIComponent(id)), "cancelled");
  }

  // request makes an arm or disarm call and says how it went beside the
  // Hold next button.
  async request(call, done) {
    const msg = document.getElementById("hn-msg");
    try {
      await call();
      msg.className = "ok";
      msg.textContent = done;
      msg.dataset.result = "ok";
      this.app.refreshHolds();
    } catch (err) {
      msg.className = "err";
      msg.textContent = err.message;
      msg.dataset.result = "error";
    }
  }

  async act(card, action) {
    if (!card) return;
    const id = card.dataset.holdId;
    const h = this.app.holds.find((x) => String(x.id) === id);
    const fix = card.querySelector("[data-fix]");
    const body = { action, fix_checksums: fix ? fix.checked : true };
    // A number field that does not hold a number ("1e", "1-2" typed or
    // pasted: the browser reads it as empty) is said so here, and the
    // unit stays held, rather than sent on with that edit left out.
    const notNumber = (inp) => (inp.validity && inp.validity.badInput) || (inp.value.trim() !== "" && !Number.isFinite(Number(inp.value)));
    const bad = [];
    if (action === "release" || action === "duplicate" || action === "delay") {
      const edit = {};
      for (const inp of card.querySelectorAll("[data-field]")) {
        const k = inp.dataset.field;
        const old = h && h.fields ? h.fields[k] : undefined;
        let v;
        if (inp.type === "checkbox") v = inp.checked;
        else if (typeof old === "number") {
          if (notNumber(inp)) {
            bad.push(k);
            continue;
          }
          if (inp.value.trim() === "") continue;
          v = Number(inp.value);
        } else if (k === "payload_hex") {
          // as the text beside it reads it: bytes pasted as a hex dump
          // ("48 65 6c"), spaces and line ends between them, are bytes
          v = inp.value.replace(/\s+/g, "");
        } else v = inp.value;
        if (v !== old) edit[k] = v;
      }
      if (Object.keys(edit).length) body.edit = edit;
    }
    if (action === "delay") {
      const d = card.querySelector("[data-delay]");
      if (notNumber(d)) bad.push("delay");
      body.delay_ms = Number(d.value) || 0;
    }
    const out = document.getElementById("hold-last");
    out.dataset.holdId = id;
    if (bad.length) {
      out.className = "err";
      out.textContent = "hold " + id + ": not a number: " + bad.join(", ") + "; nothing sent, it is still held";
      out.dataset.result = "error";
      return;
    }
    // what the edits change, named in the answer: the server says only
    // that the unit went on edited
    const changes = action === "drop" ? [] : edits(card, h);
    const what = changes.length ? " (" + changes.join(", ") + ")" : "";
    out.dataset.result = "";
    out.className = "hint";
    // A packet goes on only when the stack runs: while it is paused at a
    // step the answer waits for the next step or play.
    out.textContent = "hold " + id + ": " + action + " sent; the stack takes it back when it runs (step or play if paused)";
    try {
      const r = await api.post("/api/holds/" + encodeURIComponent(id), body);
      // a packet the stack could not take back (it has closed) failed
      out.className = r && r.failed ? "err" : "ok";
      out.textContent = "hold " + id + ": " + (r && (r.outcome || r.result) ? String(r.outcome || r.result) : action + " done") + (r && r.edited && !r.failed ? what : "");
      out.dataset.result = r && r.failed ? "error" : "ok";
      this.app.refreshHolds();
    } catch (err) {
      out.className = "err";
      out.textContent = "hold " + id + ": " + err.message;
      out.dataset.result = "error";
    }
  }

  render() {
    const app = this.app;
    const sel = document.getElementById("hn-node");
    const nodes = (app.state.nodes && app.state.nodes.length ? app.state.nodes : [...app.store.nodes].filter((n) => n !== "demo"));
    // a stack added while the page is open leaves the choice as it was
    setOptions(sel, nodes);
    // Cards are kept while their unit is held, so that an edit in
    // progress survives updates; only the waiting time is refreshed.
    const list = document.getElementById("hold-list");
    const ids = app.holds.map((h) => h.id + ":" + (h.event || 0)).join(",") + "|" + app.readonly;
    if (ids !== this.ids) {
      this.ids = ids;
      // The last decision's line is about a unit gone: it goes once
      // another unit is held, so that it never reads as this one's.
      const last = document.getElementById("hold-last");
      if (last && last.dataset.holdId && app.holds.some((h) => Number(h.id) > Number(last.dataset.holdId))) {
        last.textContent = "";
        last.dataset.result = "";
        delete last.dataset.holdId;
      }
      if (app.readonly) list.innerHTML = '<div class="empty">A recorded trace: nothing to hold.</div>';
      else if (!app.holds.length) {
        list.innerHTML = '<div class="empty">Nothing held.</div>';
        // The column goes back to where it was before a held unit's card
        // was brought into sight (the inspector, most often), unless the
        // person scrolled it since.
        const col = document.getElementById("right");
        if (this.scrollBack && col && !this.scrollBack.moved) col.scrollTop = this.scrollBack.top;
        this.scrollBack = null;
      } else {
        // A card kept stays where it is in the page: taken out and put
        // back, it would lose the focus of a field being typed in and a
        // click being made on it.
        const keep = new Map([...list.querySelectorAll("[data-hold-id]")].map((c) => [c.dataset.holdId, c]));
        const want = new Set(app.holds.map((h) => String(h.id)));
        for (const c of [...list.children]) if (!want.has(c.dataset.holdId || "")) c.remove();
        let at = list.firstElementChild;
        for (const h of app.holds) {
          let c = keep.get(String(h.id));
          if (c && String(h.event || "") !== (c.dataset.eventId || "")) {
            // a packet's held step came after it was shown: name it now
            if (h.event) c.dataset.eventId = h.event;
            else delete c.dataset.eventId;
            patch(c.querySelector(".head"), this.head(h));
          }
          let fresh = false;
          if (!c) {
            const t = document.createElement("div");
            t.innerHTML = this.card(h);
            c = t.firstElementChild;
            fresh = true;
          }
          if (c === at) at = at.nextElementSibling;
          else list.insertBefore(c, at);
          // a unit newly held is brought into sight in its column (held
          // from a script or by a request armed long ago, its card can be
          // below the inspector)
          if (fresh) {
            const col = document.getElementById("right");
            // where to go back to when nothing is held: where the column
            // was before the first card was brought into sight
            if (col && !this.scrollBack) {
              this.scrollBack = { top: col.scrollTop, moved: false };
              this.watchScroll(col);
            }
            c.scrollIntoView({ block: "nearest" });
          }
        }
      }
    }
    for (const h of app.holds) this.addRelative(list.querySelector('[data-hold-id="' + CSS.escape(String(h.id)) + '"]'), h);
    // A card lights with its unit as every drawn unit does (data-hl): a
    // card is kept while its unit is held, so this is set on each draw.
    for (const c of list.querySelectorAll(".holdcard[data-event-id]")) {
      const hl = app.hl(Number(c.dataset.eventId));
      if (hl) c.dataset.hl = hl;
      else delete c.dataset.hl;
    }
    // The wait goes on between the server's lists: count it on here. Only
    // the text node of the count changes (tick), and not while text in
    // the card is selected.
    const gone = Math.round(performance.now() - (app.holdsAt || performance.now()));
    for (const h of app.holds) {
      const card = list.querySelector('[data-hold-id="' + CSS.escape(String(h.id)) + '"]');
      const since = card && card.querySelector("[data-since]");
      if (!since || typeof h.since_ms !== "number") continue;
      if (!since.querySelector("[data-tick]")) since.replaceChildren("for ");
      tick(ticker(since), fmtDur((h.since_ms + gone) * 1e6), card);
    }
    if (app.readonly) return;
    const sig = JSON.stringify(app.armed);
    if (sig === this.sig) return;
    this.sig = sig;
    // "armed" said that a request waits; once none does (it held its
    // unit, or was cancelled elsewhere) the word would mislead.
    const msg = document.getElementById("hn-msg");
    if (!app.armed.length && msg.dataset.result === "ok") {
      msg.textContent = "";
      msg.dataset.result = "";
    }
    const armed = document.getElementById("hold-armed");
    // Changed in place: a cancel button being pressed or focused stays
    // when another request is armed, holds its unit or is taken back.
    patch(
      armed,
      app.armed.length
        ? "waiting for: <ul class=list>" + app.armed.map((a) => "<li data-armed=\"" + esc(a.id) + "\"><span>" + esc((a.node || "") + " " + (a.point || "") + " " + (a.filter || "any") + (a.left > 1 ? " ×" + a.left : "")) + '</span><button data-disarm="' + esc(a.id) + '" title="Take this request back: hold nothing more">cancel</button></li>').join("") + "</ul>"
        : ""
    );
  }

  // watchScroll notes, once, every scroll of the column a person makes
  // (wheel, touch, keys, its scroll bar): after one, the column stays
  // where the person put it when nothing is held any more.
  watchScroll(col) {
    if (this.watching) return;
    this.watching = true;
    const moved = () => {
      if (this.scrollBack) this.scrollBack.moved = true;
    };
    col.addEventListener("wheel", moved, { passive: true });
    col.addEventListener("touchmove", moved, { passive: true });
    col.addEventListener("mousedown", (e) => e.target === col && moved());
    col.addEventListener("keydown", (e) => /^(Page|Arrow(Up|Down)$|Home$|End$| $)/.test(e.key) && e.target === col && moved());
  }

  // addRelative puts seq and ack relative, as the ladder writes them,
  // beside the absolute ones in a held segment's card, once the server
  // knows what they count from (the held step comes just after the card);
  // either may be edited, the other follows.
  addRelative(card, h) {
    if (!card) return;
    for (const [k, b] of [["seq", h.seq_base], ["ack", h.ack_base]]) {
      const abs = card.querySelector('[data-field="' + k + '"]');
      if (typeof b !== "number" || !abs || card.querySelector('[data-rel="' + k + '"]')) continue;
      abs.insertAdjacentHTML("afterend", '<label title="' + esc(REL_HELP[k]) + '">' + k + " (rel)</label>" +
        '<input type="number" data-rel="' + k + '" data-base="' + b + '" value="' + ((Number(abs.value) - b) >>> 0) + '">');
    }
  }

  // head is a card's first lines: where the unit is held, its event (once
  // the stack has traced it) and what it is.
  head(h) {
    return (
      // a packet is known by its held step; a frame or a send, which has
      // no event until it goes on, by the one just before it was held
      "‖ held: " + esc(h.node || "") + " at " + esc(h.point || "") + (h.event ? (/^link/.test(h.point || "") ? " " : " after ") + '<a href="#event=' + esc(h.event) + '" data-goto="' + esc(h.event) + '">#' + esc(h.event) + "</a>" : "") +
      ' <span class="hint" data-since>' + (typeof h.since_ms === "number" ? "for <span data-tick>" + esc(fmtDur(h.since_ms * 1e6)) + "</span>" : "") + "</span><br>" + esc(frameWordsIn(h.summary))
    );
  }

  card(h) {
    let f = "";
    const rank = (k) => (ORDER.includes(k) ? ORDER.indexOf(k) : ORDER.length);
    for (const [k, v] of Object.entries(h.fields || {}).sort((a, b) => rank(a[0]) - rank(b[0]))) {
      const help = EDIT_HELP[k] || FIELD_HELP[k] || "";
      // a packet's len is the whole IP packet's, where its summary's
      // len= is the TCP payload's (as tcpdump's length): the label says so
      const name = k === "len" && /^link/.test(h.point || "") ? "len (IP packet)" : NAMES[k] || k;
      f += '<label title="' + esc(help) + '">' + esc(name) + "</label>";
      // a compressed message's payload is DEFLATE data: shown, not edited
      if (SHOWN_ONLY.has(k) || (k === "payload_hex" && (h.fields || {}).compressed)) f += typeof v === "boolean" ? '<input type="checkbox" disabled data-shown="' + esc(k) + '"' + (v ? " checked" : "") + ">" : '<input type="text" readonly data-shown="' + esc(k) + '" value="' + esc(v) + '">';
      else if (typeof v === "boolean") f += '<input type="checkbox" data-field="' + esc(k) + '"' + (v ? " checked" : "") + ">";
      else if (typeof v === "number") f += '<input type="number" data-field="' + esc(k) + '" value="' + esc(v) + '">';
      else if (k === "payload_hex") {
        // the bytes in hex, and as text where they are UTF-8: each
        // follows the other
        // (a newline just after <textarea> is dropped by the parser: one
        // goes before the text, so that a text that begins with one keeps it)
        const tv = textView(v);
        f += '<textarea rows="2" spellcheck="false" data-field="payload_hex">' + esc(v) + "</textarea>";
        f += '<label title="' + esc(TEXT_HELP) + '">payload (text' + (tv.crlf ? ", CR LF line ends" : "") + ')</label><textarea rows="2" spellcheck="false" data-text="payload_hex" data-crlf="' + (tv.crlf ? "true" : "false") + '"' +
          (tv.text === undefined ? ' readonly placeholder="' + esc(tv.why) + '"' : "") + ">\n" + esc(tv.text || "") + "</textarea>";
      } else f += '<input type="text" spellcheck="false" data-field="' + esc(k) + '" value="' + esc(v) + '">';
    }
    return (
      '<div class="holdcard" data-hold-id="' + esc(h.id) + '"' + (h.event ? ' data-event-id="' + esc(h.event) + '"' : "") + ">" +
      '<div class="head">' + this.head(h) + "</div>" +
      '<div class="form">' + f + (/^link/.test(h.point || "") ? '<label title="Recompute IP/TCP checksums after the edit; untick to send a bad checksum on purpose">fix checksums</label><input type="checkbox" data-fix checked>' : "") + "</div>" +
      '<div class="edits" data-edits aria-live="polite" hidden></div>' +
      '<div class="btns"><button data-hold-action="release" title="Let it go on, with the edits">Release</button>' +
      '<button data-hold-action="drop" title="Throw it away">Drop</button>' +
      // a send is bytes of a stream: they cannot go twice
      (h.point === "socket-send" ? "" : '<button data-hold-action="duplicate" title="Send it twice">Duplicate</button>') +
      '<button data-hold-action="delay" title="Release it after the delay">Delay</button> <input type="number" data-delay value="100" min="1" style="width:70px" title="delay in ms"> ms</div>' +
      "</div>"
    );
  }
}
