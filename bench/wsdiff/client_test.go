package wsdiff

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/internal/rawws"
)

// The client's key and the Accept a server must answer it with (RFC 6455
// §1.3).
const (
	key    = "dGhlIHNhbXBsZSBub25jZQ=="
	accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// quiet is how long a server may send nothing before the probe says it
// left the connection open. Every server here answers in well under it on
// loopback; a server that waits for something ends up "open".
const quiet = time.Second

// request returns an upgrade request for /echo with lines (each "Name:
// value") added to the usual five headers.
func request(lines ...string) string {
	return rawRequest("GET /echo HTTP/1.1", append([]string{"Host: localhost", "Upgrade: websocket",
		"Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"}, lines...)...)
}

// rawRequest returns a request head of the request line and exactly lines.
func rawRequest(line string, lines ...string) string {
	return line + "\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
}

// run sends head to the server at addr and, once the server has accepted
// the upgrade, body, as RFC 6455 §4.1 has a client wait for the answer;
// early sends body in the same write as head instead. It records what the
// server answers.
func run(addr, head string, body []byte, early bool) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	first := []byte(head)
	if early {
		first = append(first, body...)
	}
	if _, err := c.Write(first); err != nil {
		return "write: " + err.Error()
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "no HTTP response: " + endOf(err)
	}
	var out []string
	if resp.StatusCode != http.StatusSwitchingProtocols {
		out = append(out, fmt.Sprint(resp.StatusCode))
		// The fields RFC 9110 and RFC 6455 ask of a refusal: Allow on a
		// 405 (§15.5.6), Upgrade on a 426 (§15.5.22), the versions
		// spoken when the client's is not (RFC 6455 §4.2.2).
		for _, h := range []string{"Sec-WebSocket-Version", "Allow", "Upgrade"} {
			if v := resp.Header.Values(h); len(v) > 0 {
				out = append(out, strings.ToLower(strings.TrimPrefix(h, "Sec-WebSocket-"))+"="+strings.Join(v, ","))
			}
		}
		io.Copy(io.Discard, resp.Body)
		return strings.Join(append(out, afterRefusal(c, br)), "; ")
	}
	out = append(out, "101")
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != accept {
		out = append(out, fmt.Sprintf("accept=%q", got))
	}
	if v := resp.Header.Values("Sec-WebSocket-Protocol"); len(v) > 0 {
		out = append(out, "proto="+strings.Join(v, ","))
	}
	if v := resp.Header.Values("Sec-WebSocket-Extensions"); len(v) > 0 {
		out = append(out, "ext="+normalizeExtensions(strings.Join(v, ",")))
	}
	if !early {
		if _, err := c.Write(body); err != nil {
			return strings.Join(append(out, "write: "+endOf(err)), "; ")
		}
	}
	ext := strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ",")
	return strings.Join(append(out, collapse(readFrames(c, br, strings.Contains(ext, "server_no_context_takeover")))...), "; ")
}

// afterRefusal says what follows a refused upgrade: the end of the
// connection, or more bytes (an answer to the client's early frame read
// as a second request).
func afterRefusal(c net.Conn, br *bufio.Reader) string {
	c.SetReadDeadline(time.Now().Add(quiet))
	_, err := br.ReadByte()
	if err != nil {
		return endOf(err)
	}
	br.UnreadByte()
	line, _ := br.ReadString('\n')
	return "then " + strings.TrimSpace(line)
}

func normalizeExtensions(s string) string {
	var parts []string
	for p := range strings.SplitSeq(s, ";") {
		parts = append(parts, strings.TrimSpace(p))
	}
	return strings.Join(parts, "; ")
}

