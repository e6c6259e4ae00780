package interop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// The tools a network engineer pokes a host with, by absolute path, and
// the Debian packages that have them.
var auditTools = []struct{ path, pkg string }{
	{"/usr/bin/ping", "iputils-ping"},
	{"/usr/bin/tracepath", "iputils-tracepath"},
	{"/usr/sbin/traceroute", "traceroute"},
	{"/usr/bin/nmap", "nmap"},
	{"/usr/sbin/hping3", "hping3"},
	{"/usr/bin/nsenter", "util-linux"},
}

// needAuditTools skips (or fails) the test unless every tool of the audit
// and python3-scapy are installed.
func needAuditTools(t *testing.T) {
	t.Helper()
	for _, tool := range auditTools {
		needProgram(t, tool.path, tool.pkg)
	}
	needProgram(t, pythonBin, "python3")
	if out, err := exec.Command(pythonBin, "-c", "import scapy.all").CombinedOutput(); err != nil {
		netnstest.SkipOrFail(t, "%s cannot import scapy (apt-get install python3-scapy): %v: %s", pythonBin, err, out)
	}
}

// TestIPAuditTUN probes glassnet serve on a TUN at the IP and ICMP level
// with ping, tracepath, traceroute, nmap, hping3 and scapy, and checks
// that it answers as a Linux host with the same addresses and listeners
// answers (what each probe gets from Linux is said where it is checked).
func TestIPAuditTUN(t *testing.T) {
	needAuditTools(t)
	netnstest.RunTUN(t, func(t *testing.T) {
		const dev, addr4, addr6 = "gnipa0", "10.211.0.2", "fd00:211::2"
		s := startServeArgs(t, "serve", "--tun", dev, "--addr", addr4+"/24,"+addr6+"/64")
		auditProbes(t, s, dev, dev, addr4, addr6, "10.211.0.1", true)
	})
}

// TestIPAuditNIC is TestIPAuditTUN for serve --nic: the stack owns one end
// of a veth pair through AF_PACKET, the kernel the other, so ARP and
// neighbour discovery come into it too.
func TestIPAuditNIC(t *testing.T) {
	needAuditTools(t)
	netnstest.Run(t, func(t *testing.T) {
		const kernelEnd, stackEnd, addr4, addr6 = "gnipk0", "gnips0", "10.212.0.2", "fd00:212::2"
		kernelVeth(t, kernelEnd, stackEnd, "10.212.0.1/24", "fd00:212::1/64")
		netnstest.WaitOperUp(t, kernelEnd)
		s := startServeArgs(t, "serve", "--nic", stackEnd, "--addr", addr4+"/24,"+addr6+"/64")
		auditProbes(t, s, stackEnd, kernelEnd, addr4, addr6, "10.212.0.1", false)
	})
}

