package interop

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// inSight is a script that says, for each of the ladder, the layers, the
// event list and the byte stream, whether the element of event id drawn
// selected there lies inside what its scroller shows (below the sticky
// lane names): "" when each does, else what is wrong.
const inSight = `((id) => {
	const bad = [];
	for (const [view, css] of [["ladder", "#ladder"], ["layers", "#lanes"], ["events", "#events"], ["byte stream", "#ruler"]]) {
		const box = document.querySelector(css);
		const el = box.querySelector('[data-event-id="' + id + '"][data-hl="sel"]');
		if (!el) { bad.push(view + ": #" + id + " not drawn selected"); continue; }
		const v = box.getBoundingClientRect(), r = el.getBoundingClientRect();
		const head = box.firstElementChild && getComputedStyle(box.firstElementChild).position === "sticky" ? box.firstElementChild.getBoundingClientRect().height : 0;
		if (r.bottom <= v.top + head || r.top >= v.bottom || r.right <= v.left || r.left >= v.right)
			bad.push(view + ": #" + id + " at " + Math.round(r.top - v.top) + " px in a box " + Math.round(v.height) + " px high scrolled to " + Math.round(box.scrollTop));
	}
	return bad.join("; ");
})`

// TestUISelectionInSight: a unit selected far above where the views are
// scrolled is brought into sight, and stays there, in the ladder, the
// layers, the event list and the byte stream, the same data-event-id lit
// in each. (The browser's scroll anchoring undid the ladder's scroll to
// it: the ladder ended at its top, the selection out of sight.)
func TestUISelectionInSight(t *testing.T) {
	p := viewedDemo(t, "--trace")
	// the frames the client sent, each drawn in every view
	var frames []int
	json.Unmarshal([]byte(p.eval(`JSON.stringify(glassnet.store.events.filter((e) => e.layer === "ws" && e.event === "frame" && e.node === "client" && e.dir === "out").map((e) => e.id))`)), &frames)
	if len(frames) < 4 {
		t.Fatalf("the demo's client sent %d frames, want 4 or more", len(frames))
	}
	frame := `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`
	for _, id := range frames {
		// every view scrolled to its end, as after a run
		p.eval(`glassnet.select(0, "test"); for (const id of ["ladder", "lanes", "events", "ruler"]) { const el = document.getElementById(id); el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event("scroll")); } "ok"`)
		p.eval(frame)
		p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, id))
		p.wait(fmt.Sprintf("#%d drawn selected", id), fmt.Sprintf(`document.getElementById("inspector-title").textContent.includes("#%d ") && "shown"`, id))
		// and still in sight a few frames on, once the browser has laid
		// the rows out
		for range 3 {
			p.eval(frame)
		}
		if bad := p.eval(fmt.Sprintf("%s(%d)", inSight, id)); bad != "" {
			t.Errorf("frame #%d selected with the views scrolled to their end: %s", id, bad)
		}
	}
	p.noProblems("selections far above")
}

// TestUIStepLightsItsPacket: a step the ladder has no row for lights the
// packets of its chain there, as the layers do: a data segment TCP sent,
// the packet it went out in; a read the server's socket woke for, the
// packet that woke it. (The ladder lit nothing: the unit selected in the
// list was in no other view but the layers.)
func TestUIStepLightsItsPacket(t *testing.T) {
	p := viewedDemo(t, "--trace")
	// [segment id, the packet it went out in] for each data segment the
	// client's TCP sent; [recv id, the packets that woke it] for each of
	// the server's reads: the packets its stack received since its last
	// read or wait
	var pairs [][2]int
	json.Unmarshal([]byte(p.eval(`JSON.stringify((() => {
		const evs = glassnet.store.events, out = [];
		for (const [i, e] of evs.entries()) {
			if (e.node !== "client" || e.layer !== "tcp" || e.event !== "segment" || !(e.payload_len > 0)) continue;
			const pkt = evs.slice(i + 1).find((x) => x.node === "client" && x.layer === "link" && x.event === "packet" && x.dir === "out");
			if (pkt && pkt.rel_seq === e.rel_seq && pkt.payload_len === e.payload_len) out.push([e.id, pkt.id]);
		}
		return out;
	})())`)), &pairs)
	if len(pairs) < 4 {
		t.Fatalf("%d data segments of the client with their packets, want 4 or more", len(pairs))
	}
	for _, pr := range pairs {
		p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, pr[0]))
		p.wait(fmt.Sprintf("#%d drawn selected", pr[0]), fmt.Sprintf(`document.getElementById("inspector-title").textContent.includes("#%d ") && "shown"`, pr[0]))
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		if got := p.eval(fmt.Sprintf(`(document.querySelector('#ladder g.pkt[data-event-id="%d"]') || {dataset: {hl: "not drawn"}}).dataset.hl || "not lit"`, pr[1])); got != "rel" {
			t.Errorf("segment #%d selected: its packet #%d in the ladder is %s", pr[0], pr[1], got)
		}
	}
	var recvs []int
	// (those that waited: woken by a packet; a read that found its bytes
	// there already has no packet of its own)
	json.Unmarshal([]byte(p.eval(`JSON.stringify((() => {
		const sock = glassnet.store.events.filter((e) => e.node === "server" && e.layer === "socket");
		return sock.filter((e, i) => e.event === "recv" && e.n > 0 && i > 0 && sock[i - 1].event === "woken").map((e) => e.id);
	})())`)), &recvs)
	if len(recvs) < 3 {
		t.Fatalf("%d reads of the server, want 3 or more", len(recvs))
	}
	for _, id := range recvs {
		p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, id))
		p.wait(fmt.Sprintf("#%d drawn selected", id), fmt.Sprintf(`document.getElementById("inspector-title").textContent.includes("#%d ") && "shown"`, id))
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		// a packet into the server lit, received before the read
		if got := p.eval(fmt.Sprintf(`String([...document.querySelectorAll('#ladder g.pkt[data-hl="rel"]')].filter((g) => { const tw = glassnet.store.get(+g.dataset.twin); return tw && tw.node === "server" && tw.id < %d; }).length)`, id)); got == "0" {
			t.Errorf("the server's read #%d selected: no packet it received lit in the ladder", id)
		}
	}
	p.noProblems("steps and their packets")
}

