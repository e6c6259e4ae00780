package conformance

import (
	"bytes"
	"fmt"
	"time"
)

// Close codes the cases expect (RFC 6455 §7.4.1).
const (
	codeNormal          = 1000
	codeProtocolError   = 1002
	codeInvalidPayload  = 1007
	codeMessageTooBig   = 1009
	heavyThresholdBytes = 4 << 20
)

// failWith expects the peer to fail the connection with code.
func failWith(codes ...int) CloseExpect { return CloseExpect{ByPeer: true, Codes: codes} }

func outcomes(ok []Event) map[Verdict][]Event { return map[Verdict][]Event{OK: ok} }

func outcomes2(ok, nonStrict []Event) map[Verdict][]Event {
	return map[Verdict][]Event{OK: ok, NonStrict: nonStrict}
}

func events(e ...Event) []Event { return e }

// repeat returns n bytes of pattern repeated.
func repeat(pattern string, n int) []byte {
	b := bytes.Repeat([]byte(pattern), n/len(pattern)+1)
	return b[:n]
}

// binaryPattern returns n bytes of every value.
func binaryPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// Cases returns every case, in order, with group 9 sized by opts.
func Cases(opts Options) []*Case {
	opts.defaults()
	var cs []*Case
	cs = append(cs, handshakeCases()...)
	cs = append(cs, framingCases(opts)...)
	cs = append(cs, pingCases()...)
	cs = append(cs, rsvCases()...)
	cs = append(cs, opcodeCases()...)
	cs = append(cs, fragmentationCases()...)
	cs = append(cs, utf8Cases()...)
	cs = append(cs, closeCases()...)
	cs = append(cs, limitCases(opts)...)
	cs = append(cs, miscCases()...)
	if !opts.NoCompression {
		cs = append(cs, compressionCases(opts)...)
	}
	return cs
}

// echoCase sends frames (in one write, or chopped) and expects msg back.
func echoCase(id, desc string, text bool, payload []byte, chop int, frames ...Frame) *Case {
	exp := "Receive echo'ed " + map[bool]string{true: "text", false: "binary"}[text] + " message (with payload as sent). Clean close with normal code."
	return &Case{
		ID: id, Description: desc, Expectation: exp,
		Expect: outcomes(events(Message(text, payload))),
		Run: func(t *Exchange) {
			if chop > 0 {
				t.SendChopped(chop, frames...)
			} else {
				t.Send(frames...)
			}
		},
	}
}

func framingCases(opts Options) []*Case {
	var cs []*Case
	lengths := []int{0, 125, 126, 127, 128, 65535, 65536}
	for gi, text := range []bool{true, false} {
		kind, op, pattern := "text", OpText, "*"
		if !text {
			kind, op, pattern = "binary", OpBinary, "\xfe"
		}
		for i, n := range lengths {
			p := repeat(pattern, n)
			cs = append(cs, echoCase(fmt.Sprintf("1.%d.%d", gi+1, i+1),
				fmt.Sprintf("Send %s message with payload length %d.", kind, n), text, p, 0, Frag(true, op, p)))
		}
		p := repeat(pattern, 65536)
		cs = append(cs, echoCase(fmt.Sprintf("1.%d.8", gi+1),
			fmt.Sprintf("Send %s message with payload length 65536. Sent out data in chops of 997 octets.", kind), text, p, 997, Frag(true, op, p)))
	}

	hello := []byte("Hello, world!")
	nonMinimal := func(id, desc string, n int, lenBytes int) *Case {
		p := repeat("*", n)
		return &Case{
			ID: id, Extra: true, Description: desc,
			Expectation: "The connection is failed with 1002: RFC 6455 §5.2 says the minimal number of bytes MUST be used to encode the length. Echoing the message is NON-STRICT.",
			Expect:      outcomes2(nil, events(Message(true, p))),
			Close:       CloseExpect{ByPeer: true, Codes: []int{codeProtocolError}, NonStrictCodes: []int{codeNormal}},
			Run:         func(t *Exchange) { f := Text(p); f.LenBytes = lenBytes; t.Send(f) },
		}
	}
	cs = append(cs,
		nonMinimal("1.3.1", "Send a 5-byte text message whose length is encoded in 16 bits.", 5, 2),
		nonMinimal("1.3.2", "Send a 125-byte text message whose length is encoded in 64 bits.", 125, 8),
		nonMinimal("1.3.3", "Send a 200-byte text message whose length is encoded in 64 bits.", 200, 8),
		&Case{
			ID: "1.3.4", Extra: true,
			Description: "Send a binary frame whose 64-bit length has its most significant bit set.",
			Expectation: "The connection is failed immediately with 1002 (RFC 6455 §5.2).",
			Expect:      outcomes(nil), Close: failWith(codeProtocolError),
			Run: func(t *Exchange) {
				f := Binary(hello)
				f.LenBytes, f.Length, f.LengthSet = 8, 1<<63|uint64(len(hello)), true
				t.Send(f)
			},
		},
	)
	if opts.MaxMessageSize > 0 {
		cs = append(cs, &Case{
			ID: "1.3.5", Extra: true,
			Description: fmt.Sprintf("Send the header of a text frame announcing 2^40 bytes, more than the peer's limit (%d), and a few bytes of payload.", opts.MaxMessageSize),
			Expectation: "The connection is failed with 1009 as soon as the header has arrived, before any more data.",
			Expect:      outcomes(nil), Close: failWith(codeMessageTooBig),
			Run: func(t *Exchange) {
				f := Text(hello)
				f.Length, f.LengthSet = 1<<40, true
				t.Send(f)
			},
		})
	}
	cs = append(cs, &Case{
		ID: "1.4.1", Extra: true,
		Description: "Send a text frame masked the wrong way: unmasked from a client, masked from a server.",
		Expectation: "The connection is failed immediately with 1002 (RFC 6455 §5.1).",
		Expect:      outcomes(nil), Close: failWith(codeProtocolError),
		Run: func(t *Exchange) {
			f := Text(hello)
			if t.Client() {
				f.Mask = MaskOff
			} else {
				f.Mask = MaskOn
			}
			t.Send(f)
		},
	})
	return cs
}