// auditProbes runs the probes against a serve at addr4 and addr6, reached
// through the kernel's interface iface, whose own address is kernel4; dev
// is the interface serve names its control socket after. Without all, the
// nmap and hping3 probes that only TCP answers (the same on any device)
// are left out, to save time.
func auditProbes(t *testing.T, s *server, dev, iface, addr4, addr6, kernel4 string, all bool) {
	name := ssName(t, s, dev)
	rss0 := rssKiB(t, s)
	before := run(t, 20*time.Second, glassnetBin, "ss", name)

	// First, while the ICMP error budget of this source is whole: the
	// probes get five parameter problems at once.
	t.Run("scapy", func(t *testing.T) {
		out := runScapy(t, auditScapy, addr4, addr6, iface)
		got := scapyResults(out)
		t.Logf("scapy:\n%s", out)
		for _, c := range []struct{ key, want, linux string }{
			{"lsrr", "none", "drops a source-routed packet (accept_source_route 0)"},
			{"ssrr", "none", "drops a source-routed packet"},
			{"rr3", "echo-reply", "answers a Record Route with no room (full)"},
			{"rr9", "echo-reply", "answers and records its address"},
			{"ra", "echo-reply", "answers a Router Alert"},
			{"frag8", "echo-reply", "reassembles 8-byte fragments"},
			{"reverse", "echo-reply", "reassembles fragments sent last first"},
			{"dupfirst", "echo-reply", "reassembles with a duplicate first fragment"},
			{"overlap", "none", "drops overlapping fragments"},
			{"beyond", "none", "drops a fragment ending past 65535"},
			{"tinysyn", "SA", "answers a SYN whose header is split over two fragments"},
			{"big4", "3 fragments max 1500", "answers a 4000-byte echo in fragments of the MTU"},
			{"frag6", "echo-reply", "reassembles 8-byte IPv6 fragments"},
			{"overlap6", "none", "drops overlapping IPv6 fragments (RFC 5722)"},
			{"nonmult8", "param-problem", "answers an IPv6 fragment not a multiple of 8 with a parameter problem"},
			{"nochain6", "param-problem", "answers a first fragment without the upper-layer header with a parameter problem, code 3 (RFC 7112)"},
			{"dstopt80", "param-problem", "answers an unknown destination option of type 10xxxxxx with a parameter problem"},
			{"rh0", "param-problem", "answers a type 0 routing header with segments left with a parameter problem"},
			{"proto253", "proto-unreachable", "answers an unknown protocol with protocol unreachable"},
			{"nh253", "param-problem", "answers an unknown next header with a parameter problem"},
		} {
			if got[c.key] != c.want {
				t.Errorf("%s: %q, want %q (Linux %s)", c.key, got[c.key], c.want, c.linux)
			}
		}
	})

	t.Run("ping", func(t *testing.T) {
		// Linux: every echo answered, with TTL (hop limit) 64; a 3000-byte
		// echo goes out in fragments, is reassembled, and its reply comes
		// back in fragments the size of the MTU.
		for _, args := range [][]string{
			{"-c", "3", "-i", "0.2", addr4}, {"-6", "-c", "3", "-i", "0.2", addr6},
			{"-c", "2", "-i", "0.2", "-s", "3000", addr4}, {"-6", "-c", "2", "-i", "0.2", "-s", "3000", addr6},
			{"-c", "1", "-s", "65507", addr4},
		} {
			out := run(t, 20*time.Second, "/usr/bin/ping", append([]string{"-n", "-W", "2"}, args...)...)
			n := args[slicesIndex(args, "-c")+1]
			if !strings.Contains(out, n+" received") || !strings.Contains(out, "ttl=64") {
				t.Errorf("ping %s: want %s replies with ttl=64:\n%s", strings.Join(args, " "), n, out)
			}
		}
	})

	t.Run("tracepath", func(t *testing.T) {
		// Linux: one hop, reached, path MTU that of the link.
		for _, a := range []string{addr4, addr6} {
			out := run(t, 20*time.Second, "/usr/bin/tracepath", "-n", a)
			if !strings.Contains(out, "reached") || !strings.Contains(out, "pmtu 1500") {
				t.Errorf("tracepath %s: want the host reached with pmtu 1500:\n%s", a, out)
			}
		}
	})

	t.Run("traceroute", func(t *testing.T) {
		// Linux: the host is the first hop, whether it answers an ICMP
		// echo (-I), a SYN to an open port with a SYN-ACK (-T), or a
		// datagram to a closed port with a port unreachable (UDP).
		for _, args := range [][]string{{"-I"}, {"-T", "-p", "7"}, {"-U", "-p", "33434"}, {"-6", "-I"}, {"-6"}} {
			a := addr4
			if args[0] == "-6" {
				a = addr6
			}
			out := run(t, 30*time.Second, "/usr/sbin/traceroute", append(append([]string{"-n", "-w", "2", "-m", "3"}, args...), a)...)
			if !regexp.MustCompile(`(?m)^ 1  ` + regexp.QuoteMeta(a) + ` `).MatchString(out) {
				t.Errorf("traceroute %s %s: want %s as hop 1:\n%s", strings.Join(args, " "), a, a, out)
			}
		}
	})

	t.Run("nmap", func(t *testing.T) {
		// Linux: a SYN scan sees the listeners open and the rest closed
		// (RST); a UDP scan sees the UDP echo open and a closed port
		// closed (port unreachable); NULL, FIN and Xmas scans get a RST
		// from a closed port and nothing from an open one (RFC 9293
		// 3.10.7.1 and 3.10.7.2); an ACK scan gets a RST from both.
		type scan struct {
			args []string
			want []string
		}
		scans := []scan{
			{[]string{"-sS", "-p", "7,9,22,8080", addr4}, []string{"7/tcp +open ", "9/tcp +open ", "22/tcp +closed ", "8080/tcp +open "}},
			{[]string{"-6", "-sS", "-p", "7,22", addr6}, []string{"7/tcp +open ", "22/tcp +closed "}},
			{[]string{"-sT", "-p", "7,22", addr4}, []string{"7/tcp +open ", "22/tcp +closed "}},
			{[]string{"-sU", "-p", "8080,9999", addr4}, []string{"8080/udp +open ", "9999/udp +closed "}},
			{[]string{"-6", "-sU", "-p", "8080,9999", addr6}, []string{"8080/udp +open ", "9999/udp +closed "}},
			{[]string{"-sX", "-p", "7,22", addr4}, []string{`7/tcp +open\|filtered `, "22/tcp +closed "}},
		}
		if all {
			scans = append(scans,
				scan{[]string{"-sN", "-p", "7,22", addr4}, []string{`7/tcp +open\|filtered `, "22/tcp +closed "}},
				scan{[]string{"-sF", "-p", "7,22", addr4}, []string{`7/tcp +open\|filtered `, "22/tcp +closed "}},
				scan{[]string{"-sA", "-p", "7,22", addr4}, []string{"7/tcp +unfiltered ", "22/tcp +unfiltered "}})
		}
		for _, c := range scans {
			out := run(t, 60*time.Second, "/usr/bin/nmap", append([]string{"-n", "-Pn", "--max-retries", "1"}, c.args...)...)
			for _, w := range c.want {
				if !regexp.MustCompile(`(?m)^` + w).MatchString(out) {
					t.Errorf("nmap %s: no line %q:\n%s", strings.Join(c.args, " "), w, out)
				}
			}
		}
	})

	t.Run("hping3", func(t *testing.T) {
		// Linux: SYN+FIN to a closed port is answered with RST+ACK, to an
		// open one not at all (RFC 9293 leaves it to the implementation;
		// Linux and gVisor drop a SYN with FIN); an echo with TTL 1 to the
		// host itself is answered; segments with a bad checksum are not.
		for _, c := range []struct {
			args []string
			want string // a regexp the output must match, or "" for no reply
		}{
			{[]string{"-S", "-F", "-p", "22"}, `flags=RA `},
			{[]string{"-1", "--ttl", "1"}, `ttl=64 `},
			{[]string{"-S", "-F", "-p", "7"}, ""},
			{[]string{"-S", "-p", "7", "-b"}, ""},
			{[]string{"-2", "-p", "9999", "-b"}, ""},
		} {
			if c.want == "" && !all {
				continue
			}
			args := append(append([]string{"-c", "1", "-n"}, c.args...), addr4)
			out := hping(t, args...)
			if c.want == "" {
				if !strings.Contains(out, "1 packets transmitted, 0 packets received") {
					t.Errorf("hping3 %s: want no reply:\n%s", strings.Join(args, " "), out)
				}
			} else if !regexp.MustCompile(c.want).MatchString(out) {
				t.Errorf("hping3 %s: want a reply matching %q:\n%s", strings.Join(args, " "), c.want, out)
			}
		}
	})

	t.Run("as the kernel", func(t *testing.T) {
		// The same hping3 probes to the kernel's own address (over
		// loopback: the code that answers is the same) and to glassnet,
		// each answer checked for both: what Linux does, and glassnet
		// as well.
		for _, c := range []struct {
			what string
			args []string
			want *regexp.Regexp // in the answer, for host HOST
			not  *regexp.Regexp // nowhere in it
		}{
			// IPv4 protocol 58 is ICMPv6's number, unknown over IPv4.
			{"protocol 58 draws a protocol unreachable", []string{"-0", "-H", "58"}, regexp.MustCompile(`ICMP Protocol Unreachable from ip=HOST`), nil},
			{"an unknown protocol draws a protocol unreachable", []string{"-0", "-H", "143"}, regexp.MustCompile(`ICMP Protocol Unreachable from ip=HOST`), nil},
			// RFC 792 timestamp (type 13): a reply (14) with the
			// originate time sent back.
			{"a timestamp request is answered", []string{"--icmp", "--icmp-ts"}, regexp.MustCompile(`ip=HOST .*\nICMP timestamp: Originate=\d+ Receive=\d+ Transmit=\d+`), nil},
			// An echo request with DF and IP ID 4660: the reply has
			// neither (Linux's ICMP socket does not set DF, and the ID
			// is the reply's own).
			{"an echo reply has no DF and its own IP ID", []string{"-1", "-y", "-N", "4660"}, regexp.MustCompile(`ip=HOST ttl=64 id=\d+ icmp_seq=0`), regexp.MustCompile(`DF|id=4660 `)},
			// A RST for a SYN to a closed port: DF and IP ID 0, as
			// Linux's control socket sends it.
			{"a RST to a closed port has DF and IP ID 0", []string{"-S", "-p", "9999"}, regexp.MustCompile(`ip=HOST ttl=64 DF id=0 sport=9999 flags=RA`), nil},
		} {
			for _, host := range []string{kernel4, addr4} {
				args := append([]string{"-n", "-c", "1"}, c.args...)
				if host == kernel4 {
					// hping3 picks the interface of the address's
					// prefix: the kernel's own address is on lo.
					args = append(args, "-I", "lo")
				}
				out := hping(t, append(args, host)...)
				want := regexp.MustCompile(strings.ReplaceAll(c.want.String(), "HOST", regexp.QuoteMeta(host)))
				if !want.MatchString(out) || c.not != nil && c.not.MatchString(out) {
					who := "glassnet"
					if host == kernel4 {
						who = "the kernel"
					}
					t.Errorf("%s, from %s (%s): hping3 %s:\n%s", c.what, who, host, strings.Join(c.args, " "), out)
				}
			}
		}
	})

	t.Run("icmp rate limit", func(t *testing.T) {
		out := runScapy(t, auditFlood, addr4, addr6, iface)
		got := scapyResults(out)
		t.Logf("scapy:\n%s", out)
		// Linux: 200 datagrams to a closed port at once get 6 port
		// unreachables (icmp_ratelimit 1000 ms, a burst of 6) and one
		// more for every second the sending took; IPv6 four a second
		// (its interval is shorter through a /64).
		for _, key := range []string{"unreach4", "unreach6"} {
			var n int
			var took float64
			if _, err := fmt.Sscanf(got[key], "%d in %g s", &n, &took); err != nil {
				t.Errorf("%s: %q: %v", key, got[key], err)
				continue
			}
			if limit := 6 + int(took) + 1; n < 1 || n > limit {
				t.Errorf("%s: %d port unreachables for 200 datagrams sent in %.1f s, want 1 to %d (Linux 6 and one a second)", key, n, took, limit)
			}
		}
	})

	t.Run("fragment flood", func(t *testing.T) {
		// First fragments that are never completed, as fast as hping3
		// sends them: the stack keeps at most a few MiB of them, giving
		// up the oldest (counted: drop ip-reassembly-memory), and still
		// reassembles a ping afterwards.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/usr/sbin/hping3", "-1", "-x", "-d", "1400", "--flood", "-q", "-n", addr4)
		if out, err := cmd.CombinedOutput(); ctx.Err() == nil {
			t.Fatalf("hping3 --flood ended by itself: %v\n%s", err, out)
		}
		// The first ping may still meet the flood's backlog (the
		// device's queue, fragments not yet given up); reassembly works
		// again when one of the next answers.
		out := run(t, 20*time.Second, "/usr/bin/ping", "-n", "-W", "2", "-c", "4", "-i", "0.2", "-s", "3000", addr4)
		if !strings.Contains(out, "3008 bytes from") {
			t.Errorf("after the flood no 3000-byte ping of four is answered:\n%s", out)
		}
		if grown := rssKiB(t, s) - rss0; grown > 96<<10 {
			t.Errorf("serve's resident memory grew by %d KiB under the fragment flood", grown)
		}
	})

	t.Run("counters", func(t *testing.T) {
		// Every malformed packet the probes sent is dropped and counted
		// with its reason.
		after := run(t, 20*time.Second, glassnetBin, "ss", name)
		for _, reason := range []string{"drop ip-checksum", "drop tcp-checksum", "drop udp-checksum", "drop ipv4-total-length",
			"drop ip-source-route", "drop ip-fragment-malformed", "drop ip-reassembly-memory", "icmp errors rate limited"} {
			if counter(after, reason) <= counter(before, reason) {
				t.Errorf("glassnet ss: %q did not grow (%d before, %d after)", reason, counter(before, reason), counter(after, reason))
			}
		}
		if t.Failed() {
			t.Logf("glassnet ss %s:\n%s", name, after)
		}
	})

	// No probe ended serve.
	select {
	case <-s.done:
		t.Fatalf("serve exited during the probes: %v\n%s", s.err, s.out.String())
	default:
	}
}

