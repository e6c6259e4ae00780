package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ws"
)

// envLabProbe makes the test binary the probe: the command a lab test runs
// inside the lab.
const envLabProbe = "GLASSNET_TEST_LAB_PROBE"

// labProbe runs inside a lab. It prints the network namespace it is in,
// then fetches / over IPv4 and IPv6, echoes a WebSocket message and a UDP
// datagram; it exits 0 only if all of that worked.
func labProbe() int {
	ns, err := netnsID()
	if err != nil {
		fmt.Println("probe: ", err)
		return 1
	}
	fmt.Printf("probe netns=%s lab=%s\n", ns, os.Getenv(EnvLab))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, hp := range []string{"10.200.0.2:8080", "[fd00:200::2]:8080"} {
		if err := probeServer(ctx, hp); err != nil {
			fmt.Printf("probe %s: %v\n", hp, err)
			return 1
		}
	}
	fmt.Println("probe ok")
	return 0
}

func probeServer(ctx context.Context, hp string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + hp + "/")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("glassnet chat")) {
		return fmt.Errorf("GET / = %d", resp.StatusCode)
	}
	c, _, err := ws.Dial(ctx, "ws://"+hp+"/echo", nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if err := c.WriteMessage(ctx, ws.MessageText, []byte("from inside the lab")); err != nil {
		return err
	}
	if _, p, err := c.ReadMessage(ctx); err != nil || string(p) != "from inside the lab" {
		return fmt.Errorf("websocket echo = %q, %v", p, err)
	}
	u, err := net.Dial("udp", hp)
	if err != nil {
		return err
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := u.Write([]byte("udp in the lab")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	if n, err := u.Read(buf); err != nil || string(buf[:n]) != "udp in the lab" {
		return fmt.Errorf("udp echo = %q, %v", buf[:n], err)
	}
	return nil
}

// TestLab runs `glassnet lab -- PROBE` in-process, in a namespace the test
// made (standing in for the host), with a TUN and with a veth pair: the
// probe must run in another namespace and reach the server there over
// IPv4 and IPv6, and afterwards the test's namespace must look as before,
// with no process left in the lab's namespace.
func TestLab(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		host, err := netnsID()
		if err != nil {
			t.Fatal(err)
		}
		before := linkNames(t)
		t.Setenv(envLabProbe, "1")
		for _, nic := range []bool{false, true} {
			name := "tun"
			if nic {
				name = "veth"
			}
			t.Run(name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code, err := Lab(LabConfig{NIC: nic, Command: []string{exe}, Stdout: &stdout, Stderr: &stderr})
				t.Logf("lab output:\n%s%s", stdout.String(), stderr.String())
				if err != nil || code != 0 {
					t.Fatalf("Lab = %d, %v", code, err)
				}
				var ns, lab string
				for line := range strings.Lines(stdout.String()) {
					if _, err := fmt.Sscanf(line, "probe netns=%s lab=%s", &ns, &lab); err == nil {
						break
					}
				}
				if ns == "" || ns == host {
					t.Fatalf("probe ran in namespace %q, the test's is %q: want another", ns, host)
				}
				if lab != LabLink {
					t.Errorf("%s = %q in the probe, want %q", EnvLab, lab, LabLink)
				}
				if !strings.Contains(stdout.String(), "probe ok") {
					t.Fatal("probe failed")
				}
				if after := linkNames(t); !slices.Equal(before, after) {
					t.Errorf("links before the lab %v, after %v", before, after)
				}
				if pids := processesIn(t, ns); len(pids) > 0 {
					t.Errorf("processes still in the lab's namespace: %v", pids)
				}
			})
		}
		t.Run("no-delayed-ack", func(t *testing.T) {
			// With --no-delayed-ack every data segment the probe
			// sends is answered by a pure ACK before anything else
			// of its connection; by default some reply carries the
			// ACK instead (the WebSocket echo, on an interactive
			// connection), so the trace tells the two apart.
			for _, off := range []bool{true, false} {
				trace := filepath.Join(t.TempDir(), "lab.jsonl")
				code, err := Lab(LabConfig{NoDelayedACK: off, TracePath: trace, Command: []string{exe}, Stdout: io.Discard, Stderr: io.Discard})
				if err != nil || code != 0 {
					t.Fatalf("Lab(NoDelayedACK: %v) = %d, %v", off, code, err)
				}
				f, err := os.Open(trace)
				if err != nil {
					t.Fatal(err)
				}
				pure, carried := firstAnswers(jsonEvents(t, f), 8080)
				f.Close()
				switch {
				case pure+carried == 0:
					t.Fatalf("NoDelayedACK %v: no data segment to port 8080 in the trace", off)
				case off && carried > 0:
					t.Errorf("NoDelayedACK: %d data segments were first answered by data carrying the ACK, want a pure ACK for each (%d were)", carried, pure)
				case !off && carried == 0:
					t.Errorf("delayed ACKs on: all %d data segments were first answered by a pure ACK; no reply carried one", pure)
				}
			}
		})
		t.Run("error", func(t *testing.T) {
			// An error inside the lab's namespace is said as every
			// other command error is: "glassnet: lab: ...".
			var stderr bytes.Buffer
			code, err := Lab(LabConfig{PCAPPath: "/nonexistent/x.pcap", Command: []string{"true"}, Stdout: io.Discard, Stderr: &stderr})
			if code == 0 || err != nil || !strings.HasPrefix(stderr.String(), "glassnet: lab: --pcap /nonexistent/x.pcap: ") {
				t.Errorf("Lab with --pcap in a missing directory = %d, %v, stderr %q; want a failure said as \"glassnet: lab: --pcap ...\"", code, err, stderr.String())
			}
		})
		t.Run("background-process", func(t *testing.T) {
			// A process the command leaves behind dies with the lab
			// instead of keeping its namespace alive.
			var stdout bytes.Buffer
			code, err := Lab(LabConfig{
				Command: []string{"/bin/sh", "-c", "sleep 60 & stat -L -c %d:%i /proc/self/ns/net"},
				Stdout:  &stdout,
				Stderr:  io.Discard,
			})
			if err != nil || code != 0 {
				t.Fatalf("Lab = %d, %v", code, err)
			}
			ns := strings.TrimSpace(stdout.String())
			if ns == "" || ns == host {
				t.Fatalf("command ran in namespace %q, the test's is %q", ns, host)
			}
			if pids := processesIn(t, ns); len(pids) > 0 {
				t.Errorf("processes still in the lab's namespace: %v", pids)
			}
		})
		t.Run("exit-status", func(t *testing.T) {
			code, err := Lab(LabConfig{Command: []string{"/bin/sh", "-c", "exit 7"}, Stdout: io.Discard, Stderr: io.Discard})
			if err != nil || code != 7 {
				t.Fatalf("Lab = %d, %v; want the command's status 7", code, err)
			}
		})
	})
}