func pingCases() []*Case {
	pong := func(id, desc string, payload []byte, octets bool) *Case {
		return &Case{
			ID: id, Description: desc,
			Expectation: "Pong (with payload) is sent in reply to Ping. Clean close with normal code.",
			Expect:      outcomes(events(PongEvent(payload))),
			Run: func(t *Exchange) {
				if octets {
					t.SendOctets(Ping(payload))
				} else {
					t.Send(Ping(payload))
				}
			},
		}
	}
	tenPings := func(id, desc string, octets bool) *Case {
		var frames []Frame
		var want []Event
		for i := range 10 {
			p := fmt.Appendf(nil, "payload-%d", i)
			frames = append(frames, Ping(p))
			want = append(want, PongEvent(p))
		}
		return &Case{
			ID: id, Description: desc,
			Expectation: "Pongs for our Pings with all the payloads. Clean close with normal code.",
			Expect:      outcomes(want),
			Run: func(t *Exchange) {
				if octets {
					t.SendOctets(frames...)
				} else {
					t.Send(frames...)
				}
			},
		}
	}
	return []*Case{
		pong("2.1", "Send ping without payload.", nil, false),
		pong("2.2", "Send ping with small text payload.", []byte("Hello, world!"), false),
		pong("2.3", "Send ping with small binary (non UTF-8) payload.", []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}, false),
		pong("2.4", "Send ping with binary payload of 125 octets.", bytes.Repeat([]byte{0xfe}, 125), false),
		{
			ID: "2.5", Description: "Send ping with binary payload of 126 octets.",
			Expectation: "Connection is failed immediately (1002/Protocol Error), since control frames are only allowed to have payload up to and including 125 octets.",
			Expect:      outcomes(nil), Close: failWith(codeProtocolError),
			Run: func(t *Exchange) { t.Send(Ping(bytes.Repeat([]byte{0xfe}, 126))) },
		},
		pong("2.6", "Send ping with binary payload of 125 octets, send in octet-wise chops.", bytes.Repeat([]byte{0xfe}, 125), true),
		{
			ID: "2.7", Description: "Send unsolicited pong without payload.",
			Expectation: "Nothing. Clean close with normal code.",
			Expect:      outcomes(nil),
			Run:         func(t *Exchange) { t.Send(Pong(nil)) },
		},
		{
			ID: "2.8", Description: "Send unsolicited pong with payload.",
			Expectation: "Nothing. Clean close with normal code.",
			Expect:      outcomes(nil),
			Run:         func(t *Exchange) { t.Send(Pong([]byte("unsolicited pong payload"))) },
		},
		{
			ID: "2.9", Description: "Send unsolicited pong with payload, then ping with payload.",
			Expectation: "Pong for our Ping is received. Clean close with normal code.",
			Expect:      outcomes(events(PongEvent([]byte("ping payload")))),
			Run: func(t *Exchange) {
				t.Send(Pong([]byte("unsolicited pong payload")), Ping([]byte("ping payload")))
			},
		},
		tenPings("2.10", "Send 10 Pings with payload.", false),
		tenPings("2.11", "Send 10 Pings with payload. Send out octets in octet-wise chops.", true),
		{
			ID: "2.12", Extra: true, Description: "Send pong with binary payload of 126 octets.",
			Expectation: "Connection is failed immediately with 1002: control frames carry at most 125 octets.",
			Expect:      outcomes(nil), Close: failWith(codeProtocolError),
			Run: func(t *Exchange) { t.Send(Pong(bytes.Repeat([]byte{0xfe}, 126))) },
		},
	}
}

