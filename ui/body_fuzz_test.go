package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/glassnet/glassnet/ws"
)

// FuzzRequestBody reads any body as POST /api/holds/ID and POST /api/hold
// read theirs: readJSON either takes it or answers a 400 or 413 whose
// error is JSON, starts "ui: " and is at most maxErrorText bytes, and
// never panics; a decision it takes is applied to a held packet, frame
// and send, which refuse what does not apply with an error.
func FuzzRequestBody(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, ` null `, `[]`, `"x"`, `{} {}`, `{`, "\xff\xfe",
		`{"action":"release","edit":{"window":70000}}`,
		`{"action":"release","edit":{"seq":4294967296,"ack":-1}}`,
		`{"action":"release","edit":{"window":1e400}}`,
		`{"action":"delay","delay_ms":1e30}`,
		`{"action":"delay","delay_ms":-5}`,
		`{"action":"release","edit":{"flags":"Z"}}`,
		`{"action":"release","edit":{"payload_hex":"abc"}}`,
		`{"action":"release","edit":{"opcode":"foo","fin":true}}`,
		`{"action":"release","edit":{"opcode":300}}`,
		`{"action":"release","edit":{"opcode":"0x9"}}`,
		`{"action":"release","edit":{"len":5,"fd":3}}`,
		`{"action":"drop","edit":{"payload_hex":"` + strings.Repeat("41", 100) + `"}}`,
		`{"action":"release","edit":null,"fix_checksums":false}`,
		`{"point":"link-egress","node":"client","filter":"tcp and syn","count":1e30}`,
		`{"point":"ws-out","count":-1,"extra":1}`,
		strings.Repeat("[", 10000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var d Decision
		if read(t, body, &d) && d.Edit != nil {
			for _, u := range []*held{
				{point: PointLinkEgress, data: tcpPacket("hello"), resize: true},
				{point: PointWSOut, data: []byte("hello"), opcode: ws.OpText, fin: true, resize: true},
				{point: PointWSIn, data: []byte{0x01}, opcode: ws.OpBinary, compressed: true},
				{point: PointSocketSend, data: []byte("hello"), fd: 3},
			} {
				var out decision
				_ = u.apply(*d.Edit, d.FixChecksums == nil || *d.FixChecksums, &out)
			}
		}
		var h HoldRequest
		read(t, body, &h)
	})
}

// read runs readJSON on body into v and checks its answer.
func read(t *testing.T, body []byte, v any) bool {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/api/holds/1", strings.NewReader(string(body)))
	ok := readJSON(w, r, v)
	if ok {
		if w.Body.Len() != 0 {
			t.Fatalf("taken, and answered %d %q", w.Code, w.Body)
		}
		return true
	}
	if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("refused with %d", w.Code)
	}
	var e struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("the error is not JSON: %v: %q", err, w.Body)
	}
	if !strings.HasPrefix(e.Error, "ui: ") || len(e.Error) > maxErrorText || !utf8.ValidString(e.Error) {
		t.Fatalf("error %q: want \"ui: \", valid UTF-8, at most %d bytes", e.Error, maxErrorText)
	}
	return false
}