// auditScapyPrelude is what both scapy scripts start with: the addresses
// and the interface from the command line, and sniffed, which sends
// packets and returns what the filter caught in the second after.
const auditScapyPrelude = `
import sys, time, logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import *
conf.verb = 0
dst, dst6, iface = sys.argv[1:4]
sock = conf.L3socket()

def sniffed(pkts, filt, wait=1.0):
    s = AsyncSniffer(iface=iface, filter=filt)
    s.start()
    time.sleep(0.3)
    start = time.monotonic()
    for p in pkts:
        sock.send(p)
    took = time.monotonic() - start
    time.sleep(wait)
    return s.stop(), took
`

// auditScapy sends the probes that need a hand-made packet and prints one
// line per probe: what came back ("none" for nothing).
const auditScapy = auditScapyPrelude + `
ID = 0x4701
def echo(seq, **kw):
    return IP(dst=dst, **kw)/ICMP(id=ID, seq=seq)/(b"A"*64)
def raw_echo(seq, n=64):
    return bytes(ICMP(id=ID, seq=seq)/(b"A"*n))

probes = {}  # name -> (packets, matcher of a reply)
def by_seq(seq):
    return lambda r: ICMP in r and IPerror not in r and r[ICMP].id == ID and r[ICMP].seq == seq
probes["lsrr"] = ([echo(1, options=[IPOption_LSRR(routers=["10.9.9.9"])])], by_seq(1))
probes["ssrr"] = ([echo(2, options=[IPOption_SSRR(routers=["10.9.9.9"])])], by_seq(2))
probes["rr3"] = ([echo(3, options=[IPOption_RR()])], lambda r: ICMP in r and (by_seq(3)(r) or (ICMPerror in r and r[ICMPerror].seq == 3)))
probes["rr9"] = ([echo(4, options=[IPOption_RR(routers=["0.0.0.0"]*9)])], by_seq(4))
probes["ra"] = ([echo(5, options=[IPOption_Router_Alert()])], by_seq(5))
probes["frag8"] = (fragment(IP(dst=dst, id=1001)/ICMP(id=ID, seq=6)/(b"A"*64), fragsize=8), by_seq(6))
r = raw_echo(7)
probes["reverse"] = ([IP(dst=dst, id=1002, frag=3, proto=1)/r[24:], IP(dst=dst, id=1002, flags="MF", proto=1)/r[:24]], by_seq(7))
r = raw_echo(8)
probes["dupfirst"] = ([IP(dst=dst, id=1003, flags="MF", proto=1)/r[:24]]*2 + [IP(dst=dst, id=1003, frag=3, proto=1)/r[24:]], by_seq(8))
r = raw_echo(9)
probes["overlap"] = ([IP(dst=dst, id=1004, flags="MF", proto=1)/r[:24], IP(dst=dst, id=1004, frag=2, proto=1)/r[16:].replace(b"A", b"B", 4)], by_seq(9))
probes["beyond"] = ([IP(dst=dst, id=1005, frag=8189, proto=1)/(b"x"*64)], lambda r: ICMP in r and IPerror in r and r[IPerror].id == 1005)
syn = bytes(IP(dst=dst)/TCP(sport=45000, dport=7, flags="S", seq=1))[20:]
probes["tinysyn"] = ([IP(dst=dst, id=1006, flags="MF", proto=6)/syn[:8], IP(dst=dst, id=1006, frag=1, proto=6)/syn[8:]],
                     lambda r: TCP in r and r[TCP].dport == 45000)
probes["proto253"] = ([IP(dst=dst, proto=253, id=1007)/b"abcdefgh"], lambda r: ICMP in r and IPerror in r and r[IPerror].id == 1007)
e6 = bytes(IPv6(dst=dst6)/ICMPv6EchoRequest(id=ID, seq=20, data=b"B"*64))[40:]
probes["frag6"] = ([IPv6(dst=dst6)/IPv6ExtHdrFragment(id=80, m=int(o+8 < len(e6)), offset=o//8, nh=58)/e6[o:o+8] for o in range(0, len(e6), 8)],
                   lambda r: ICMPv6EchoReply in r and r[ICMPv6EchoReply].seq == 20)
e6 = bytes(IPv6(dst=dst6)/ICMPv6EchoRequest(id=ID, seq=21, data=b"B"*64))[40:]
probes["overlap6"] = ([IPv6(dst=dst6)/IPv6ExtHdrFragment(id=81, m=1, offset=0, nh=58)/e6[:24], IPv6(dst=dst6)/IPv6ExtHdrFragment(id=81, m=0, offset=2, nh=58)/e6[16:]],
                      lambda r: ICMPv6EchoReply in r and r[ICMPv6EchoReply].seq == 21)
e6 = bytes(IPv6(dst=dst6)/ICMPv6EchoRequest(id=ID, seq=22, data=b"B"*64))[40:]
probes["nonmult8"] = ([IPv6(dst=dst6)/IPv6ExtHdrFragment(id=82, m=1, offset=0, nh=58)/e6[:20]],
                      lambda r: ICMPv6ParamProblem in r and IPv6ExtHdrFragment in r and r[IPv6ExtHdrFragment].id == 82)
e6 = bytes(IPv6(dst=dst6)/ICMPv6EchoRequest(id=ID, seq=25, data=b"B"*16))[40:]
probes["nochain6"] = ([IPv6(dst=dst6)/IPv6ExtHdrFragment(id=83, m=1, offset=0, nh=60)/bytes(IPv6ExtHdrDestOpt(nh=58, options=[PadN(optdata=b"\0"*4)])),
                       IPv6(dst=dst6)/IPv6ExtHdrFragment(id=83, m=0, offset=1, nh=60)/e6],
                      lambda r: (ICMPv6ParamProblem in r and r[ICMPv6ParamProblem].code == 3) or (ICMPv6EchoReply in r and r[ICMPv6EchoReply].seq == 25))
probes["dstopt80"] = ([IPv6(dst=dst6)/IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x80, optdata=b"ab")])/ICMPv6EchoRequest(id=ID, seq=23)],
                      lambda r: IPerror6 in r and ICMPv6EchoRequest in r and r[ICMPv6EchoRequest].seq == 23)
probes["rh0"] = ([IPv6(dst=dst6)/IPv6ExtHdrRouting(type=0, addresses=["fd00::99"], segleft=1)/ICMPv6EchoRequest(id=ID, seq=24)],
                 lambda r: IPerror6 in r and ICMPv6EchoRequest in r and r[ICMPv6EchoRequest].seq == 24)
probes["nh253"] = ([IPv6(dst=dst6, nh=253, fl=0x253)/b"abcdefgh"], lambda r: IPerror6 in r and r[IPerror6].fl == 0x253)

def describe(r):
    if TCP in r:
        return str(r[TCP].flags)
    if ICMP in r:
        t = r[ICMP].type
        return {0: "echo-reply", 3: {2: "proto-unreachable", 3: "port-unreachable"}.get(r[ICMP].code, "unreachable"), 12: "param-problem", 11: "time-exceeded"}.get(t, "icmp-%d" % t)
    if ICMPv6EchoReply in r:
        return "echo-reply"
    if ICMPv6ParamProblem in r:
        return "param-problem"
    return r.summary()

allpkts = [p for ps, _ in probes.values() for p in ps]
big = fragment(IP(dst=dst, id=1010)/ICMP(id=ID, seq=30)/(b"C"*4000), 1480)
got, _ = sniffed(allpkts + big, "(src host %s or src host %s) and not arp and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 136)" % (dst, dst6))
for name, (_, match) in probes.items():
    rs = [describe(r) for r in got if match(r)]
    print("%s: %s" % (name, ",".join(rs) if rs else "none"))
firsts = [r for r in got if ICMP in r and IPerror not in r and r[ICMP].type == 0 and r[ICMP].seq == 30 and r.frag == 0]
if firsts:
    parts = [r for r in got if IP in r and r[IP].src == dst and r[IP].id == firsts[0][IP].id and r[IP].proto == 1]
    print("big4: %d fragments max %d" % (len(parts), max(p[IP].len for p in parts)))
else:
    print("big4: none")

# Malformed packets, counted by glassnet ss: a bad IPv4 header checksum,
# bad TCP and UDP checksums, a total length past the packet's end.
sock.send(IP(dst=dst, chksum=0x1234)/ICMP(id=ID, seq=40))
sock.send(IP(dst=dst)/TCP(sport=45001, dport=7, flags="S", chksum=0x1234))
sock.send(IP(dst=dst)/UDP(sport=45002, dport=8080, chksum=0x1234)/b"x")
cut = IP(bytes(IP(dst=dst)/ICMP(id=ID, seq=41)/(b"D"*40)))
cut.len = 200
sock.send(cut)

`

