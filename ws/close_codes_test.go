package ws

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestValidOnWireEveryCode: of all 65536 codes, the ones a close frame may
// carry are RFC 6455 §7.4.1's 1000-1003 and 1007-1014 (1012-1014 added
// by the IANA registry) and §7.4.2's 3000-4999; 1004, 1005, 1006 and 1015
// are reserved and never sent, the rest below 3000 unassigned.
func TestValidOnWireEveryCode(t *testing.T) {
	t.Parallel()
	for c := range 1 << 16 {
		want := c >= 1000 && c <= 1003 || c >= 1007 && c <= 1014 || c >= 3000 && c <= 4999
		if got := StatusCode(c).ValidOnWire(); got != want {
			t.Errorf("StatusCode(%d).ValidOnWire() = %v, want %v", c, got, want)
		}
	}
}

// TestCloseSendsNoReservedCode: Close refuses the codes that are never
// sent, and writes nothing for them; ParseClosePayload refuses them on
// the way in.
func TestCloseSendsNoReservedCode(t *testing.T) {
	t.Parallel()
	for _, code := range []StatusCode{0, 999, 1004, 1006, 1015, 1016, 2999, 5000} {
		nc := &recordConn{fakeConn: fakeConn{r: strings.NewReader("")}}
		c := newConn(nc, nil, false, "", newConfig(0, time.Second, nil, ""))
		err := c.Close(code, "")
		if err == nil || !strings.Contains(err.Error(), "may not be sent") || nc.written() != 0 {
			t.Errorf("Close(%d) = %v, wrote %d bytes; want it refused and nothing written", code, err, nc.written())
		}
		if _, _, err := ParseClosePayload(ClosePayload(code, "")); !errors.Is(err, ErrBadCloseCode) {
			t.Errorf("ParseClosePayload of code %d: %v, want ErrBadCloseCode", code, err)
		}
	}
}

// TestCloseEchoesCodeOnly: the answer to a peer's close frame echoes its
// code (RFC 6455 §5.5.1) and not its reason, which was the peer's to give.
func TestCloseEchoesCodeOnly(t *testing.T) {
	t.Parallel()
	url, errs := echoServer(t, nil)
	nc, br := rawClient(t, url)
	writeFrames(t, nc, masked(true, OpClose, ClosePayload(3001, "the client's reason")))
	code, reason := readClose(t, br)
	if code != 3001 || reason != "" {
		t.Errorf("answer to close 3001 with a reason: %v %q, want 3001 and no reason", code, reason)
	}
	nc.Close()
	if err := recvErr(t, errs); CloseStatus(err) != 3001 {
		t.Errorf("server read error %v, want the peer's 3001", err)
	}
}

// TestCloseWithoutCodeSendsNoCode: Close with StatusNoStatusRcvd sends a
// close frame with no body; 1005 itself never goes on the wire (RFC 6455
// §7.4.1).
func TestCloseWithoutCodeSendsNoCode(t *testing.T) {
	t.Parallel()
	if p := ClosePayload(StatusNoStatusRcvd, ""); len(p) != 0 {
		t.Errorf("ClosePayload(1005) = %x, want an empty body", p)
	}
	nc := &recordConn{fakeConn: fakeConn{r: strings.NewReader("")}}
	c := newConn(nc, nil, false, "", newConfig(0, time.Second, nil, ""))
	c.Close(StatusNoStatusRcvd, "")
	if nc.written() != 2 {
		t.Errorf("Close(1005) wrote %d bytes, want a close frame of 2, with no body", nc.written())
	}
}
