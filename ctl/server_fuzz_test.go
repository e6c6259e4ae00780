package ctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// FuzzControlRequest sends any bytes to a control socket as a client
// does, its writing then ended. Only blanks get no reply; anything else
// gets one JSON reply line and nothing after it: the table for the first
// JSON value when it asks for "sockets", otherwise an error that says why
// (a syntax error with the byte it is at).
func FuzzControlRequest(f *testing.F) {
	for _, s := range []string{``, " \n", `{"op":"sockets"}` + "\n", `{"op":"sockets"}`, `{"op":"nope"}`, `{"op":5}`, `not json`,
		`{"op":"sockets"} trailing`, `{"op":"sockets"`, `[]`, `null`, `"sockets"`, `{"op":"SOCKETS"}`, `{"OP":"sockets"}`,
		`{"op":"sockets","op":"x"}`, "{\"op\":\"\xff\"}", `{"op":"` + strings.Repeat("x", maxRequest) + `"}`} {
		f.Add([]byte(s))
	}
	dev, peer := tun.Pipe(tun.PipeOptions{NameA: "fuzz0", NameB: "fuzz1"})
	defer peer.Close()
	st, err := netstack.New(netstack.Options{Device: dev, Addrs: []netip.Prefix{netip.PrefixFrom(serverIP, 24)}})
	if err != nil {
		dev.Close()
		f.Fatal(err)
	}
	defer st.Close()
	srv, err := ListenPath(filepath.Join(f.TempDir(), "fuzz.sock"), sockets.New(st.Stack(), sockets.Options{}), Options{Node: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	atByte := regexp.MustCompile(` at byte (\d+)$`)

	f.Fuzz(func(t *testing.T, req []byte) {
		c, err := net.Dial("unix", srv.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout + time.Second))
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			c.Write(req) // a long one meets the closed socket
			c.(*net.UnixConn).CloseWrite()
		}()
		out, err := io.ReadAll(c)
		<-wrote
		if err != nil {
			// A request longer than the server reads is closed on
			// with bytes unread, which resets the connection: the
			// reply may be lost with it.
			if len(req) <= maxRequest || !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("reading the reply: %v (after %q)", err, out)
			}
			if len(out) == 0 {
				return
			}
		}
		if len(bytes.TrimLeft(req, " \t\r\n")) == 0 {
			if len(out) != 0 {
				t.Fatalf("%q asks nothing, and was answered %q", req, out)
			}
			return
		}
		var rep reply
		d := json.NewDecoder(bytes.NewReader(out))
		if err := d.Decode(&rep); err != nil || !bytes.HasSuffix(out, []byte("}\n")) || d.InputOffset() != int64(len(out)-1) {
			t.Fatalf("%q: the reply %q is not one JSON line: %v", req, out, err)
		}
		if rep.Node != "fuzz" {
			t.Fatalf("reply from node %q", rep.Node)
		}

		var first request
		ferr := json.NewDecoder(bytes.NewReader(req)).Decode(&first)
		switch {
		case rep.Error == "":
			if ferr != nil || first.Op != "sockets" {
				t.Fatalf("%q answered with the table", req)
			}
			if rep.Process == nil {
				t.Fatalf("%q: a table without the process", req)
			}
		case strings.HasPrefix(rep.Error, "unknown op "):
			if ferr != nil || rep.Error != fmt.Sprintf("unknown op %q", first.Op) {
				t.Fatalf("%q: error %q, while the request reads as %+v, %v", req, rep.Error, first, ferr)
			}
		case rep.Error == fmt.Sprintf("bad request: longer than %d bytes", maxRequest):
			if len(req) <= maxRequest {
				t.Fatalf("%d bytes refused as longer than %d", len(req), maxRequest)
			}
		case strings.HasPrefix(rep.Error, "bad request: "):
			if ferr == nil && len(req) <= maxRequest {
				t.Fatalf("%q read as %+v, yet refused: %q", req, first, rep.Error)
			}
			var se *json.SyntaxError
			if errors.As(ferr, &se) {
				m := atByte.FindStringSubmatch(rep.Error)
				if m == nil {
					t.Fatalf("%q: error %q does not say at which byte", req, rep.Error)
				}
				if n, _ := strconv.Atoi(m[1]); n < 1 || n > len(req) {
					t.Fatalf("%q: error %q names a byte past the %d sent", req, rep.Error, len(req))
				}
			}
		default:
			t.Fatalf("%q: error %q", req, rep.Error)
		}
	})
}