// TestUILayersLabelsWhole: a row of the layers holds one event, and its
// label has the row: right of its dot to the edge, or left of it when the
// right is short (the ws column in a narrow window). At 1600 px no label
// of the demo is cut; at 1024 px only one longer than 30 characters may
// be. (Each was cut at about two columns' width: "recv copies 129 …",
// "segment [P.] 151…" at 1024 px.)
func TestUILayersLabelsWhole(t *testing.T) {
	p := viewedDemo(t, "--trace")
	for _, size := range [][2]int{{1600, 1000}, {1024, 700}} {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": false}, nil)
		for _, node := range []string{"client", "server"} {
			cut := p.eval(`(async (node) => {
				const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
				const sel = document.getElementById("node");
				sel.value = node;
				sel.dispatchEvent(new Event("change", {bubbles: true}));
				await frame();
				const el = document.getElementById("lanes"), svg = () => el.querySelector("svg:last-of-type");
				const cut = new Set(), box = el.getBoundingClientRect();
				for (let y = 0; y < el.scrollHeight; y += el.clientHeight / 2) {
					el.scrollTop = y;
					el.dispatchEvent(new Event("scroll"));
					await frame();
					for (const t of el.querySelectorAll("g[data-event-id] > text")) {
						const r = t.getBoundingClientRect();
						if (/…$/.test(t.textContent)) cut.add(t.textContent);
						else if (r.right > box.right || r.left < box.left) cut.add(t.textContent + " (past the edge)");
					}
				}
				return [...cut].join(" | ");
			})(` + strconv.Quote(node) + `)`)
			var bad []string
			for _, c := range strings.Split(cut, " | ") {
				if c != "" && (size[0] == 1600 || len([]rune(c)) < 30) {
					bad = append(bad, c)
				}
			}
			if len(bad) > 0 {
				t.Errorf("at %d px the %s's layers cut %q", size[0], node, bad)
			}
		}
	}
	p.noProblems("the layers' labels")
}