func rsvCases() []*Case {
	hello := []byte("Hello, world!")
	withRsv := func(f Frame, rsv byte) Frame { f.Rsv = rsv; return f }
	fail := func(id, desc string, f Frame) *Case {
		return &Case{
			ID: id, Description: desc,
			Expectation: "The connection is failed immediately, since RSV must be 0.",
			Expect:      outcomes(nil), Close: failWith(codeProtocolError),
			Run: func(t *Exchange) { t.Send(f) },
		}
	}
	echoThenFail := func(id, desc string, rsv byte, send func(t *Exchange, f ...Frame)) *Case {
		return &Case{
			ID: id, Description: desc,
			Expectation: "Echo for first message is received, but then connection is failed immediately, since RSV must be 0. The Pong is not received.",
			Expect:      outcomes2(events(Message(true, hello)), nil),
			Close:       failWith(codeProtocolError),
			Run: func(t *Exchange) {
				send(t, Text(hello), withRsv(Text(hello), rsv), Ping(nil))
			},
		}
	}
	return []*Case{
		fail("3.1", "Send small text message with RSV = 1.", withRsv(Text(hello), 1)),
		echoThenFail("3.2", "Send small text message, then send again with RSV = 2, then send Ping.", 2, (*Exchange).Send),
		echoThenFail("3.3", "Send small text message, then send again with RSV = 3, then send Ping. Octets are sent in frame-wise chops.", 3, (*Exchange).SendEach),
		echoThenFail("3.4", "Send small text message, then send again with RSV = 4, then send Ping. Octets are sent in octet-wise chops.", 4, (*Exchange).SendOctets),
		fail("3.5", "Send small binary message with RSV = 5.", withRsv(Binary([]byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}), 5)),
		fail("3.6", "Send Ping with payload and RSV = 6.", withRsv(Ping(hello), 6)),
		fail("3.7", "Send Close with RSV = 7.", withRsv(Close(-1, nil), 7)),
	}
}

func opcodeCases() []*Case {
	hello := []byte("Hello, world!")
	payload := []byte("reserved opcode payload")
	var cs []*Case
	for gi, ops := range [][]byte{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		kind := "non-control"
		if gi == 1 {
			kind = "control"
		}
		for i, op := range ops {
			id := fmt.Sprintf("4.%d.%d", gi+1, i+1)
			var p []byte
			if i%2 == 1 || i == 4 {
				p = payload
			}
			f := Frame{Fin: true, Opcode: op, Payload: p}
			if i < 2 {
				cs = append(cs, &Case{
					ID: id, Description: fmt.Sprintf("Send frame with reserved %s Opcode = %d.", kind, op),
					Expectation: "The connection is failed immediately.",
					Expect:      outcomes(nil), Close: failWith(codeProtocolError),
					Run: func(t *Exchange) { t.Send(f) },
				})
				continue
			}
			cs = append(cs, &Case{
				ID: id, Description: fmt.Sprintf("Send small text message, then send frame with reserved %s Opcode = %d, then send Ping.", kind, op),
				Expectation: "Echo for first message is received, but then connection is failed immediately, since reserved opcode frame is used. A Pong is not received.",
				Expect:      outcomes2(events(Message(true, hello)), nil),
				Close:       failWith(codeProtocolError),
				Run:         func(t *Exchange) { t.Send(Text(hello), f, Ping(nil)) },
			})
		}
	}
	return cs
}

