package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const snmpText = `Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 5156
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 86228 86020 45 856 0 14092814 14076209 53431 0 654 0
Udp: InDatagrams NoPorts
Udp: 3 4
`

func TestSnmpValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		proto, field string
		want         uint64
		wantErr      string
	}{
		{"Tcp", "RetransSegs", 53431, ""},
		{"Tcp", "ActiveOpens", 86228, ""},
		{"Udp", "NoPorts", 4, ""},
		{"Tcp", "Nothing", 0, "no Tcp Nothing"},
		{"TcpExt", "TCPTimeouts", 0, "no TcpExt table"},
		{"Tcp", "MaxConn", 0, "invalid syntax"}, // -1 is no count
	}
	for _, tt := range tests {
		v, err := snmpValue([]byte(snmpText), tt.proto, tt.field)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s %s: %d, %v; want an error with %q", tt.proto, tt.field, v, err, tt.wantErr)
			}
			continue
		}
		if err != nil || v != tt.want {
			t.Errorf("%s %s: %d, %v; want %d", tt.proto, tt.field, v, err, tt.want)
		}
	}
	if _, err := snmpValue([]byte("Tcp: A B\nTcp: 1\n"), "Tcp", "B"); err == nil {
		t.Error("a value line shorter than its names: want an error")
	}
}

func FuzzSnmpValue(f *testing.F) {
	f.Add([]byte(snmpText), "Tcp", "RetransSegs")
	f.Add([]byte("Tcp:\nTcp:\n"), "Tcp", "")
	f.Add([]byte("Tcp: A\n"), "Tcp", "A")
	f.Add([]byte("Tcp: A A\nTcp: 1 x\n"), "Tcp", "A")
	f.Fuzz(func(t *testing.T, b []byte, proto, field string) {
		snmpValue(b, proto, field) // must not panic
	})
}

const netDevText = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 135070856   16112    0    3    0     0          0         0 135070856   16112    0    0    0     0       0          0
  gbt0: 79975224   27385    0    0    0     0          0         0 72264956   38712    0   40    0     0       0          0