// auditFlood sends 200 datagrams to a closed port at once, over IPv4 and
// IPv6, and prints how many port unreachables came back and how long the
// sending took.
const auditFlood = auditScapyPrelude + `
# The ICMP error rate limit, last: it spends the budget of port
# unreachables this source has.
for key, mk, filt in (("unreach4", lambda i: IP(dst=dst)/UDP(sport=6000+i, dport=9999)/b"x", "icmp and src host " + dst),
                      ("unreach6", lambda i: IPv6(dst=dst6)/UDP(sport=6000+i, dport=9999)/b"x", "icmp6 and ip6[40] == 1 and src host " + dst6)):
    got, took = sniffed([mk(i) for i in range(200)], filt, wait=0.5)
    print("%s: %d in %.1f s" % (key, len(got), took))
`

// runScapy runs script with Debian's python3 and the arguments and returns
// its output.
func runScapy(t *testing.T, script string, args ...string) string {
	t.Helper()
	return run(t, 60*time.Second, pythonBin, append([]string{"-c", script}, args...)...)
}

// scapyResults reads the "probe: result" lines a scapy script printed.
func scapyResults(out string) map[string]string {
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok {
			got[k] = v
		}
	}
	return got
}

// hping runs hping3 and returns its output, standard error included (its
// statistics), whatever its exit status: it exits 1 when nothing answered.
func hping(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/sbin/hping3", args...).CombinedOutput()
	var exit *exec.ExitError
	if ctx.Err() != nil || (err != nil && !errors.As(err, &exit)) {
		t.Fatalf("hping3 %s: %v\n%s", strings.Join(args, " "), errors.Join(err, ctx.Err()), out)
	}
	return string(out)
}