func fragmentationCases() []*Case {
	f1, f2 := []byte("fragment1"), []byte("fragment2")
	both := []byte("fragment1fragment2")
	ping := []byte("ping payload")
	sends := []func(t *Exchange, f ...Frame){(*Exchange).Send, (*Exchange).SendEach, (*Exchange).SendOctets}
	how := []string{"", " Octets are sent in frame-wise chops.", " Octets are sent in octet-wise chops."}
	var cs []*Case
	failCase := func(id, desc string, send func(*Exchange, ...Frame), frames ...Frame) *Case {
		return &Case{
			ID: id, Description: desc,
			Expectation: "The connection is failed immediately.",
			Expect:      outcomes(nil), Close: failWith(codeProtocolError),
			Run: func(t *Exchange) { send(t, frames...) },
		}
	}
	cs = append(cs,
		failCase("5.1", "Send Ping fragmented into 2 fragments.", (*Exchange).Send, Frame{Opcode: OpPing, Payload: f1}, Cont(true, f2)),
		failCase("5.2", "Send Pong fragmented into 2 fragments.", (*Exchange).Send, Frame{Opcode: OpPong, Payload: f1}, Cont(true, f2)),
	)
	for i := range 3 {
		send := sends[i]
		cs = append(cs, &Case{
			ID: fmt.Sprintf("5.%d", 3+i), Description: "Send text Message fragmented into 2 fragments." + how[i],
			Expectation: "Message is processed and echo'ed back to us.",
			Expect:      outcomes(events(Message(true, both))),
			Run:         func(t *Exchange) { send(t, Frag(false, OpText, f1), Cont(true, f2)) },
		})
	}
	for i := range 3 {
		send := sends[i]
		cs = append(cs, &Case{
			ID: fmt.Sprintf("5.%d", 6+i), Description: "Send text Message fragmented into 2 fragments, one ping with payload in-between." + how[i],
			Expectation: "A pong is received, then the message is echo'ed back to us.",
			Expect:      outcomes(events(PongEvent(ping), Message(true, both))),
			Run:         func(t *Exchange) { send(t, Frag(false, OpText, f1), Ping(ping), Cont(true, f2)) },
		})
	}
	msg := []byte("fragment2")
	for i := range 3 {
		cs = append(cs, failCase(fmt.Sprintf("5.%d", 9+i),
			"Send unfragmented Text Message after Continuation Frame with FIN = true, where there is no fragmented message to continue."+how[i],
			sends[i], Cont(true, f1), Text(msg)))
	}
	for i := range 3 {
		cs = append(cs, failCase(fmt.Sprintf("5.%d", 12+i),
			"Send unfragmented Text Message after Continuation Frame with FIN = false, where there is no fragmented message to continue."+how[i],
			sends[i], Cont(false, f1), Text(msg)))
	}
	cs = append(cs, &Case{
		ID:          "5.15",
		Description: "Send text Message fragmented into 2 fragments, then Continuation Frame with FIN = false where there is nothing to continue, then unfragmented Text Message, all sent in one chop.",
		Expectation: "The connection is failed immediately, since there is no message to continue.",
		Expect:      outcomes2(events(Message(true, both)), nil),
		Close:       failWith(codeProtocolError),
		Run: func(t *Exchange) {
			t.Send(Frag(false, OpText, f1), Cont(true, f2), Cont(false, []byte("fragment3")), Text([]byte("fragment4")))
		},
	})
	f3 := []byte("fragment3")
	cs = append(cs,
		failCase("5.16", "Repeated 2x: Continuation Frame with FIN = false (where there is nothing to continue), then text Message fragmented into 2 fragments.",
			(*Exchange).Send, Cont(false, f1), Frag(false, OpText, f2), Cont(true, f3), Cont(false, f1), Frag(false, OpText, f2), Cont(true, f3)),
		failCase("5.17", "Repeated 2x: Continuation Frame with FIN = true (where there is nothing to continue), then text Message fragmented into 2 fragments.",
			(*Exchange).Send, Cont(true, f1), Frag(false, OpText, f2), Cont(true, f3), Cont(true, f1), Frag(false, OpText, f2), Cont(true, f3)),
		failCase("5.18", "Send text Message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop.",
			(*Exchange).Send, Frag(false, OpText, f1), Frag(true, OpText, f2)),
	)
	frags := [][]byte{[]byte("fragment1"), []byte("fragment2"), []byte("fragment3"), []byte("fragment4"), []byte("fragment5")}
	pings := [][]byte{[]byte("pongme 1!"), []byte("pongme 2!")}
	for i, send := range []func(*Exchange, ...Frame){(*Exchange).Send, (*Exchange).SendEach} {
		desc := "A fragmented text message is sent in multiple frames. After sending the first 2 frames of the text message, a Ping is sent. Then we wait for its Pong, then we send 2 more text fragments, another Ping and then the final text fragment. Everything is legal."
		if i == 1 {
			desc = "Same as 5.19, but send all frames with SYNC = True. Note, this is only different from 5.19 in the way the fuzzer works."
		}
		cs = append(cs, &Case{
			ID: fmt.Sprintf("5.%d", 19+i), Description: desc,
			Expectation: "The peer immediately answers the first Ping before it has received the last text message fragment. The peer pong's back the Ping's payload exactly, and echo's the payload of the fragmented message back to us.",
			Expect:      outcomes(events(PongEvent(pings[0]), PongEvent(pings[1]), Message(true, bytes.Join(frags, nil)))),
			Run: func(t *Exchange) {
				send(t, Frag(false, OpText, frags[0]), Cont(false, frags[1]), Ping(pings[0]))
				t.WaitEvents(1)
				send(t, Cont(false, frags[2]), Cont(false, frags[3]), Ping(pings[1]), Cont(true, frags[4]))
			},
		})
	}
	return cs
}