// TestUIByteStreamMarks: the byte stream marks, at the step selected,
// where the client's bytes end as its TCP sent them, as the server
// acknowledged them and as the server's application read them, each
// label whole in the view: "sent 1658", "read = acked 210". (It showed
// which segments and frames carried the bytes, not how far each had got.)
func TestUIByteStreamMarks(t *testing.T) {
	p := viewedDemo(t, "--trace")
	var refs []int
	json.Unmarshal([]byte(p.eval(`JSON.stringify(glassnet.store.events.filter((e, i) => i % 25 === 0 && e.id > 60).map((e) => e.id))`)), &refs)
	checked := 0
	for _, ref := range refs {
		want := p.eval(fmt.Sprintf(`(() => {
			const evs = glassnet.store.events.filter((e) => e.id <= %d && glassnet.store.connOf.get(e.id) === glassnet.focus);
			const max = (xs) => xs.length ? Math.max(...xs) : undefined;
			const sent = max(evs.filter((e) => e.node === "client" && e.layer === "link" && e.dir === "out" && e.payload_len > 0).map((e) => e.rel_seq - 1 + e.payload_len));
			const acked = max(evs.filter((e) => e.node === "server" && e.layer === "link" && e.event === "packet" && e.dir === "out" && (e.flags || "").includes(".")).map((e) => e.rel_ack - 1));
			const read = max(evs.filter((e) => e.node === "server" && e.layer === "socket" && e.event === "recv" && e.n > 0).map((e) => e.offset + e.n));
			if (!(sent > 0)) return "";
			const m = [["read", read], ["acked", acked === undefined ? undefined : Math.min(acked, sent)], ["sent", sent]].filter((x) => x[1] !== undefined);
			return m.sort((a, b) => a[0] < b[0] ? -1 : 1).map((x) => x[0] + " " + x[1]).join(", ");
		})()`, ref))
		p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, ref))
		p.wait(fmt.Sprintf("#%d drawn selected", ref), fmt.Sprintf(`document.getElementById("inspector-title").textContent.includes("#%d ") && "shown"`, ref))
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		got := p.eval(fmt.Sprintf(`(() => {
			const g = [...document.querySelectorAll("#ruler g.marks")].find((g) => g.querySelector("title").textContent.startsWith("at #%d: client "));
			if (!g) return "";
			const box = document.getElementById("ruler").getBoundingClientRect(), out = [];
			for (const t of g.querySelectorAll("text")) {
				const r = t.getBoundingClientRect(), at = document.elementFromPoint(r.x + 2, r.y + r.height / 2);
				if (r.left < box.left || r.right > box.right) return "label " + t.textContent + " past the view's edge: " + [r.left, r.right, box.left, box.right, document.getElementById("ruler").clientWidth, document.querySelector("#ruler svg").getAttribute("width")].map(Math.round).join(" ");
				if (at !== t) return "label " + t.textContent + " covered by " + (at ? at.outerHTML.slice(0, 80) : "nothing");
				const [names, off] = [t.textContent.replace(/ \d+$/, ""), t.textContent.match(/\d+$/)[0]];
				for (const n of names.split(" = ")) out.push(n + " " + off);
			}
			return out.sort().join(", ");
		})()`, ref))
		if got != want {
			t.Errorf("at #%d the byte stream marks the client's bytes %q, want %q", ref, got, want)
		}
		if want != "" {
			checked++
		}
	}
	if checked < 5 {
		t.Errorf("%d steps with the client's bytes marked, want 5 or more", checked)
	}
	p.noProblems("the byte stream's marks")
}

// TestUIEventLinesTellPacketsApart: a packet's line in the event list
// shows its flags and sequence numbers inside the column, at 1600 and at
// 1024 px, and the filter finds it as the line writes it; its addresses
// come after them. (Each line was cut after "packet IP 10.0.0.1.47065 >
// 10.0.0…": no two packets of a connection told apart.)
func TestUIEventLinesTellPacketsApart(t *testing.T) {
	p := viewedDemo(t, "--trace")
	for _, size := range [][2]int{{1600, 1000}, {1024, 700}} {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": false}, nil)
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		got := p.eval(`(() => {
			const rows = [...document.querySelectorAll("#events .vrow")].filter((r) => { const e = glassnet.store.get(+r.dataset.eventId); return e.layer === "link" && e.event === "packet" && e.proto === "tcp"; });
			const bad = [];
			for (const r of rows) {
				const e = glassnet.store.get(+r.dataset.eventId), sm = r.querySelector(".sm"), t = sm.firstChild;
				const end = t.data.indexOf("]");
				if (end < 0) { bad.push("#" + e.id + " " + JSON.stringify(t.data) + ": no flags"); continue; }
				const rg = document.createRange();
				rg.setStart(t, 0);
				rg.setEnd(t, Math.min(t.data.length, t.data.indexOf(",", end) > 0 ? t.data.indexOf(",", end) : end + 1));
				// the line is cut at the row's edge (its padding: 6 px)
				if (rg.getBoundingClientRect().right > Math.min(sm.getBoundingClientRect().right, r.getBoundingClientRect().right - 6) + 0.5) bad.push("#" + e.id + " " + JSON.stringify(t.data) + ": its flags and seq cut off");
				if (!/\(\S+ > \S+\)/.test(t.data)) bad.push("#" + e.id + " " + JSON.stringify(t.data) + ": no addresses");
			}
			return rows.length ? bad.join("; ") : "no packet rows";
		})()`)
		if got != "" {
			t.Errorf("at %d px the event list's packet lines: %s", size[0], got)
		}
	}
	// the filter finds a line as it reads (the trace writes "Flags [S.],")
	p.setValue("#events-filter", "packet [S.]")
	p.wait("the SYN-ACKs found", `document.getElementById("events-count").textContent.startsWith("2 of") && [...document.querySelectorAll("#events .vrow")].every((r) => glassnet.store.get(+r.dataset.eventId).flags === "S.") && "found"`)
	p.noProblems("the event list's lines")
}
