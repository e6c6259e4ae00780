// Changing the page in place. The views are drawn again with every message
// of the live stream, and a view written anew with innerHTML takes out of
// the page what a person is doing with it: an element taken out loses the
// focus, a text selection in it, a click between its press and its release,
// the tooltip being read. patch writes the same markup into the nodes that
// are there, changing only what differs.

// IDS are the attributes that say which unit an element stands for (or,
// for a link, leads to): an element kept is the same unit, and a click on
// it, begun before the redraw, still means that unit.
const IDS = ["data-event-id", "data-hold-id", "data-conn", "data-rule", "data-armed", "data-goto"];

// key is what makes an element the same one from one drawing to the next:
// its tag, kind and stack and the unit it stands for; null for an element
// that stands for none (a lane, an axis, a table's head), known by its
// place.
function key(n) {
  if (n.nodeType !== 1) return null;
  let k = null;
  for (const a of IDS) {
    const v = n.getAttribute(a);
    if (v === null) continue;
    k ??= n.nodeName + " " + (n.getAttribute("data-kind") || "") + " " + (n.getAttribute("data-node") || "");
    k += " " + a + "=" + v;
  }
  return k;
}

// patch makes el's content what html writes. An element stays when its key
// is drawn again or, without one, when an element of its tag is drawn at
// its place among the ones without; its attributes and text change where
// they differ, and what is no longer drawn goes.
export function patch(el, html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  children(el, t.content);
}

function children(from, to) {
  const want = [...to.childNodes];
  const keyed = new Map();
  for (const c of from.childNodes) {
    const k = key(c);
    if (k !== null && !keyed.has(k)) keyed.set(k, c);
  }
  // The keyed ones no longer drawn go first, so that those that stay need
  // not move.
  const wanted = new Set(want.map(key));
  for (const [k, c] of keyed) {
    if (wanted.has(k)) continue;
    c.remove();
    keyed.delete(k);
  }
  const kept = new Set();
  let at = from.firstChild;
  for (const n of want) {
    const k = key(n);
    let m = null;
    if (k !== null) {
      m = keyed.get(k) || null;
      keyed.delete(k);
    } else {
      for (let c = at; c && key(c) === null; c = c.nextSibling) {
        if (c.nodeType === n.nodeType && c.nodeName === n.nodeName) {
          m = c;
          break;
        }
      }
    }
    if (!m) {
      from.insertBefore(n, at);
      kept.add(n);
      continue;
    }
    // Nodes without a key before the one kept are passed over (they go
    // at the end); only a keyed one between means the order changed and
    // the kept one moves.
    let c = at;
    while (c && c !== m && key(c) === null) c = c.nextSibling;
    if (c === m) at = m.nextSibling;
    else from.insertBefore(m, at);
    kept.add(m);
    update(m, n);
  }
  for (const c of [...from.childNodes]) if (!kept.has(c)) c.remove();
}

function update(m, n) {
  if (m.nodeType !== 1) {
    if (m.nodeValue !== n.nodeValue) m.nodeValue = n.nodeValue;
    return;
  }
  for (const a of [...m.attributes]) if (!n.hasAttribute(a.name)) m.removeAttribute(a.name);
  for (const a of n.attributes) if (m.getAttribute(a.name) !== a.value) m.setAttribute(a.name, a.value);
  children(m, n);
}

// setOptions makes the options of the select sel the values, in order. The
// options it has for them stay, so that the one chosen stays chosen while
// it is offered (a select written anew chooses its first).
export function setOptions(sel, values) {
  const have = new Map([...sel.options].map((o) => [o.value, o]));
  for (const o of [...sel.options]) if (!values.includes(o.value)) o.remove();
  let at = sel.firstElementChild;
  for (const v of values) {
    let o = have.get(v);
    if (!o) {
      o = document.createElement("option");
      o.value = v;
      o.textContent = v;
    }
    if (o === at) at = at.nextElementSibling;
    else sel.insertBefore(o, at);
  }
}

// Text that ticks (how long a unit has been held, a timer's countdown)
// changes every second or with every events message. It is one text node
// of its own, changed in place and only when its text differs, so that
// nothing else around it is written again. While the selection touches
// the element it belongs to (a card, a row) the node is left as it is: a
// text node changed under a selection that starts or ends in it moves the
// selection's ends. It is brought up to date once the selection has moved
// away.
const waiting = new Map(); // text node -> [text, element around it]

// selects says whether the document's selection (one that selects
// something, not a caret) touches el.
function selects(el) {
  const s = document.getSelection();
  if (!s || s.isCollapsed) return false;
  for (let i = 0; i < s.rangeCount; i++) if (s.getRangeAt(i).intersectsNode(el)) return true;
  return false;
}

// tick makes the text of the text node t text, now or, while the
// selection touches around (t's card or row), once it no longer does.
export function tick(t, text, around) {
  if (t.nodeValue === text) {
    waiting.delete(t);
    return;
  }
  if (selects(around || t)) {
    waiting.set(t, [text, around || t]);
    return;
  }
  waiting.delete(t);
  t.nodeValue = text;
}

// ticker returns the text node that ticks in el, a span of its own made on
// first use, so that tick changes only it.
export function ticker(el) {
  let s = el.querySelector(":scope > span[data-tick]");
  if (!s) {
    s = document.createElement("span");
    s.dataset.tick = "";
    el.append(s);
  }
  if (!s.firstChild) s.append("");
  return s.firstChild;
}

document.addEventListener("selectionchange", () => {
  for (const [t, [text, around]] of waiting) {
    if (!t.isConnected) waiting.delete(t);
    else if (!selects(around)) {
      waiting.delete(t);
      t.nodeValue = text;
    }
  }
});