func utf8Cases() []*Case {
	hello := []byte("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!")
	octetFrames := func(p []byte) []Frame {
		fs := make([]Frame, len(p))
		for i := range p {
			fs[i] = Frag(i == len(p)-1, OpContinuation, p[i:i+1])
		}
		fs[0].Opcode = OpText
		return fs
	}
	valid := func(id, desc string, payload []byte, frames ...Frame) *Case {
		return &Case{
			ID: id, Description: desc,
			Expectation: "The message is echo'ed back to us.",
			Expect:      outcomes(events(Message(true, payload))),
			Run:         func(t *Exchange) { t.Send(frames...) },
		}
	}
	cs := []*Case{
		valid("6.1.1", "Send text message of length 0.", nil, Text(nil)),
		valid("6.1.2", "Send fragmented text message, 3 fragments each of length 0.", nil, Frag(false, OpText, nil), Cont(false, nil), Cont(true, nil)),
		valid("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.", []byte("middle frame payload"),
			Frag(false, OpText, nil), Cont(false, []byte("middle frame payload")), Cont(true, nil)),
		valid("6.2.1", "Send a valid UTF-8 text message in one fragment.", hello, Text(hello)),
		valid("6.2.2", "Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary.", hello,
			Frag(false, OpText, hello[:13]), Cont(true, hello[13:])),
		valid("6.2.3", "Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.", hello, octetFrames(hello)...),
		valid("6.2.4", "Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.", []byte(kappa), octetFrames([]byte(kappa))...),
	}
	bad := []byte(kappa + "\xed\xa0\x80" + "edited")
	cs = append(cs,
		&Case{
			ID: "6.3.1", Description: "Send invalid UTF-8 text message unfragmented.",
			Expectation: "The connection is failed immediately, since the payload is not valid UTF-8.",
			Expect:      outcomes(nil), Close: failWith(codeInvalidPayload),
			Run: func(t *Exchange) { t.Send(Text(bad)) },
		},
		&Case{
			ID: "6.3.2", Description: "Send invalid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.",
			Expectation: "The connection is failed immediately, since the payload is not valid UTF-8.",
			Expect:      outcomes(nil), Close: failWith(codeInvalidPayload),
			Run: func(t *Exchange) { t.Send(octetFrames(bad)...) },
		},
	)
	cs = append(cs, failFastCases()...)
	for gi, g := range utf8Groups() {
		for i, seq := range g.seqs {
			id := fmt.Sprintf("6.%d.%d", gi+5, i+1)
			p := []byte(seq.b)
			if seq.valid {
				cs = append(cs, &Case{
					ID: id, Description: fmt.Sprintf("%s: send a text message with payload which is valid UTF-8 in one fragment. Payload: 0x%x", g.name, p),
					Expectation: "The message is echo'ed back to us.",
					Expect:      outcomes(events(Message(true, p))),
					Run:         func(t *Exchange) { t.Send(Text(p)) },
				})
				continue
			}
			cs = append(cs, &Case{
				ID: id, Description: fmt.Sprintf("%s: send a text message with payload which is not valid UTF-8 in one fragment. Payload: 0x%x", g.name, p),
				Expectation: "The connection is failed immediately, since the payload is not valid UTF-8.",
				Expect:      outcomes(nil), Close: failWith(codeInvalidPayload),
				Run: func(t *Exchange) { t.Send(Text(p)) },
			})
		}
	}
	return cs
}

// failFastCases are 6.4: the peer must fail the connection as soon as the
// first byte that cannot be valid UTF-8 arrives, before the rest of the
// message: within Options.FailFast, the rest unsent. In 6.4.1-6.4.4 the rest
// is sent after that, and failing then is NON-STRICT; 6.4.5-6.4.7 never
// send it.
func failFastCases() []*Case {
	part1 := []byte(kappa)
	part2 := []byte("\xf4\x90\x80\x80") // U+110000: invalid at \x90
	part3 := []byte("edited")
	payload := bytes.Join([][]byte{part1, part2, part3}, nil)
	const exp = "The first part is accepted (we see no close during a quiet period). The connection is failed with 1007 right after the part with the invalid octet arrives, without the rest (fail fast). Failing only after the rest is NON-STRICT."
	markA, markB := Mark("timeout A"), Mark("timeout B")
	expect := outcomes2(events(markA), events(markA, markB))
	frames := func(cut1, cut2 int) *Case {
		return &Case{
			Expect: expect, Close: failWith(codeInvalidPayload), Expectation: exp,
			Run: func(t *Exchange) {
				t.Send(Frag(false, OpText, payload[:cut1]))
				t.Quiet()
				if !t.Open() {
					return
				}
				t.Mark("timeout A")
				t.Send(Cont(false, payload[cut1:cut2]))
				if t.WaitFailFast() {
					return
				}
				t.Mark("timeout B")
				t.Send(Cont(true, payload[cut2:]))
			},
		}
	}
	chops := func(cut1, cut2 int) *Case {
		return &Case{
			Expect: expect, Close: failWith(codeInvalidPayload), Expectation: exp,
			Run: func(t *Exchange) {
				b := Encode(t.Client(), Text(payload))
				hl := len(b) - len(payload)
				t.Write(b[:hl+cut1], 0)
				t.Quiet()
				if !t.Open() {
					return
				}
				t.Mark("timeout A")
				t.Write(b[hl+cut1:hl+cut2], 0)
				if t.WaitFailFast() {
					return
				}
				t.Mark("timeout B")
				t.Write(b[hl+cut2:], 0)
			},
		}
	}
	c1 := frames(len(part1), len(part1)+len(part2))
	c1.ID = "6.4.1"
	c1.Description = "Send invalid UTF-8 text message in 3 fragments (frames). First frame payload is valid, then wait, then 2nd frame which contains the payload making the sequence invalid, then wait, then 3rd frame with rest. PART2 is U+110000 in the UTF-8 integer encoding scheme, out of range."
	c2 := frames(12, 13)
	c2.ID = "6.4.2"
	c2.Description = "Same as 6.4.1, but in 2nd frame, we send only up to and including the octet making the complete payload invalid."
	c3 := chops(len(part1), len(part1)+len(part2))
	c3.ID = "6.4.3"
	c3.Description = "Same as 6.4.1, but we send message not in 3 frames, but in 3 chops of the same message frame."
	c4 := chops(12, 13)
	c4.ID = "6.4.4"
	c4.Description = "Same as 6.4.2, but we send message not in 3 frames, but in 3 chops of the same message frame."

	never := func(id, desc string, run func(t *Exchange)) *Case {
		return &Case{
			ID: id, Extra: true, Description: desc,
			Expectation: "The connection is failed with 1007 right after the invalid octet; the rest of the message is never sent.",
			Expect:      outcomes(events(markA)), Close: failWith(codeInvalidPayload),
			Run: func(t *Exchange) {
				run(t)
				if t.Open() && !t.WaitFailFast() {
					t.Mark("timeout B")
				}
			},
		}
	}
	big := repeat("*", 64<<10)
	c5 := never("6.4.5", "Send the header of a 64 KiB text frame and its first 1000 octets (valid), wait, then one octet 0xff, and never the rest of the frame.",
		func(t *Exchange) {
			b := Encode(t.Client(), Text(append(big[:1000:1000], append([]byte{0xff}, big[1001:]...)...)))
			hl := len(b) - len(big)
			t.Write(b[:hl+1000], 0)
			t.Quiet()
			if !t.Open() {
				return
			}
			t.Mark("timeout A")
			t.Write(b[hl+1000:hl+1001], 0)
		})
	c6 := never("6.4.6", "Send a text frame ending in the lead octet 0xe2 of a 3-byte code point, wait, then a continuation frame announcing 10 octets of which only the first, 0x28 (not a continuation octet), is sent.",
		func(t *Exchange) {
			t.Send(Frag(false, OpText, []byte("a\xe2")))
			t.Quiet()
			if !t.Open() {
				return
			}
			t.Mark("timeout A")
			f := Cont(true, []byte("\x28"))
			f.Length, f.LengthSet = 10, true
			t.Send(f)
		})
	c7 := never("6.4.7", "Send a text frame announcing 20 octets: \"κόσμε\" then 0xed, wait, then 0xa0 (a surrogate), and never the rest.",
		func(t *Exchange) {
			p := append([]byte(kappa+"\xed\xa0"), repeat("*", 20-len(kappa)-2)...)
			b := Encode(t.Client(), Text(p))
			hl := len(b) - len(p)
			t.Write(b[:hl+len(kappa)+1], 0)
			t.Quiet()
			if !t.Open() {
				return
			}
			t.Mark("timeout A")
			t.Write(b[hl+len(kappa)+1:hl+len(kappa)+2], 0)
		})
	return []*Case{c1, c2, c3, c4, c5, c6, c7}
}

