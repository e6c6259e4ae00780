package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzControlBody posts any body to the live view's controls: step,
// breakpoints, rules and the clock. Each answers 200, or a 400, 409 or
// 413 whose JSON error starts "ui: ", is UTF-8 and short; breakpoints it
// takes are then listed as they were sent (blanks around them trimmed),
// every one of them parsing.
func FuzzControlBody(f *testing.F) {
	for _, s := range []string{``, `{}`, `null`, `{"to":"frame"}`, `{"to":"nothing"}`, `{"to":5}`,
		`{"breakpoints":[]}`, `{"breakpoints":["tcp and fin","ws close"]}`, `{"breakpoints":["(("]}`, `{"breakpoints":null}`,
		`{"breakpoints":["state TIME-WAIT","rto > 1s","` + strings.Repeat("x", 300) + `"]}`, `{"breakpoints":[1]}`,
		`{"node":"client","point":"link-egress","rule":"loss 1%"}`, `{"node":"","point":"","rule":""}`,
		`{"ms":1}`, `{"ms":1.5}`, `{"ms":1e400}`, `{"ms":-1}`, `{"ms":"1"}`, `{} {}`, "\xff"} {
		for path := range uint8(4) {
			f.Add(path, []byte(s))
		}
	}
	s, err := New(Options{Live: true})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	do := func(t *testing.T, method, path string, body []byte) (int, []byte) {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(string(body)))
		r.Header.Set("X-Glassnet-Token", s.Token())
		r.Host = "127.0.0.1:8999"
		r.Header.Set("Origin", "http://127.0.0.1:8999")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.Bytes()
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := [...]string{"/api/step", "/api/breakpoints", "/api/rules", "/api/clock/advance"}[which%4]
		code, out := do(t, "POST", path, body)
		if code != http.StatusOK {
			if code != http.StatusBadRequest && code != http.StatusConflict && code != http.StatusRequestEntityTooLarge {
				t.Fatalf("POST %s %q: %d %q", path, body, code, out)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(out, &e); err != nil {
				t.Fatalf("POST %s %q: %d, an error that is not JSON: %q", path, body, code, out)
			}
			if !strings.HasPrefix(e.Error, "ui: ") || len(e.Error) > maxErrorText || !utf8.ValidString(e.Error) {
				t.Fatalf("POST %s %q: error %q: want \"ui: \", valid UTF-8, at most %d bytes", path, body, e.Error, maxErrorText)
			}
			return
		}
		if path != "/api/breakpoints" {
			return
		}
		var sent struct{ Breakpoints []string }
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatalf("POST %s %q taken, though it does not read: %v", path, body, err)
		}
		for i, b := range sent.Breakpoints {
			if _, err := ParseBreakpoint(b); err != nil {
				t.Fatalf("breakpoint %q set, though it does not parse: %v", b, err)
			}
			sent.Breakpoints[i] = strings.TrimSpace(b) // as ParseBreakpoint keeps it
		}
		_, got := do(t, "GET", path, nil)
		var listed struct{ Breakpoints []string }
		if err := json.Unmarshal(got, &listed); err != nil || !slices.Equal(listed.Breakpoints, sent.Breakpoints) {
			t.Fatalf("set %q, listed %q (%v)", sent.Breakpoints, listed.Breakpoints, err)
		}
	})
}
