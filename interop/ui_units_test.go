package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// longTransfer is how many bytes the kernel sends to the stack's TCP echo
// in viewedLongIPv6: megabytes, over some thousand segments.
const longTransfer = 3 << 20

// stackAddr6 is a long IPv6 address, as a global one is, for the stack in
// viewedLongIPv6.
const stackAddr6 = "fd00:216:abcd:1234:5678:9abc:def0:2"

// viewedLongIPv6 records serve on a TUN while the kernel sends
// longTransfer bytes over IPv6 to its TCP echo and reads them back, then
// opens the recording with glassnet view in headless chromium, focused on
// that connection. It runs in a network namespace of its own.
func viewedLongIPv6(t *testing.T, fn func(t *testing.T, p *uiPage)) {
	needProgram(t, chromiumBin, "chromium")
	netnstest.RunTUN(t, func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "long6.jsonl")
		s := startServeArgs(t, "serve", "--tun", "gnuiu0", "--addr", "10.216.0.2/24,"+stackAddr6+"/64", "--trace", file)
		c, err := net.DialTimeout("tcp", "["+stackAddr6+"]:7", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		go func() {
			c.Write(make([]byte, longTransfer))
			c.(*net.TCPConn).CloseWrite()
		}()
		n, err := io.Copy(io.Discard, c)
		if err != nil || n != longTransfer {
			t.Fatalf("the echo over IPv6 gave back %d bytes (%v), want %d", n, err, longTransfer)
		}
		port := c.LocalAddr().(*net.TCPAddr).Port
		c.Close()
		s.interrupt(t)

		r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p := openUI(t, ctx, r)
		p.waitLong("the recording in the page", time.Minute, `window.glassnet && glassnet.store.events.length > 0 && glassnet.timing.draws > 0 && "loaded"`)
		// the connection's key names the lower address first
		key := p.eval(fmt.Sprintf(`[...glassnet.store.conns.keys()].find((k) => k.includes(" ⇄ ") && (k.endsWith("]:%d") || k.includes("]:%d "))) || ""`, port, port))
		if key == "" {
			t.Fatalf("no connection from port %d in the page: %s", port, p.eval(`JSON.stringify([...glassnet.store.conns.keys()])`))
		}
		p.eval(fmt.Sprintf(`glassnet.setFocus(%q); "ok"`, key))
		p.wait("the views drawn for the connection", fmt.Sprintf(`document.getElementById("ladder-title").title === %q && "drawn"`, key))
		fn(t, p)
	})
}

// unitLabel is an axis's number written in a unit: "0", "500 B",
// "512 KiB", "1.25 MiB", "853 ms", "5.07 s".
var unitLabel = regexp.MustCompile(`^(0|[0-9.]+ (B|KiB|MiB|GiB|ns|µs|ms|s))$`)