func closeCases() []*Case {
	normal := CloseExpect{Codes: []int{codeNormal}}
	hello := []byte("Hello World!")
	cs := []*Case{
		{
			ID: "7.1.1", Description: "Send a message followed by a close frame.",
			Expectation: "Echoed message followed by clean close with normal code.",
			Expect:      outcomes(events(Message(true, hello))), Close: normal,
			Run: func(t *Exchange) { t.Send(Text(hello), Close(codeNormal, nil)) },
		},
		{
			ID: "7.1.2", Description: "Send two close frames.",
			Expectation: "Clean close with normal code. Second close frame ignored.",
			Expect:      outcomes(nil), Close: normal,
			Run: func(t *Exchange) { t.Send(Close(codeNormal, nil), Close(-1, nil)) },
		},
		{
			ID: "7.1.3", Description: "Send a ping after close message.",
			Expectation: "Clean close with normal code, no pong.",
			Expect:      outcomes(nil), Close: normal,
			Run: func(t *Exchange) { t.Send(Close(codeNormal, nil), Ping(nil)) },
		},
		{
			ID: "7.1.4", Description: "Send text message after sending a close frame.",
			Expectation: "Clean close with normal code. Text message ignored.",
			Expect:      outcomes(nil), Close: normal,
			Run: func(t *Exchange) { t.Send(Close(codeNormal, nil), Text(hello)) },
		},
		{
			ID: "7.1.5", Description: "Send message fragment1 followed by close then fragment.",
			Expectation: "Clean close with normal code.",
			Expect:      outcomes(nil), Close: normal,
			Run: func(t *Exchange) {
				t.Send(Frag(false, OpText, []byte("fragment1")), Close(codeNormal, nil), Cont(true, []byte("fragment2")))
			},
		},
	}
	big := repeat("BAsd7&jh23", 256<<10)
	cs = append(cs, &Case{
		ID: "7.1.6", Description: "Send 256K message followed by close then a ping.", Informational: true,
		Expectation: "Case outcome depends on implementation defined close behavior. Message and close frame are sent back to back. If the close frame is processed before the text message write is complete (as can happen in asynchronous processing models) the close frame is processed first and the text message may not be received or may only be partially received.",
		Expect:      outcomes2(events(Message(true, big), Message(true, hello)), nil), Close: normal,
		Run: func(t *Exchange) { t.Send(Text(big), Text(hello), Close(codeNormal, nil), Ping(nil)) },
	})

	closeWith := func(id, desc, exp string, f Frame, ce CloseExpect) *Case {
		return &Case{ID: id, Description: desc, Expectation: exp, Expect: outcomes(nil), Close: ce, Run: func(t *Exchange) { t.Send(f) }}
	}
	protocolError := CloseExpect{Codes: []int{codeProtocolError}}
	cs = append(cs,
		closeWith("7.3.1", "Send a close frame with payload length 0 (no close code, no close reason).", "Clean close with normal code or no code.",
			Close(-1, nil), CloseExpect{Codes: []int{codeNormal}, NoCode: true}),
		closeWith("7.3.2", "Send a close frame with payload length 1.", "Clean close with protocol error or drop TCP.",
			Frame{Fin: true, Opcode: OpClose, Payload: []byte{0x03}}, protocolError),
		closeWith("7.3.3", "Send a close frame with payload length 2 (regular close with a code).", "Clean close with normal code.",
			Close(codeNormal, nil), normal),
		closeWith("7.3.4", "Send a close frame with close code and close reason.", "Clean close with normal code.",
			Close(codeNormal, []byte("Hello World!")), normal),
		closeWith("7.3.5", "Send a close frame with close code and close reason of maximum length (123).", "Clean close with normal code.",
			Close(codeNormal, repeat("*", 123)), normal),
		closeWith("7.3.6", "Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets.",
			"Clean close with protocol error code or dropped TCP connection.", Close(codeNormal, repeat("*", 124)), protocolError),
		closeWith("7.5.1", "Send a close frame with invalid UTF8 payload.", "Clean close with protocol error or invalid utf8 code or dropped TCP.",
			Close(codeNormal, []byte(kappa+"\xed\xa0\x80edited")), CloseExpect{Codes: []int{codeProtocolError, codeInvalidPayload}}),
		closeWith("7.5.2", "Send a close frame whose reason is a lone continuation octet.", "Clean close with 1007 (1002 is NON-STRICT).",
			Close(codeNormal, []byte("\x80")), CloseExpect{Codes: []int{codeInvalidPayload}, NonStrictCodes: []int{codeProtocolError}}),
		closeWith("7.5.3", "Send a close frame whose reason ends inside a code point.", "Clean close with 1007 (1002 is NON-STRICT).",
			Close(codeNormal, []byte("abc\xe2\x82")), CloseExpect{Codes: []int{codeInvalidPayload}, NonStrictCodes: []int{codeProtocolError}}),
	)
	cs[len(cs)-1].Extra, cs[len(cs)-2].Extra = true, true

	valid := []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999, 1012, 1013, 1014}
	for i, code := range valid {
		c := closeWith(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("Send close with valid close code %d.", code),
			"Clean close with the code echoed (1000 is NON-STRICT).", Close(code, nil),
			CloseExpect{Codes: []int{code}, NonStrictCodes: []int{codeNormal}})
		c.Extra = i >= 13
		cs = append(cs, c)
	}
	invalid := []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 1015, 5000, 65535}
	for i, code := range invalid {
		c := closeWith(fmt.Sprintf("7.9.%d", i+1), fmt.Sprintf("Send close with invalid close code %d.", code),
			"Clean close with protocol error code.", Close(code, nil), protocolError)
		c.Extra = i >= 9
		cs = append(cs, c)
	}
	for i, code := range []int{5000, 65535} {
		c := closeWith(fmt.Sprintf("7.13.%d", i+1), fmt.Sprintf("Send close with close code %d.", code),
			"Actual events are undefined by the spec.", Close(code, nil), protocolError)
		c.Informational = true
		cs = append(cs, c)
	}
	return cs
}