// firstAnswers looks, for each TCP data segment that reached the stack's
// port in a trace, at the first segment the stack sent back on that
// connection after it that acknowledges it: pure counts those with no data
// (an ACK on its own), carried those with data (a reply carrying the ACK).
func firstAnswers(events []map[string]any, port float64) (pure, carried int) {
	owed := map[string]float64{} // the end of the data, by the client's address and port
	for _, e := range events {
		if e["layer"] != "link" || e["event"] != "packet" || e["proto"] != "tcp" {
			continue
		}
		n, _ := e["payload_len"].(float64)
		switch {
		case e["dir"] == "in" && e["dport"] == port && n > 0:
			key := fmt.Sprint(e["src"], e["sport"])
			if _, ok := owed[key]; !ok {
				owed[key] = e["rel_seq"].(float64) + n
			}
		case e["dir"] == "out" && e["sport"] == port:
			key := fmt.Sprint(e["dst"], e["dport"])
			end, ok := owed[key]
			if ack, _ := e["rel_ack"].(float64); !ok || ack < end {
				continue
			}
			delete(owed, key)
			if n > 0 {
				carried++
			} else {
				pure++
			}
		}
	}
	return pure, carried
}

func linkNames(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}

// processesIn lists the processes whose network namespace is ns
// ("dev:inode"): none once a lab's namespace is gone.
func processesIn(t *testing.T, ns string) []string {
	t.Helper()
	paths, err := filepath.Glob("/proc/[0-9]*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, p := range paths {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			continue
		}
		if fmt.Sprintf("%d:%d", st.Dev, st.Ino) == ns {
			pids = append(pids, strings.Split(p, "/")[2])
		}
	}
	return pids
}