// TestUIAxesInUnits: a transfer of megabytes reads in units on the
// axes, not as raw counts ("1048576", "5066.220 ms"): the byte stream's
// offsets in B, KiB and MiB, the Seq/time graph's bytes and times as
// well; each label keeps its exact number in its tooltip.
func TestUIAxesInUnits(t *testing.T) {
	viewedLongIPv6(t, func(t *testing.T, p *uiPage) {
		p.wait("the byte stream drawn", `document.querySelector("#ruler svg [data-kind]") && "drawn"`)
		// the axis's labels: the texts on the row of the offset 0
		got := p.eval(`(() => {
			const texts = [...document.querySelectorAll("#ruler svg text")].filter((t) => !t.closest(".marks"));
			const zero = texts.find((t) => t.textContent === "0");
			const row = texts.filter((t) => zero && t.getAttribute("y") === zero.getAttribute("y"));
			return JSON.stringify(row.map((t) => [t.textContent, ((g) => g && g.tagName === "g" && g.querySelector("title") ? g.querySelector("title").textContent : "")(t.parentElement)]));
		})()`)
		var ticks [][2]string
		if err := json.Unmarshal([]byte(got), &ticks); err != nil {
			t.Fatalf("the byte stream's axis: %v in %s", err, got)
		}
		mib := 0
		for _, tk := range ticks {
			lab, tip := tk[0], tk[1]
			if !unitLabel.MatchString(lab) {
				t.Errorf("the byte stream's axis reads %q: want a number in B, KiB or MiB", lab)
				continue
			}
			exact, err := strconv.Atoi(strings.TrimPrefix(tip, "stream offset "))
			if err != nil {
				t.Errorf("the axis label %q has the tooltip %q: want the exact offset", lab, tip)
				continue
			}
			if v := bytesOf(lab); v != float64(exact) {
				t.Errorf("the axis label %q is %v bytes, its tooltip says %d", lab, v, exact)
			}
			if strings.HasSuffix(lab, " MiB") {
				mib++
			}
		}
		if len(ticks) < 2 || mib == 0 {
			t.Errorf("a %d-byte stream's axis has no label in MiB: %q", longTransfer, ticks)
		}

		p.click(`.tabs button[data-tab="seqgraph"]`)
		p.wait("the Seq/time graph", `document.querySelector("#seqgraph svg [data-event-id]") && "drawn"`)
		// each axis's labels: the panels' names and the run's first and
		// last time
		got = p.eval(`JSON.stringify([...document.querySelectorAll("#seqgraph svg text.muted")].filter((t) => !/^[a-z]/.test(t.textContent)).map((t) => ((g) => [g.dataset.axis || "?", t.textContent, (g.querySelector(":scope > title") || {}).textContent || ""])(t.parentElement)))`)
		var axes [][3]string
		if err := json.Unmarshal([]byte(got), &axes); err != nil {
			t.Fatalf("the Seq/time axes: %v in %s", err, got)
		}
		seen := map[string]bool{}
		for _, a := range axes {
			seen[a[0]] = true
			if !unitLabel.MatchString(a[1]) {
				t.Errorf("the Seq/time graph's %s axis reads %q: want a number in a unit", a[0], a[1])
			}
			if !regexp.MustCompile(`\d`).MatchString(a[2]) {
				t.Errorf("the Seq/time graph's %s label %q has the tooltip %q: want its exact number", a[0], a[1], a[2])
			}
		}
		for _, want := range []string{"sequence (relative)", "windows", "timers", "x"} {
			if !seen[want] {
				t.Errorf("the Seq/time graph has no labels on its %s axis: %q", want, axes)
			}
		}
		p.shot("ui-long-ipv6")
		p.noProblems("the axes of a long transfer")
	})
}

// bytesOf is the number of bytes an axis label in B, KiB or MiB says.
func bytesOf(lab string) float64 {
	num, unit, _ := strings.Cut(lab, " ")
	v, _ := strconv.ParseFloat(num, 64)
	return v * map[string]float64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
}

// TestUINarrowConnsLongIPv6: in a 1024 px window the connections table
// fits its column with a long IPv6 address and the queues of a transfer
// of megabytes: the address breaks at the column's edge and the line of
// queues, cwnd and rtt between its items, where before both ran past it
// and the table scrolled sideways, the numbers out of sight.
func TestUINarrowConnsLongIPv6(t *testing.T) {
	viewedLongIPv6(t, func(t *testing.T, p *uiPage) {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1024, "height": 760, "deviceScaleFactor": 1, "mobile": false}, nil)
		var row struct {
			Scroll int      `json:"scroll"`
			Nums   string   `json:"nums"`
			Past   []string `json:"past"`
		}
		// A moment of the transfer where the queues hold a kilobyte or
		// more, the widest numbers: the middle as a rule, but a live
		// reader sometimes has its queue empty there, so other moments
		// are tried after it.
		wide := regexp.MustCompile(`q \d{4,} / \d+`)
		for _, at := range []float64{0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.45, 0.55, 0.35, 0.65} {
			p.eval(fmt.Sprintf(`((evs) => glassnet.select(evs[Math.floor(evs.length * %v)].id, "test"))(glassnet.store.connEvents(glassnet.focus).filter((e) => e.layer === "link" && e.event === "packet")); "ok"`, at))
			got := p.wait("the focused connection's row at 1024 px", `((c, r) => r && r.querySelector("td.nums").offsetWidth > 0 && JSON.stringify({
				scroll: c.scrollWidth - c.clientWidth,
				nums: r.querySelector("td.nums").textContent,
				past: [...r.querySelectorAll("td.addr, td.nums, td.nums span")].filter((x) => x.getBoundingClientRect().right > c.getBoundingClientRect().right + 1 || x.scrollWidth > x.clientWidth + 1).map((x) => x.textContent),
			}))(document.getElementById("conns"), document.querySelector('#conns tr[data-conn][aria-selected="true"]'))`)
			if err := json.Unmarshal([]byte(got), &row); err != nil {
				t.Fatal(err)
			}
			if wide.MatchString(row.Nums) {
				break
			}
		}
		t.Logf("the row's numbers: %s", row.Nums)
		if row.Scroll > 1 || len(row.Past) > 0 {
			t.Errorf("at 1024 px the connections table scrolls sideways by %d px; past its edge: %q", row.Scroll, row.Past)
		}
		if !wide.MatchString(row.Nums) {
			t.Errorf("the row's numbers %q: want the queues of a moment in the transfer where they hold a kilobyte or more", row.Nums)
		}
		p.shot("ui-conns-ipv6-1024")
		p.noProblems("a long IPv6 address at 1024 px")
	})
}