func limitCases(opts Options) []*Case {
	scale, count := 1, 1000
	if opts.Short {
		scale, count = 16, 100
	}
	timeout := 2 * time.Minute
	var cs []*Case
	kinds := []struct {
		name string
		text bool
		op   byte
	}{{"text", true, OpText}, {"binary", false, OpBinary}}
	// Payloads are built when a case runs, not when the list is made.
	payload := func(text bool, n int) []byte {
		if text {
			return repeat("BAsd7&jh23", n)
		}
		return binaryPattern(n)
	}
	for gi, k := range kinds {
		for i, n := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20} {
			n /= scale
			cs = append(cs, &Case{
				ID: fmt.Sprintf("9.%d.%d", gi+1, i+1), Heavy: n >= heavyThresholdBytes, Timeout: timeout,
				Description: fmt.Sprintf("Send %s message with payload of length %d.", k.name, n),
				Expectation: fmt.Sprintf("Receive echo'ed %s message (with payload as sent).", k.name),
				Run: func(t *Exchange) {
					p := payload(k.text, n)
					t.Expect(OK, Message(k.text, p))
					t.Send(Frag(true, k.op, p))
				},
			})
		}
	}
	for gi, k := range kinds {
		n := (4 << 20) / scale
		for i, frag := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			frag = min(frag, n)
			cs = append(cs, &Case{
				ID: fmt.Sprintf("9.%d.%d", gi+3, i+1), Heavy: n >= heavyThresholdBytes, Timeout: timeout,
				Description: fmt.Sprintf("Send fragmented %s message with message payload of length %d. Sent out in fragments of %d.", k.name, n, frag),
				Expectation: fmt.Sprintf("Receive echo'ed %s message (with payload as sent).", k.name),
				Run: func(t *Exchange) {
					p := payload(k.text, n)
					t.Expect(OK, Message(k.text, p))
					var frames []Frame
					for off := 0; off < n; off += frag {
						end := min(off+frag, n)
						f := Cont(end == n, p[off:end])
						if off == 0 {
							f.Opcode = k.op
						}
						frames = append(frames, f)
					}
					t.Send(frames...)
				},
			})
		}
	}
	for gi, k := range kinds {
		n := (1 << 20) / scale
		for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			cs = append(cs, &Case{
				ID: fmt.Sprintf("9.%d.%d", gi+5, i+1), Timeout: timeout,
				Description: fmt.Sprintf("Send %s message with payload of length %d. Sent out data in chops of %d octets.", k.name, n, chop),
				Expectation: fmt.Sprintf("Receive echo'ed %s message (with payload as sent).", k.name),
				Run: func(t *Exchange) {
					p := payload(k.text, n)
					t.Expect(OK, Message(k.text, p))
					t.SendChopped(chop, Frag(true, k.op, p))
				},
			})
		}
	}
	for gi, text := range []bool{true, false} {
		kind, op := "text", OpText
		if !text {
			kind, op = "binary", OpBinary
		}
		for i, n := range []int{0, 16, 64, 256, 1024, 4096} {
			p := repeat("*", n)
			if !text {
				p = bytes.Repeat([]byte{0xfe}, n)
			}
			frame := Frag(true, op, p)
			cs = append(cs, &Case{
				ID: fmt.Sprintf("9.%d.%d", gi+7, i+1), Timeout: timeout,
				Description: fmt.Sprintf("Send %d %s messages of payload size %d to measure implementation/network RTT (round trip time) / latency.", count, kind, n),
				Expectation: fmt.Sprintf("Receive echo'ed %s messages (with payload as sent).", kind),
				Expect:      outcomes(events(Mark(fmt.Sprintf("%d echoes", count)))),
				Run: func(t *Exchange) {
					for k := range count {
						t.Send(frame)
						if !t.s.wait(timeout, func() bool { return len(t.s.events) > k || t.s.peerDone() }) {
							return
						}
						t.s.mu.Lock()
						ok := t.s.events[k].Equal(Message(text, p))
						t.s.mu.Unlock()
						if !ok || !t.Open() {
							return
						}
					}
					// All echoes matched: one marker stands for them in
					// the report.
					t.s.mu.Lock()
					t.s.events = nil
					t.s.mu.Unlock()
					t.Mark(fmt.Sprintf("%d echoes", count))
				},
			})
		}
	}
	if opts.MaxMessageSize > 0 {
		max := opts.MaxMessageSize
		cs = append(cs,
			&Case{
				ID: "9.11.1", Extra: true,
				Description: fmt.Sprintf("Send the header of a binary frame of %d octets, one more than the peer's limit, and 1000 octets of it.", max+1),
				Expectation: "The connection is failed with 1009 (message too big) without waiting for the payload.",
				Expect:      outcomes(nil), Close: failWith(codeMessageTooBig),
				Run: func(t *Exchange) {
					f := Binary(binaryPattern(1000))
					f.Length, f.LengthSet = uint64(max+1), true
					t.Send(f)
				},
			},
			&Case{
				ID: "9.11.2", Extra: true,
				Description: fmt.Sprintf("Send a fragmented binary message: a frame of 1000 octets, then the header of a continuation frame that brings the message to %d octets, one more than the peer's limit.", max+1),
				Expectation: "The connection is failed with 1009 (message too big) without waiting for the payload.",
				Expect:      outcomes(nil), Close: failWith(codeMessageTooBig),
				Run: func(t *Exchange) {
					f := Cont(true, binaryPattern(10))
					f.Length, f.LengthSet = uint64(max+1-1000), true
					t.Send(Frag(false, OpBinary, binaryPattern(1000)), f)
				},
			},
		)
	}
	return cs
}

func miscCases() []*Case {
	p := repeat("*", 65536)
	var frames []Frame
	for off := 0; off < len(p); off += 1300 {
		end := min(off+1300, len(p))
		f := Cont(end == len(p), p[off:end])
		if off == 0 {
			f.Opcode = OpText
		}
		frames = append(frames, f)
	}
	return []*Case{{
		ID:          "10.1.1",
		Description: "Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = 1300.",
		Expectation: "Receive echo'ed text message (with payload as sent). Clean close with normal code.",
		Expect:      outcomes(events(Message(true, p))),
		Run:         func(t *Exchange) { t.Send(frames...) },
	}}
}