`

func TestDevDrops(t *testing.T) {
	t.Parallel()
	rx, tx, err := devDrops([]byte(netDevText))
	if err != nil || rx != 3 || tx != 40 {
		t.Fatalf("devDrops = %d, %d, %v; want 3 received (on lo) and 40 sent (on gbt0)", rx, tx, err)
	}
	for _, bad := range []string{"  gbt0: 1 2 3\n", "  gbt0: 1 2 3 x 5 6 7 8 9 10 11 12\n", "  gbt0: 1 2 3 4 5 6 7 8 9 10 11 y\n"} {
		if _, _, err := devDrops([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func FuzzDevDrops(f *testing.F) {
	f.Add([]byte(netDevText))
	f.Add([]byte(":::\n|:\n"))
	f.Add([]byte("x: 1 2 3 4 5 6 7 8 9 10 11 12\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		devDrops(b) // must not panic
	})
}

func TestSysCells(t *testing.T) {
	t.Parallel()
	u := usage{Sys: perfCounts{Syscalls: 4000, CtxSwitches: 500, Named: map[string]uint64{"sys_enter_read": 2000, "sys_enter_write": 1000}}}
	cells := strings.Split(strings.TrimSuffix(sysCells(u, 1000), "\t"), "\t")
	if len(cells) != len(sysKinds)+3 {
		t.Fatalf("%d cells, want %d: %q", len(cells), len(sysKinds)+3, cells)
	}
	want := map[int]string{0: "2.00", 1: "1.00", 2: "0", len(sysKinds): "1.00", len(sysKinds) + 1: "4.00", len(sysKinds) + 2: "0.50"}
	for i, w := range want {
		if cells[i] != w {
			t.Errorf("cell %d = %q, want %q (cells %q)", i, cells[i], w, cells)
		}
	}
	for _, u := range []usage{{SysErr: "no perf"}, {}} {
		if c := sysCells(u, 1000); strings.Trim(c, "-\t") != "" {
			t.Errorf("sysCells without counts = %q, want only dashes", c)
		}
	}
}

// TestPrintMany checks the many table from made-up rows: the ratio is to
// gorilla's median, stalls and failures show in their row, a row that
// could not run says why, and system calls are per message.
func TestPrintMany(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	sys := perfCounts{Syscalls: 3000, CtxSwitches: 100, Named: map[string]uint64{"sys_enter_writev": 2000}}
	rows := []manyRow{
		{Name: manyRows[0].name, Conns: 1000, Rates: []float64{10000, 30000, 20000}, P50s: []time.Duration{ms, ms, ms}, P99s: []time.Duration{ms, ms, ms},
			Msgs: 1000, Stalled: 7, Failed: 2, FirstErr: "read: connection reset by peer",
			cost: cost{Server: usage{CPU: 50 * ms, Sys: sys}, Client: usage{CPU: 10 * ms, Sys: sys}, Retrans: retransCounts{Stack: 5, RTO: 1}}},
		{Name: manyRows[1].name, Note: "server packet/glassnet-ws did not start: EOF"},
		{Name: manyBaseline, Conns: 1000, Rates: []float64{40000, 40000, 40000}, P50s: []time.Duration{ms}, P99s: []time.Duration{ms}, Msgs: 1000,
			cost: cost{Server: usage{SysErr: "perf_event_open: permission denied"}}},
	}
	var b strings.Builder
	if err := printMany(&b, manyParamsFor(config{rounds: 3}), rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"0.50x",           // 20000 / 40000
		"  7       2",     // stalled, failed
		"50.00 µs", "17%", // server CPU per message; client share 10/(10+50)
		"5/0",                // retransmits
		"did not start: EOF", // the row that could not run
		"first failure: read: connection reset by peer",
		"5 segments retransmitted", // the retransmission note
		"system calls not counted: perf_event_open: permission denied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// writev per message: 2000 / 1000.
	var line string
	for l := range strings.Lines(out) {
		if strings.Contains(l, manyRows[0].name) && strings.Contains(l, "server") && !strings.Contains(l, "µs") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 10 || !strings.Contains(line, "2.00") || !strings.Contains(line, "3.00") {
		t.Errorf("system call line %q: want writev 2.00 and total 3.00 per message", line)
	}
}

// TestPrintScale checks the scale tables: throughput and CPU ratios are to
// the kernel row with the same connection count, the CPU ratio is the
// kernel's CPU per GB over the row's, stalls show, and connection rates
// are to glassnet on loopback and to gorilla; the round trips the
// client's sockets reported follow the bulk rows.
func TestPrintScale(t *testing.T) {
	t.Parallel()
	s := time.Second
	res := scaleResult{
		Bulk: []bulkRow{
			{Path: bulkKernel, Conns: 10, Rates: []float64{1e9}, Bytes: 1e9, cost: cost{Server: usage{CPU: s}, Client: usage{CPU: s}}},
			{Path: bulkTUN, Conns: 10, Rates: []float64{5e8}, Bytes: 1e9, cost: cost{Server: usage{CPU: 3 * s}, Client: usage{CPU: s}},
				Tally: tally{Transfers: 10, Stalls: 1, First: "read: i/o timeout"}},
			{Path: bulkKernel, Conns: 1000, Rates: []float64{2e8}, Bytes: 1e9, cost: cost{Server: usage{CPU: s}, Client: usage{CPU: s}}},
			{Path: bulkTUN, Conns: 1000, Rates: []float64{4e8}, Bytes: 1e9, cost: cost{Server: usage{CPU: s}, Client: usage{CPU: s / 2}},
				RTT: rttSpread{N: 1000, MinRTT: 2600 * time.Microsecond, SRTT: 72600 * time.Microsecond, SRTT99: 135 * time.Millisecond}},
		},
		Connect: []connRow{
			{Name: connTUN, Rates: []float64{3000}, Conns: 3000, cost: cost{Server: usage{CPU: 300 * time.Millisecond}}, Tally: tally{Transfers: 3001, Errors: 1, First: "handshake: EOF"}},
			{Name: connKernel, Rates: []float64{2000}, Conns: 2000},
			{Name: connGorilla, Rates: []float64{4000}, Conns: 4000},
		},
	}
	var b strings.Builder
	if err := printScale(&b, scaleParams{ConnWorkers: 16, ConnDur: s}, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := map[string]string{}
	for l := range strings.Lines(out) {
		f := strings.Fields(l)
		if len(f) > 1 && (f[0] == "10" || f[0] == "1000") && strings.Contains(l, "TUN") {
			// The bulk table's row first, then the round trips', then
			// the packets per GB (TestPrintLink).
			if _, ok := lines[f[0]+" rtt"]; ok {
				continue
			}
			if _, ok := lines[f[0]]; ok {
				lines[f[0]+" rtt"] = l
			} else {
				lines[f[0]] = l
			}
		}
		if strings.HasPrefix(strings.TrimSpace(l), connTUN) {
			lines["conn"] = l
		}
	}
	for key, want := range map[string][]string{
		"10":       {"500", "0.50x", "4.00", "0.50x", "3.00", "1/10"}, // MB/s, x kernel, CPU s/GB, kernel 2/4, server s/GB, stalls
		"1000":     {"400", "2.00x", "1.50", "1.33x"},
		"1000 rtt": {"2.6 ms / 72.6 ms, p99 135.0 ms"},
		"10 rtt":   {"-"},
		"conn":     {"3000", "1.50x", "0.75x", "100.00 µs", "0/3001 +1 failed"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[key], w) {
				t.Errorf("row %s lacks %q: %q\n%s", key, w, lines[key], out)
			}
		}
	}
	for _, want := range []string{"first failure: read: i/o timeout", "first failure: handshake: EOF"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestScaleParamsConns(t *testing.T) {
	t.Setenv(envScaleConns, "1000, 3")
	p, err := scaleParamsFor(config{rounds: 1})
	if err != nil || len(p.ConnCounts) != 2 || p.ConnCounts[0] != 1000 || p.ConnCounts[1] != 3 {
		t.Fatalf("scaleParamsFor = %v, %v; want counts [1000 3]", p.ConnCounts, err)
	}
	for _, bad := range []string{"0", "x", "1,,2", "-5"} {
		t.Setenv(envScaleConns, bad)
		if _, err := scaleParamsFor(config{rounds: 1}); err == nil {
			t.Errorf("%s=%q: want an error", envScaleConns, bad)
		}
	}
}

// TestRetransCounts checks that add and sub carry every counter, so a
// counter added to the struct but not to fields shows up here.
func TestRetransCounts(t *testing.T) {
	t.Parallel()
	var a retransCounts
	v := reflect.ValueOf(&a).Elem()
	for i := range v.NumField() {
		v.Field(i).SetUint(uint64(10 * (i + 1)))
	}
	twice := a.add(a)
	back := twice.sub(a)
	tv, bv := reflect.ValueOf(twice), reflect.ValueOf(back)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if got, want := tv.Field(i).Uint(), 2*v.Field(i).Uint(); got != want {
			t.Errorf("add: %s = %d, want %d", name, got, want)
		}
		if got, want := bv.Field(i).Uint(), v.Field(i).Uint(); got != want {
			t.Errorf("sub: %s = %d, want %d", name, got, want)
		}
	}
	if n := (retransCounts{}).note(); n != "" {
		t.Errorf("note of nothing: %q", n)
	}
	if n := (retransCounts{Stack: 3, Recoveries: 2, Spurious: 1, KernelDup: 3}).note(); !strings.Contains(n, "3 segments retransmitted, 2 SACK recoveries (1 found spurious)") || !strings.Contains(n, "3 segments received twice") {
		t.Errorf("note: %q", n)
	}
}

func TestLinkCountsAddSub(t *testing.T) {
	t.Parallel()
	var a linkCounts
	for i, f := range a.fields() {
		*f = uint64(10 * (i + 1))
	}
	b := a.sub(linkCounts{PacketsIn: 1, KernelAcks: 2})
	if b.PacketsIn != 9 || b.KernelAcks != a.KernelAcks-2 || b.BytesIn != a.BytesIn {
		t.Errorf("sub: %+v from %+v", b, a)
	}
	if c := b.add(linkCounts{PacketsIn: 1, KernelAcks: 2}); c != a {
		t.Errorf("add after sub: %+v, want %+v", c, a)
	}
}

func TestPrintLink(t *testing.T) {
	t.Parallel()
	gb := int64(2e9)
	rows := []bulkRow{
		{Path: bulkKernel, Conns: 1, Bytes: gb},
		{Path: bulkTUN, Conns: 100, Bytes: gb, cost: cost{
			Server: usage{Sys: perfCounts{Syscalls: 600, CtxSwitches: 80}},
			Link: linkCounts{PacketsIn: 400, BytesIn: 400 * 5000, GSOIn: 100, GSOSegsIn: 450, PacketsOut: 200, BytesOut: 200 * 9000,
				GSOOut: 50, GSOSegsOut: 500, Writes: 180, KernelAcks: 60, KernelOutSegs: 1381215 + 2*70},
		}},
	}
	var b strings.Builder
	if err := printLink(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, bulkKernel) {
		t.Errorf("loopback's row printed:\n%s", out)
	}
	var line string
	for l := range strings.Lines(out) {
		if strings.Contains(l, bulkTUN) {
			line = l
		}
	}
	got := strings.Fields(line)[1+len(strings.Fields(bulkTUN)):]
	want := []string{"200", "50", "4.5", "5000.0", "100", "25", "10.0", "9000.0", "30", "70", "90", "300", "40"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row %q:\n got %q\nwant %q", line, got, want)
	}
}