// TestUISeqTimeEndsApart: the Seq/time graph's time axis of a connection
// that starts seconds into the run and lasts milliseconds reads in
// seconds with the decimals that tell its two ends apart ("1.80512 s",
// "1.81184 s"), not "1805.118 ms", nor "1.81 s" at both ends;
// the exact times are the labels' tooltips.
func TestUISeqTimeEndsApart(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	// the demo's run moved to 1.805 s on and pressed into 7 ms, a span
	// an axis in hundredths of a second cannot tell
	evs := demoEvents(t)
	t0, t1 := evs[0]["t"].(float64), evs[0]["t"].(float64)
	for _, e := range evs {
		t0, t1 = min(t0, e["t"].(float64)), max(t1, e["t"].(float64))
	}
	for _, e := range evs {
		e["t"] = math.Round(1.805e9 + (e["t"].(float64)-t0)*7e6/(t1-t0))
	}
	file := filepath.Join(t.TempDir(), "late.jsonl")
	repeatTrace(t, evs, file, len(evs))
	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.wait("the recording in the page", fmt.Sprintf(`window.glassnet && glassnet.store.events.length === %d && glassnet.timing.draws > 0 && "loaded"`, len(evs)))
	p.eval(`glassnet.select(glassnet.store.events.find((e) => e.event === "frame" && e.len > 1000).id, "test"); "ok"`)
	p.click(`.tabs button[data-tab="seqgraph"]`)
	p.wait("the Seq/time graph", `document.querySelector("#seqgraph svg [data-event-id]") && "drawn"`)
	got := p.eval(`JSON.stringify([...document.querySelectorAll("#seqgraph svg text.muted")].filter((t) => /^[0-9.]+ m?s$/.test(t.textContent) && t.getAttribute("y") === [...document.querySelectorAll("#seqgraph svg text")].pop().getAttribute("y")).map((t) => [t.textContent, ((g) => (g.querySelector(":scope > title") || {}).textContent || "")(t.parentElement)]))`)
	var ends [][2]string
	if err := json.Unmarshal([]byte(got), &ends); err != nil {
		t.Fatal(err)
	}
	if len(ends) != 2 {
		t.Fatalf("the time axis's ends: %q, want two", ends)
	}
	for _, e := range ends {
		if !strings.HasSuffix(e[0], " s") || !strings.HasPrefix(e[1], "t = 18") {
			t.Errorf("a time axis's end reads %q (tooltip %q): want it in s, 1.8 s on, and its exact time in its tooltip", e[0], e[1])
		}
	}
	// the span the labels read is the span the tooltips give, within a tenth
	secs := func(s string) float64 {
		num, unit, _ := strings.Cut(strings.TrimPrefix(s, "t = "), " ")
		v, _ := strconv.ParseFloat(num, 64)
		if unit == "ms" {
			v /= 1000
		}
		return v
	}
	read, exact := secs(ends[1][0])-secs(ends[0][0]), secs(ends[1][1])-secs(ends[0][1])
	if exact <= 0 || read < exact*0.9 || read > exact*1.1 {
		t.Errorf("the time axis's ends read %q and %q, %.4f s apart; they are %.4f s apart (%q, %q)", ends[0][0], ends[1][0], read, exact, ends[0][1], ends[1][1])
	}
	p.noProblems("a late connection's Seq/time")
}