// sh runs a command that configures the test's namespace.
func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// ssName is the name glassnet ss knows serve by: the device's, or the one
// serve printed when another serve had that name's control socket.
func ssName(t *testing.T, s *server, dev string) string {
	t.Helper()
	if m := regexp.MustCompile(`see this one with: glassnet ss (\S+)`).FindStringSubmatch(s.out.String()); m != nil {
		return m[1]
	}
	return dev
}

// rssKiB is serve's resident memory.
func rssKiB(t *testing.T, s *server) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmRSS in serve's status:\n%s", b)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestIPAuditPMTU: a router between serve and its client whose next link
// has a smaller MTU answers the stack's full-size segments with
// fragmentation needed (IPv4) or packet too big (IPv6); the stack lowers
// the connection's MSS, and a 4 MiB echo comes back byte for byte, as it
// does from Linux. Without path MTU discovery the transfer stalls: every
// segment has DF set (IPv6 is never fragmented by routers).
func TestIPAuditPMTU(t *testing.T) {
	needAuditTools(t)
	netnstest.RunTUN(t, func(t *testing.T) {
		const dev, addr4, addr6 = "gnipm0", "10.213.0.2", "fd00:213::2"
		startServeArgs(t, "serve", "--tun", dev, "--addr", addr4+"/24,"+addr6+"/64")
		// This namespace routes between the TUN and a veth to the client's
		// namespace; the route to the client says MTU 1000 (1280 for IPv6).
		client := netnstest.Another(t)
		inClient := func(args ...string) []string {
			return append([]string{"--net=/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(client)}, args...)
		}
		// Created in the client's namespace, its peer in this one.
		sh(t, "/usr/bin/nsenter", inClient("ip", "link", "add", "gnipc0", "type", "veth", "peer", "name", "gnipr0", "netns", strconv.Itoa(os.Getpid()))...)
		sh(t, "ip", "addr", "add", "10.214.0.1/24", "dev", "gnipr0")
		sh(t, "ip", "addr", "add", "fd00:214::1/64", "dev", "gnipr0", "nodad")
		sh(t, "ip", "link", "set", "gnipr0", "up")
		sh(t, "ip", "route", "replace", "10.214.0.0/24", "dev", "gnipr0", "mtu", "1000")
		sh(t, "ip", "-6", "route", "replace", "fd00:214::/64", "dev", "gnipr0", "metric", "256", "mtu", "1280")
		for _, f := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
			if err := os.WriteFile(f, []byte("1"), 0); err != nil {
				t.Fatal(err)
			}
		}
		for _, args := range [][]string{
			{"ip", "link", "set", "lo", "up"},
			{"ip", "addr", "add", "10.214.0.2/24", "dev", "gnipc0"},
			{"ip", "addr", "add", "fd00:214::2/64", "dev", "gnipc0", "nodad"},
			{"ip", "link", "set", "gnipc0", "up"},
			{"ip", "route", "add", "default", "via", "10.214.0.1"},
			{"ip", "-6", "route", "add", "default", "via", "fd00:214::1"},
		} {
			sh(t, "/usr/bin/nsenter", inClient(args...)...)
		}
		for _, a := range []string{addr4, addr6} {
			out := run(t, 60*time.Second, "/usr/bin/nsenter", inClient(pythonBin, "-c", pmtuEcho, a, "7", strconv.Itoa(4<<20))...)
			if strings.TrimSpace(out) != "equal 4194304" {
				t.Errorf("echo of 4 MiB from %s through a 1000/1280-byte link: %s", a, out)
			}
			t.Logf("%s: %s", a, strings.TrimSpace(out))
		}
	})
}

// pmtuEcho sends size random bytes to the echo at host, port, ends its
// side, reads the echo and prints "equal SIZE" if it is the same.
const pmtuEcho = `
import socket, sys, os, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=30)
data = os.urandom(n)
def w():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=w)
t.start()
got = bytearray()
while True:
    d = s.recv(1 << 16)
    if not d:
        break
    got += d
t.join()
print("equal %d" % len(got) if bytes(got) == data else "differ: %d bytes of %d" % (len(got), n))
`
