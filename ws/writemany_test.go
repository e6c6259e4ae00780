package ws

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// writeCounter counts the writes made to its net.Conn.
type writeCounter struct {
	net.Conn
	writes atomic.Int64
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	return w.Conn.Write(p)
}

// manyMessages is 300 messages: short ones (10 bytes as frames), two
// empty ones and, at 100 and 200, one too large to share a write (9 KiB)
// and one that fills most of one (6 KiB, with room for the 99 after it).
func manyMessages() [][]byte {
	var msgs [][]byte
	for i := range 300 {
		var p []byte
		switch i {
		case 100:
			p = bytes.Repeat([]byte("L"), 9<<10)
		case 200:
			p = bytes.Repeat([]byte("M"), 6<<10)
		case 50, 250:
		default:
			p = []byte(fmt.Sprint("line ", i))
		}
		msgs = append(msgs, p)
	}
	return msgs
}

// readMessages reads n messages from c and checks them against want.
func readMessages(t *testing.T, c *Conn, want [][]byte) {
	t.Helper()
	ctx := testContext(t)
	for i, w := range want {
		typ, p, err := c.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != MessageText || !bytes.Equal(p, w) {
			t.Fatalf("message %d: %v of %d bytes, want text of %d", i, typ, len(p), len(w))
		}
	}
}

// TestWriteMessagesTogether: messages that fit a buffer together go out
// in one write, a message too large to share one goes out alone, and the
// peer reads each as the message it was, masked or not.
func TestWriteMessagesTogether(t *testing.T) {
	t.Parallel()
	for _, client := range []bool{false, true} {
		t.Run(fmt.Sprint("client=", client), func(t *testing.T) {
			t.Parallel()
			a, b := memConnPair(0)
			wc := &writeCounter{Conn: a}
			cfg := newConfig(0, time.Second, nil, "")
			me, peer := newConn(wc, nil, client, "", cfg), newConn(b, nil, !client, "", cfg)
			defer me.CloseNow()
			defer peer.CloseNow()
			msgs := manyMessages()
			if err := me.WriteMessages(testContext(t), MessageText, msgs...); err != nil {
				t.Fatal(err)
			}
			readMessages(t, peer, msgs)
			// 0-99 together; 100 (9 KiB) alone; 101-199 together;
			// 200 (6 KiB) and the rest together.
			if n := wc.writes.Load(); n != 4 {
				t.Errorf("%d writes for 300 messages, want 4", n)
			}
			if err := me.WriteMessages(testContext(t), MessageText); err != nil {
				t.Errorf("no messages: %v", err)
			}
			if err := me.WriteMessages(testContext(t), MessageType(OpPing), []byte("x")); err == nil {
				t.Error("WriteMessages of pings: no error")
			}
		})
	}
}

// TestWriteMessagesCompressed: a message that is compressed goes out on
// its own, compressed; the short ones around it still share writes.
func TestWriteMessagesCompressed(t *testing.T) {
	t.Parallel()
	p := deflateParams{serverMaxBits: 15, clientMaxBits: 15}
	o := &CompressionOptions{Enabled: true, Threshold: 1024}
	a, b := memConnPair(0)
	wc := &writeCounter{Conn: a}
	scfg, ccfg := newConfig(0, time.Second, nil, ""), newConfig(0, time.Second, nil, "")
	scfg.deflate, ccfg.deflate = newDeflateState(p, false, o), newDeflateState(p, true, o)
	me, peer := newConn(wc, nil, false, "", scfg), newConn(b, nil, true, "", ccfg)
	defer me.CloseNow()
	defer peer.CloseNow()
	msgs := [][]byte{[]byte("a"), []byte("b"), bytes.Repeat([]byte("z"), 4096), []byte("c"), []byte("d")}
	if err := me.WriteMessages(testContext(t), MessageText, msgs...); err != nil {
		t.Fatal(err)
	}
	readMessages(t, peer, msgs)
	if n := wc.writes.Load(); n != 3 {
		t.Errorf("%d writes, want 3 (a and b, the compressed one, c and d)", n)
	}
	if got := me.woff; got >= 4096 {
		t.Errorf("%d bytes written for 4 short messages and 4 KiB of one letter: not compressed", got)
	}
}

// TestWriteMessagesHookAndTrace: with a frame hook installed each message
// goes through it as its own frame (a dropped one is not sent); without
// one, the trace shows each message and frame in order, with the frames'
// stream offsets, as WriteMessage would.
func TestWriteMessagesHookAndTrace(t *testing.T) {
	t.Parallel()
	t.Run("hook", func(t *testing.T) {
		t.Parallel()
		me, peer := sendPair(t, 0, newConfig(0, time.Second, nil, ""))
		var seen atomic.Int64
		me.SetFrameHook(FrameHookFunc(func(f *HookFrame) FrameVerdict {
			seen.Add(1)
			if string(f.Payload) == "two" {
				return FrameVerdict{Verdict: hook.Verdict{Action: hook.Drop}}
			}
			return FrameVerdict{}
		}))
		if err := me.WriteMessages(testContext(t), MessageText, []byte("one"), []byte("two"), []byte("three")); err != nil {
			t.Fatal(err)
		}
		readMessages(t, peer, [][]byte{[]byte("one"), []byte("three")})
		if n := seen.Load(); n != 3 {
			t.Errorf("the hook saw %d frames, want 3", n)
		}
	})
	t.Run("trace", func(t *testing.T) {
		t.Parallel()
		var got []string
		tr := trace.New(trace.SinkFunc(func(e *trace.Event) {
			if e.Layer == trace.LayerWS && e.Dir == trace.Out {
				s := e.Name + " " + e.Summary
				if e.Name == "frame" {
					s += fmt.Sprint(" @", e.Field("ws_offset"))
				}
				got = append(got, s)
			}
		}))
		me, peer := sendPair(t, 0, newConfig(0, time.Second, tr, "server"))
		if err := me.WriteMessages(testContext(t), MessageText, []byte("one"), []byte("three")); err != nil {
			t.Fatal(err)
		}
		readMessages(t, peer, [][]byte{[]byte("one"), []byte("three")})
		want := `message message text "one" (3 bytes, 1 frame)|frame FIN text len=3 @0|message message text "three" (5 bytes, 1 frame)|frame FIN text len=5 @5`
		if s := strings.Join(got, "|"); s != want {
			t.Errorf("trace:\n%s\nwant\n%s", s, want)
		}
	})
}
