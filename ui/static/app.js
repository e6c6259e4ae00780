// The page: loads the history, follows the live stream, keeps the
// selection (shared by every view and the #event=ID of the address) and
// redraws the views when something changed.

import { Store } from "./model.js";
import * as api from "./api.js";
import { ConnsView } from "./conns.js";
import { EventsView } from "./events.js";
import { LadderView } from "./ladder.js";
import { LanesView } from "./lanes.js";
import { RulerView } from "./ruler.js";
import { SeqGraphView } from "./seqgraph.js";
import { InspectorView } from "./inspector.js";
import { DiffView } from "./diff.js";
import { Controls } from "./controls.js";
import { HoldsView } from "./holds.js";
import { RulesView } from "./rules.js";
import { setOptions } from "./dom.js";

const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.store = new Store(!api.traceURL);
    this.readonly = !!api.traceURL;
    this.state = { live: false, paused: false, mode: "", current: 0, count: 0, skipped: 0, breakpoints: [], held: 0, nodes: [] };
    this.conns = null; // the server's socket table, live only
    this.holds = [];
    this.rules = [];
    this.armed = [];
    this.focus = ""; // connection key
    this.node = ""; // the stack the layer and seq/time views show
    this.selected = 0;
    this.sel = { same: new Set(), rel: new Set() };
    this.skips = []; // {from, to, count}
    this.dirty = true;
    this.live = null;
    this.views = [];
    this.timing = { loaded: 0, lastDraw: 0, maxDraw: 0, draws: 0, views: {} };
  }

  start() {
    if (this.readonly) document.body.classList.add("readonly");
    this.views = [
      (this.connsView = new ConnsView($("conns"), this)),
      new EventsView($("events"), this),
      new LadderView($("ladder"), this),
      new RulerView($("ruler"), this),
      new LanesView($("lanes"), this),
      new SeqGraphView($("seqgraph"), this),
      new InspectorView($("inspector"), this),
      new DiffView($("diff"), this),
      (this.controls = new Controls(this)),
      new HoldsView($("holds"), this),
      new RulesView($("rules"), this),
    ];
    this.tabs();
    window.addEventListener("hashchange", () => this.fromHash());
    window.addEventListener("resize", () => this.invalidate());
    // the help opens and closes with its button, and closes with Escape
    const help = (open) => {
      $("help").hidden = !open;
      $("help-toggle").setAttribute("aria-expanded", String(open));
    };
    help(false);
    $("help-toggle").onclick = () => help($("help").hidden);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !$("help").hidden) help(false);
    });
    $("node").onchange = (e) => {
      this.node = e.target.value;
      this.nodeChosen = true;
      this.invalidate();
    };
    this.load().catch((err) => this.status("error", String(err.message || err)));
  }

  tabs() {
    // ?tab=seqgraph opens that tab first
    const want = new URLSearchParams(location.search).get("tab");
    for (const b of document.querySelectorAll(".tabs button[data-tab]")) {
      if (want === b.dataset.tab) setTimeout(() => b.onclick(), 0);
      b.onclick = () => {
        for (const o of document.querySelectorAll(".tabs button[data-tab]")) o.setAttribute("aria-selected", String(o === b));
        for (const t of document.querySelectorAll(".tab")) t.hidden = t.dataset.tab !== b.dataset.tab;
        this.invalidate();
      };
    }
    // the byte stream, folded while Seq/time is open in a low window,
    // opens again with the Layers tab
    $("ruler-unfold").onclick = () => document.querySelector('.tabs button[data-tab="lanes"]').onclick();
  }

  async load() {
    if (this.readonly) {
      this.status("file", "recorded trace " + api.traceURL + " (read-only)");
      this.store.add(await api.loadJSONL(api.traceURL));
      this.afterLoad();
      return;
    }
    const st = await api.get("/api/state");
    this.setState(st);
    this.readonly = !st.live;
    if (this.readonly) document.body.classList.add("readonly");
    this.setState(st);
    if (st.count > 0 && st.last) {
      await api.fetchRange(st.first || 1, st.last, (evs) => {
        this.store.add(evs);
        // the history holds first to last (count is every event traced)
        this.status("loading", "loading the history: " + this.store.events.length + " of " + (st.last - (st.first || 1) + 1) + " events");
      });
      this.restate();
    }
    this.afterLoad();
    this.refreshHolds();
    if (st.live) {
      this.live = new api.Live((m) => this.onLive(m), (s) => this.onLiveStatus(s));
      this.live.open(this.store.events.length ? this.store.events[this.store.events.length - 1].id + 1 : st.first || 1);
    }
  }

  afterLoad() {
    this.timing.loaded = performance.now();
    this.adoptState();
    // An address that names an event (a link, a reload) wins over the
    // step the run is paused at; the next stop selects itself again.
    if (this.fromHash()) this.pendingCurrent = 0;
    if (!this.focus) this.autoFocus();
    this.invalidate();
  }

  liveOpen() {
    return !!(this.live && this.live.ws && this.live.ws.readyState === WebSocket.OPEN);
  }

  onLiveStatus(s) {
    if (s !== "connected") this.status("error", "live stream " + s);
    else this.restate();
  }

  // runningStatus writes the status of a run that goes on: the events
  // keep coming between state messages (each draw writes it again), and
  // the newest one's id is their number, also when the page lacks older
  // ones (skipped while it was behind, or gone from the server's history
  // before it came).
  runningStatus() {
    const s = this.state;
    const evs = this.store.events;
    const n = Math.max(s.count || 0, evs.length ? evs[evs.length - 1].id : 0);
    this.status("running", "running (" + (s.mode || "free") + ") · " + n + " events" + (s.held ? " · " + s.held + " held" : ""));
  }

  // trimToHistory forgets the events the server's history has let go of,
  // so that every data-event-id in the page is one the API answers for,
  // and a long run does not grow the page without end. A state message
  // names the history's first event; between them, the newest event and
  // the history's size tell.
  trimToHistory() {
    const s = this.state;
    const evs = this.store.events;
    if (this.readonly || !evs.length) return;
    const first = Math.max(s.first || 1, s.history ? evs[evs.length - 1].id - s.history + 1 : 1);
    if (first > 1 && this.store.trim(first)) this.invalidate();
  }

  onLive(m) {
    switch (m.type) {
      case "events": {
        const evs = m.events || [];
        const have = this.store.events.length ? this.store.events[this.store.events.length - 1].id : (this.state.first || 1) - 1;
        // a gap the stream did not announce as skipped is fetched, not left
        if (evs.length && evs[0].id > have + 1 && !this.fetching) {
          this.fetching = true;
          api
            .fetchRange(have + 1, evs[0].id - 1, (got) => this.store.add(got))
            .catch((err) => this.status("error", "fetching events " + (have + 1) + "–" + (evs[0].id - 1) + ": " + err.message))
            .finally(() => {
              this.fetching = false;
              this.invalidate();
            });
        }
        this.store.add(evs);
        this.trimToHistory();
        if (!this.focus) this.autoFocus();
        if (this.live && this.store.events.length) this.live.last = this.store.events[this.store.events.length - 1].id;
        break;
      }
      case "state":
        this.setState(m);
        this.trimToHistory();
        if (m.held !== undefined && m.held !== this.holds.length) this.refreshHolds();
        break;
      case "skipped":
        this.skips.push({ from: m.from, to: m.to, count: m.count });
        this.banner();
        break;
      case "holds":
        this.holds = m.holds || [];
        this.holdsAt = performance.now();
        this.armed = m.armed || [];
        break;
      case "rules":
        this.rules = m.rules || [];
        break;
      case "conns":
        this.conns = m.conns || [];
        this.connsAt = m.at || 0;
        break;
      default:
        return;
    }
    this.invalidate();
  }

  async refreshHolds() {
    if (this.readonly) return;
    try {
      const h = await api.get("/api/holds");
      this.holds = (h && h.holds) || [];
      this.holdsAt = performance.now();
      this.armed = (h && h.armed) || [];
      this.invalidate();
    } catch (err) {
      /* the holds panel shows API errors when used */
    }
  }

  // setState takes a state message (or GET /api/state's answer). The
  // page adopts it when it draws next, and not before the event it is
  // paused at is in: glassnet.state, which scripts read, names a step
  // only once every view has drawn it (status, selection, inspector).
  setState(st) {
    const s = Object.assign({}, st);
    delete s.type;
    this.nextState = s;
    this.invalidate();
  }

  // restate writes the status again from the newest state there is.
  restate() {
    this.setState(this.nextState || this.state);
  }

  // adoptState makes the state last received the page's, once the event
  // it is paused at is in the store (or gone from what the page can
  // have: older than its newest event and missing, as in a gap it
  // skipped), and marks a new step to be selected in this draw.
  adoptState() {
    const s = this.nextState;
    if (!s) return;
    const evs = this.store.events;
    const newest = evs.length ? evs[evs.length - 1].id : 0;
    if (!this.readonly && s.paused && s.current && !this.store.get(s.current) && s.current > newest) return;
    this.nextState = null;
    const before = this.state.current;
    this.state = s;
    this.writeStatus();
    if (s.current && s.paused && s.current !== before) {
      // The stack stopped somewhere new: select it in every view.
      this.pendingCurrent = s.current;
    }
  }

  writeStatus() {
    const s = this.state;
    if (this.readonly) {
      // a run longer than the view keeps, or a file cut short, says so
      // where the count is: the count alone read as the whole run
      if (!api.traceURL) this.status("file", "recorded run · " + (s.count || this.store.events.length) + " events (read-only)" + (s.partial ? " · " + s.partial : ""));
      return;
    }
    if (s.ended) {
      this.status("ended", "run ended · " + s.count + " events" + (s.held ? " · " + s.held + " held" : ""));
    } else if (s.paused) {
      const cur = s.current ? this.store.get(s.current) : null;
      this.status(
        "paused",
        // nothing stopped yet: before the first event, or a stack that
        // sends nothing (an idle serve) waits for its next step
        (s.current ? "paused at #" + s.current : s.count ? "paused: the next event stops" : "paused at the start") +
          (cur ? " " + cur.node + " " + cur.layer + " " + cur.event : "") +
          (s.hit ? " · breakpoint " + s.hit : "") + " · " + s.count + " events" + (s.held ? " · " + s.held + " held" : "")
      );
    } else if (s.live) {
      this.runningStatus();
    } else {
      this.status("file", "recorded run · " + s.count + " events");
    }
  }

  status(kind, text) {
    const el = $("status");
    el.dataset.status = kind;
    el.firstElementChild.textContent = text;
    el.title = text;
  }

  // banner counts the events the live view skipped. Its text and button
  // are made once and changed in place: skipped messages keep coming in a
  // free run, and a button rebuilt between a press and its release loses
  // the click.
  banner() {
    const b = $("banner");
    const n = this.skips.reduce((a, s) => a + s.count, 0);
    if (!n) {
      b.hidden = true;
      return;
    }
    if (!this.bannerText) {
      this.bannerText = document.createElement("span");
      this.bannerFetch = document.createElement("button");
      this.bannerFetch.textContent = "fetch them";
      this.bannerFetch.dataset.action = "fetch-skipped";
      this.bannerFetch.onclick = () => this.fetchSkipped();
      b.replaceChildren(this.bannerText, this.bannerFetch);
    }
    b.hidden = false;
    b.dataset.skipped = String(n);
    this.bannerText.textContent = n + " events were not sent live while the page was behind (free run). The server kept them.";
    this.bannerFetch.disabled = !!this.fetchingSkipped;
  }

  async fetchSkipped() {
    if (this.fetchingSkipped) return;
    this.fetchingSkipped = true;
    this.bannerFetch.disabled = true;
    const todo = this.skips.splice(0);
    let failed = "";
    try {
      for (const s of todo) await api.fetchRange(s.from, s.to, (evs) => this.store.add(evs));
    } catch (err) {
      this.skips.unshift(...todo);
      failed = err.message;
    }
    this.fetchingSkipped = false;
    this.banner();
    if (failed) this.bannerText.textContent = "fetch failed: " + failed;
    this.invalidate();
  }

  // autoFocus picks the newest connection with both ends, so the views
  // have something to show.
  autoFocus() {
    const cs = this.store.tcpConns();
    if (!cs.length) return;
    const c = cs[cs.length - 1];
    this.setFocus(c.key);
  }

  setFocus(key) {
    if (this.focus === key) return;
    this.focus = key;
    const c = this.store.conns.get(key);
    if (c && (!this.nodeChosen || !c.nodes.has(this.node))) this.node = this.selectedNode() || this.defaultNode();
    this.invalidate();
  }

  // defaultNode is the stack the layer and seq/time views show until the
  // user picks one: on the focused connection, the stack that accepted
  // (or the only one traced). Before the SYN is in, the one that did not
  // open the connection is not known yet, and it is the first one seen.
  defaultNode() {
    const c = this.store.conns.get(this.focus);
    if (!c) return "";
    const ns = [...c.nodes];
    return (c.client ? ns.find((n) => n !== c.client) : "") || ns[0] || "";
  }

  // selectedNode is the stack of the selected event when it is one of the
  // focused connection's.
  selectedNode() {
    const ev = this.selected ? this.store.get(this.selected) : null;
    const c = this.store.conns.get(this.focus);
    return ev && c && c.nodes.has(ev.node) ? ev.node : "";
  }

  // select makes id the selection of every view; from names the view that
  // asked (it does not scroll itself).
  select(id, from) {
    id = +id || 0;
    this.selected = id;
    this.missing = "";
    this.selFrom = from || "";
    this.sel = id ? this.store.related(id) : { same: new Set(), rel: new Set() };
    const key = this.store.connOf.get(id);
    if (key && key.includes("⇄")) this.setFocus(key);
    // The layer and seq/time views follow the stack of the event selected
    // (a click in the ladder or the list, the step a run stopped at), so
    // that it is in them too; a stack chosen in the menu stays until then.
    const n = this.selectedNode();
    if (n && n !== this.node) {
      this.node = n;
      this.nodeChosen = false;
    }
    const h = id ? "#event=" + id : "";
    if (location.hash !== h) history.replaceState(null, "", location.pathname + location.search + h);
    this.invalidate();
  }

  // fromHash selects the event the address names (#event=ID). One this
  // view does not have (not an ID, older than the history, not come yet)
  // is said in the inspector.
  fromHash() {
    const m = /event=([^&]*)/.exec(location.hash);
    const was = this.missing;
    this.missing = "";
    if (!m) {
      if (was) this.invalidate();
      return false;
    }
    const id = /^\d+$/.test(m[1]) ? +m[1] : 0;
    if (!this.store.get(id)) {
      let v = m[1];
      try {
        v = decodeURIComponent(v);
      } catch {
        /* shown as written */
      }
      this.missing = v || " ";
      // what was selected is not what the address names: nothing is
      // (the address stays as it was written)
      this.selected = 0;
      this.sel = { same: new Set(), rel: new Set() };
      this.invalidate();
      return false;
    }
    if (id !== this.selected) this.select(id, "hash");
    return true;
  }

  // hl returns "sel", "rel" or "" for an event id.
  hl(id) {
    if (this.sel.same.has(id)) return "sel";
    if (this.sel.rel.has(id)) return "rel";
    return "";
  }

  invalidate() {
    if (this.dirty && this.raf) return;
    this.dirty = true;
    if (!this.raf) this.raf = requestAnimationFrame(() => this.draw());
  }

  draw() {
    const t0 = performance.now();
    this.raf = 0;
    this.dirty = false;
    this.adoptState();
    if (this.pendingCurrent && this.store.get(this.pendingCurrent)) {
      const id = this.pendingCurrent;
      this.pendingCurrent = 0;
      this.select(id, "stack");
    }
    if (!this.selected && location.hash) this.fromHash();
    if (!this.focus) this.autoFocus();
    if (this.state.live && !this.state.paused && !this.state.ended) this.runningStatus();
    if (!this.nodeChosen) this.node = this.selectedNode() || this.defaultNode() || this.node;
    this.nodeSelect();
    for (const v of this.views) {
      const v0 = performance.now();
      try {
        v.render();
        this.timing.views[v.constructor.name] = performance.now() - v0;
      } catch (err) {
        console.error("view", v.constructor.name, err);
      }
    }
    if (this.live && this.store.events.length) this.live.ack(this.store.events[this.store.events.length - 1].id);
    // how long drawing takes, for the curious and for tests (never asserted on)
    this.timing.lastDraw = performance.now() - t0;
    this.timing.maxDraw = Math.max(this.timing.maxDraw, this.timing.lastDraw);
    this.timing.draws++;
  }

  nodeSelect() {
    const sel = $("node");
    const c = this.store.conns.get(this.focus);
    const nodes = c ? [...c.nodes] : [...this.store.nodes].filter((n) => n !== "demo");
    setOptions(sel, nodes);
    if (this.node && sel.value !== this.node) sel.value = this.node;
    if (!this.node && nodes.length) this.node = nodes[0];
  }

  // step moves the selection to the next (+1) or previous (-1) event.
  move(delta) {
    const evs = this.store.events;
    if (!evs.length) return;
    let i = this.selected ? this.store.indexOf(this.selected) : -1;
    i = Math.max(0, Math.min(evs.length - 1, i + delta));
    this.select(evs[i].id, "keys");
  }
}

// A run time exception must never pass unseen: it shows in the status.
window.addEventListener("error", (e) => {
  const el = $("status");
  if (el && el.firstElementChild) {
    el.dataset.status = "error";
    el.firstElementChild.textContent = "page error: " + e.message;
  }
});

export const app = new App();
window.glassnet = app; // for scripts and tests: app.store, app.select(id)
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => app.start());
else app.start();