// readFrames reads the server's frames until the connection ends, each
// message as one item, and says how it ended: "FIN", "RST", or "open"
// when nothing came for quiet. A server still open after its close frame
// is sent the client's close reply, as a client sends it, and how it
// ends then is added ("open, FIN after the client's close"). A compressed
// message is inflated with the ones before it as its window, or alone
// when the server agreed to server_no_context_takeover.
func readFrames(c net.Conn, br *bufio.Reader, noContext bool) []string {
	var out []string
	var msg []byte
	var msgOp byte
	var compressed bool
	var history []byte // for inflating with context takeover
	var closeCode []byte
	replied := false
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		fin, rsv, op, p, err := readFrame(br)
		if err != nil {
			end := endOf(err)
			if end == "open" && closeCode != nil && !replied {
				replied = true
				c.Write(rawws.ClientFrame(true, 0, 8, closeCode))
				out = append(out, "open")
				continue
			}
			if replied {
				end += " after the client's close"
			}
			return append(out, end)
		}
		if op >= 8 {
			out = append(out, controlSummary(op, p))
			if op == 8 {
				closeCode = p[:min(2, len(p))]
			}
			continue
		}
		if op != 0 {
			msgOp, compressed, msg = op, rsv&4 != 0, nil
		}
		msg = append(msg, p...)
		if !fin {
			continue
		}
		if compressed {
			plain, err := inflate(msg, history)
			if err != nil {
				out = append(out, fmt.Sprintf("%s: invalid DEFLATE data", opName(msgOp)))
				continue
			}
			if !noContext {
				history = append(history, plain...)
				history = history[max(0, len(history)-32768):]
			}
			msg = plain
		}
		out = append(out, dataSummary(msgOp, msg))
	}
}

// collapse writes a run of equal items once, with its count.
func collapse(items []string) []string {
	var out []string
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j] == items[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", items[i], j-i))
		} else {
			out = append(out, items[i])
		}
		i = j
	}
	return out
}

func readFrame(br *bufio.Reader) (fin bool, rsv, op byte, p []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(br, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(br, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 || n > 1<<24 {
		return false, 0, 0, nil, fmt.Errorf("a frame no server sends (% x, length %d)", h, n)
	}
	p = make([]byte, n)
	if _, err = io.ReadFull(br, p); err != nil {
		return
	}
	return h[0]&0x80 != 0, h[0] >> 4 & 7, h[0] & 0xf, p, nil
}

// inflate decompresses a permessage-deflate message (RFC 7692 §7.2.2)
// with the previous messages' output as the window.
func inflate(p, history []byte) ([]byte, error) {
	r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})), history)
	return io.ReadAll(r)
}

func opName(op byte) string {
	switch op {
	case 1:
		return "text"
	case 2:
		return "binary"
	case 8:
		return "close"
	case 9:
		return "ping"
	case 10:
		return "pong"
	}
	return fmt.Sprintf("opcode %d", op)
}

func dataSummary(op byte, p []byte) string {
	if len(p) <= 24 {
		return fmt.Sprintf("%s %q", opName(op), p)
	}
	return fmt.Sprintf("%s of %d bytes", opName(op), len(p))
}

// controlSummary names a control frame; a close by its code and reason.
// Reasons are free text (RFC 6455 §7.1.6) and differ between every two
// implementations, so they are kept apart from the code, after "|", and
// compare() leaves them out.
func controlSummary(op byte, p []byte) string {
	if op != 8 {
		return fmt.Sprintf("%s %q", opName(op), p)
	}
	switch len(p) {
	case 0:
		return "close (no code)"
	case 1:
		return fmt.Sprintf("close (1 byte %#x)", p[0])
	}
	s := fmt.Sprintf("close %d", binary.BigEndian.Uint16(p))
	if len(p) > 2 {
		s += fmt.Sprintf(" |%.60q", p[2:])
	}
	return s
}

// key drops the close reasons from an outcome: what is compared.
func keyOf(outcome string) string {
	var parts []string
	for p := range strings.SplitSeq(outcome, "; ") {
		p, _, _ = strings.Cut(p, " |")
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func endOf(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "FIN"
	case errors.Is(err, syscall.ECONNRESET):
		return "RST"
	case errors.As(err, &ne) && ne.Timeout():
		return "open"
	}
	return err.Error()
}

// deflateFinal compresses p into DEFLATE blocks that end with one whose
// BFINAL bit is set, which RFC 7692 §7.2.3.4 allows a sender to use.
func deflateFinal(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(p)
	w.Close()
	return b.Bytes()
}

// contextTakeover compresses each message with one compressor, so that a
// later message refers to the earlier ones (RFC 7692 §7.2.3.2), and
// returns their frames.
func contextTakeover(msgs ...[]byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	var out []byte
	for _, m := range msgs {
		b.Reset()
		w.Write(m)
		w.Flush()
		out = append(out, rawws.ClientFrame(true, 4, 1, bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff}))...)
	}
	return out
}
