// Rules: link and frame rules added and removed while the stack runs, in
// the --egress/--ingress syntax and with the command line's errors.

import * as api from "./api.js";
import { esc } from "./fields.js";
import { patch, setOptions } from "./dom.js";

export class RulesView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    el.innerHTML =
      '<ul class="list" id="rule-list"></ul>' +
      '<div class="form live-only">' +
      '<label for="rl-node">stack</label><select id="rl-node"></select>' +
      '<label for="rl-point">direction</label><select id="rl-point"><option value="egress">egress (leaving)</option><option value="ingress">ingress (entering)</option></select>' +
      '<label for="rl-rule" title="[FILTER :] ACTION, e.g. loss 10%, delay 50ms jitter 10ms, tcp and syn : drop, rst after 10 packets">rule</label><input id="rl-rule" type="text" spellcheck="false" placeholder="e.g. loss 10%  or  tcp and syn : drop">' +
      "</div>" +
      '<div class="btns live-only"><button id="rl-add" data-action="add-rule">Add rule</button><span id="rl-msg"></span></div>';
    document.getElementById("rl-add").onclick = () => this.add();
    el.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-rule-id]");
      if (b) this.remove(b.dataset.ruleId);
    });
    this.loaded = false;
  }

  async load() {
    try {
      const r = await api.get("/api/rules");
      this.app.rules = (r && r.rules) || [];
      this.error = "";
    } catch (err) {
      this.error = err.message;
    }
    this.sig = "";
    this.render();
  }

  async add() {
    const msg = document.getElementById("rl-msg");
    const body = { node: document.getElementById("rl-node").value, point: document.getElementById("rl-point").value, rule: document.getElementById("rl-rule").value.trim() };
    try {
      await api.post("/api/rules", body);
      msg.className = "ok";
      msg.textContent = "added";
      msg.dataset.result = "ok";
      document.getElementById("rl-rule").value = "";
      this.load();
    } catch (err) {
      msg.className = "err";
      msg.textContent = err.message;
      msg.dataset.result = "error";
    }
  }

  async remove(id) {
    try {
      await api.del("/api/rules/" + encodeURIComponent(id));
    } catch (err) {
      document.getElementById("rl-msg").textContent = err.message;
    }
    this.load();
  }

  render() {
    const app = this.app;
    if (!this.loaded && !app.readonly && app.state.live) {
      this.loaded = true;
      this.load();
    }
    const sel = document.getElementById("rl-node");
    const nodes = app.state.nodes && app.state.nodes.length ? app.state.nodes : [...app.store.nodes].filter((n) => n !== "demo");
    // a stack added while the page is open leaves the choice as it was
    setOptions(sel, nodes);
    // the live stream sends the rules whenever any page or script
    // changes them
    const rules = app.rules || [];
    const sig = JSON.stringify(rules) + this.error + app.readonly;
    if (sig === this.sig) return;
    this.sig = sig;
    const ul = document.getElementById("rule-list");
    if (app.readonly) {
      ul.innerHTML = '<li class="empty">A recorded trace: no rules to change.</li>';
      return;
    }
    if (this.error) {
      ul.innerHTML = '<li class="err">' + esc(this.error) + "</li>";
      return;
    }
    // Changed in place: a remove button being pressed or focused stays
    // when another page or a script adds or removes a rule.
    const items = rules.map(
      (r) => '<li data-rule="' + esc(r.id) + '"><span>' + esc((r.node || "") + " " + (r.point || "") + ": " + (r.rule || "")) + '</span><button data-rule-id="' + esc(r.id) + '" title="Remove this rule">remove</button></li>'
    );
    patch(ul, items.length ? items.join("") : '<li class="hint">No rules yet.</li>');
  }
}
