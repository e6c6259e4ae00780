package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzQuery sends the view's GET routes any query and its routes that
// take an ID any ID. What a handler refuses is a 400 (or 404 for an
// event not in the history) whose JSON error starts "ui: ", is UTF-8
// and names the parameter or the value it refused; what it answers is the
// events asked for: IDs from..to, in order, no more than maxRange; the
// event the path names.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{"", "from=1", "from=3&to=9", "to=2&from=9", "from=-1", "from=18446744073709551616", "from=1&from=2",
		"limit=5", "from=100;to=200", "from=%zz", "format=jsonl", "format=pcapng", "format=perfetto", "format=x", "token=t&from=1",
		"from=+5", "from=0x10", "from=%31"} {
		f.Add(uint8(0), q)
		f.Add(uint8(2), q)
	}
	for _, id := range []string{"1", "9", "0", "99", "-1", "18446744073709551616", "1e3", "x", "", "%2F", "\xff"} {
		f.Add(uint8(1), id)
		f.Add(uint8(3), id)
	}
	// A recorded history to read, and a live view (nothing emitted: it
	// starts paused) for the routes that change what runs.
	s, err := New(Options{History: 64})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	emitN(s, 1, 20)
	live, err := New(Options{Live: true})
	if err != nil {
		f.Fatal(err)
	}
	defer live.Close()
	f.Fuzz(func(t *testing.T, which uint8, arg string) {
		var method, target string
		switch which % 6 {
		case 0:
			method, target = "GET", "/api/events?"+arg
		case 1:
			method, target = "GET", "/api/events/"+url.PathEscape(arg)
		case 2:
			method, target = "GET", "/api/export?"+arg
		case 3:
			method, target = "DELETE", "/api/hold/"+url.PathEscape(arg)
		case 4:
			method, target = "DELETE", "/api/rules/"+url.PathEscape(arg)
		case 5:
			method, target = "GET", "/api/live?"+arg
		}
		r, err := http.NewRequest(method, target, http.NoBody)
		if err != nil {
			return // no server reads a request with this target
		}
		srv := s
		if method == "DELETE" {
			srv = live
		}
		r.Header.Set("X-Glassnet-Token", srv.Token())
		r.Host = "127.0.0.1:8999"
		r.Header.Set("Origin", "http://127.0.0.1:8999")
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		body := w.Body.Bytes()
		if w.Code != http.StatusOK && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%s %s: %d, an error that is not JSON: %q", method, target, w.Code, body)
			}
			if !strings.HasPrefix(e.Error, "ui: ") || len(e.Error) > maxErrorText || !utf8.ValidString(e.Error) {
				t.Fatalf("%s %s: error %q: want \"ui: \", valid UTF-8, at most %d bytes", method, target, e.Error, maxErrorText)
			}
			if w.Code == http.StatusBadRequest && which%6 == 0 && !strings.Contains(e.Error, "query") && !strings.Contains(e.Error, "from") && !strings.Contains(e.Error, "to") {
				t.Fatalf("%s %s: error %q names neither the parameter nor the query", method, target, e.Error)
			}
		}
		if w.Code != http.StatusOK {
			if w.Code >= 500 {
				t.Fatalf("%s %s: %d %q", method, target, w.Code, body)
			}
			return
		}
		switch which % 6 {
		case 0:
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				t.Fatalf("%s: taken, though the query does not parse: %v", target, err)
			}
			from, to := uint64(0), uint64(1<<64-1)
			if v := q.Get("from"); v != "" {
				from, _ = strconv.ParseUint(v, 10, 64)
			}
			if v := q.Get("to"); v != "" {
				to, _ = strconv.ParseUint(v, 10, 64)
			}
			var out struct{ Events []struct{ ID uint64 } }
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatalf("%s: %v in %q", target, err, body)
			}
			if len(out.Events) > maxRange {
				t.Fatalf("%s: %d events", target, len(out.Events))
			}
			for i, e := range out.Events {
				if e.ID < from || e.ID > to || i > 0 && e.ID <= out.Events[i-1].ID {
					t.Fatalf("%s: events %v for %d..%d", target, out.Events, from, to)
				}
			}
		case 1:
			var e struct{ ID uint64 }
			if id, perr := strconv.ParseUint(arg, 10, 64); json.Unmarshal(body, &e) != nil || perr != nil || e.ID != id {
				t.Fatalf("%s: event %d", target, e.ID)
			}
		}
	})
}
