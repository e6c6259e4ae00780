package ws

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// applyHook appends what takes a frame's place to the frames it was given,
// whatever the verdict: none of them replaces the list.
func TestApplyHookAppends(t *testing.T) {
	t.Parallel()
	ping := append(AppendHeader(nil, Header{Fin: true, Opcode: OpPing, Length: 1}), 'p')
	for _, tc := range []struct {
		name string
		v    FrameVerdict
		want []Opcode // after the frame already in the list
	}{
		{"pass", FrameVerdict{}, []Opcode{OpText}},
		{"drop", FrameVerdict{Verdict: hook.Verdict{Action: hook.Drop}}, nil},
		{"modify", FrameVerdict{Verdict: hook.Verdict{Action: hook.Modify}}, []Opcode{OpText}},
		{"split", FrameVerdict{Verdict: hook.Verdict{Action: hook.Modify}, Split: 2}, []Opcode{OpText, OpContinuation}},
		{"delay", FrameVerdict{Verdict: hook.Verdict{Action: hook.Delay, Delay: time.Second}}, []Opcode{OpText}},
		{"duplicate", FrameVerdict{Verdict: hook.Verdict{Action: hook.Duplicate, Copies: 2}}, []Opcode{OpText, OpText, OpText}},
		{"inject", FrameVerdict{Verdict: hook.Verdict{Action: hook.Inject, Inject: [][]byte{ping}}}, []Opcode{OpText, OpPing}},
		{"frames", FrameVerdict{Frames: []Frame{{Header: Header{Fin: true, Opcode: OpPong}}}}, []Opcode{OpText, OpPong}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := new(Conn)
			first := Frame{Header: Header{Fin: true, Opcode: OpBinary}}
			f := Frame{Header: Header{Fin: true, Opcode: OpText, Length: 4}, Payload: []byte("abcd")}
			got, _, err := c.applyHook(FrameHookFunc(func(*HookFrame) FrameVerdict { return tc.v }), trace.Out, f, false, []Frame{first})
			if err != nil {
				t.Fatal(err)
			}
			ops := make([]Opcode, len(got))
			for i, f := range got {
				ops[i] = f.Header.Opcode
			}
			want := append([]Opcode{OpBinary}, tc.want...)
			if len(ops) != len(want) {
				t.Fatalf("frames %v, want %v", ops, want)
			}
			for i := range want {
				if ops[i] != want[i] {
					t.Fatalf("frames %v, want %v", ops, want)
				}
			}
		})
	}
}

// badInject injects bytes that are not a frame into every text frame.
var badInject = FrameHookFunc(func(f *HookFrame) FrameVerdict {
	if f.Header.Opcode != OpText {
		return FrameVerdict{}
	}
	return FrameVerdict{Verdict: hook.Verdict{Action: hook.Inject, Inject: [][]byte{{0x81, 0x05, 'h'}}}}
})

// An Inject that does not parse fails the write with ErrHookInject, and
// nothing of that write reaches the peer.
func TestHookInjectErrorOnWrite(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, nil)
	c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{FrameHook: badInject}})
	ctx := testContext(t)
	if err := c.WriteMessage(ctx, MessageText, []byte("lost?")); !errors.Is(err, ErrHookInject) {
		t.Fatalf("WriteMessage = %v, want ErrHookInject", err)
	}
	c.SetFrameHook(nil)
	if err := c.WriteMessage(ctx, MessageText, []byte("next")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(ctx); err != nil || string(p) != "next" {
		t.Fatalf("echo %q, %v; want only what was written after the error", p, err)
	}
	c.Close(StatusNormalClosure, "")
}

// On the read side an Inject that does not parse fails the connection
// with ErrHookInject and status 1011.
func TestHookInjectErrorOnRead(t *testing.T) {
	t.Parallel()
	url, errs := handlerServer(t, nil, func(c *Conn) error {
		ctx := context.Background()
		if err := c.WriteMessage(ctx, MessageText, []byte("hi")); err != nil {
			return err
		}
		_, _, err := c.ReadMessage(ctx)
		return err
	})
	c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{FrameHook: badInject}})
	if _, _, err := c.ReadMessage(testContext(t)); !errors.Is(err, ErrHookInject) {
		t.Fatalf("ReadMessage = %v, want ErrHookInject", err)
	}
	if err := recvErr(t, errs); CloseStatus(err) != StatusInternalError {
		t.Fatalf("server read %v, want close 1011", err)
	}
}

// A read whose context ends while a Delay verdict holds the frame returns
// the context's error; the frame is kept for the next read.
func TestHookDelayHonorsReadContext(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, nil)
	asked := make(chan struct{}, 1)
	delay := FrameHookFunc(func(f *HookFrame) FrameVerdict {
		if f.Dir != trace.In || f.Header.Opcode != OpText {
			return FrameVerdict{}
		}
		asked <- struct{}{}
		return FrameVerdict{Verdict: hook.Verdict{Action: hook.Delay, Delay: time.Second}}
	})
	c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{FrameHook: delay}})
	ctx := testContext(t)
	if err := c.WriteMessage(ctx, MessageText, []byte("held")); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		<-asked
		cancel()
	}()
	if _, p, err := c.ReadMessage(rctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadMessage = %q, %v; want context.Canceled while the frame is held", p, err)
	}
	if _, p, err := c.ReadMessage(ctx); err != nil || string(p) != "held" {
		t.Fatalf("next ReadMessage = %q, %v; want the held frame", p, err)
	}
	c.Close(StatusNormalClosure, "")
}
