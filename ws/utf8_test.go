package ws

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// utf8Cases are the nasty cases: boundaries, overlongs, surrogates, values
// above U+10FFFF, truncations.
var utf8Cases = []string{
	"", "hello", "κόσμε", "€", "\U0010ffff", "\u07ff\u0800\uffff\U00010000",
	"\xed\x9f\xbf", "\xee\x80\x80", // around the surrogates
	"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", // overlong
	"\xed\xa0\x80", "\xed\xbf\xbf", // surrogates
	"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe", // too large
	"\x80", "\xbf", "\xc2", "\xe2\x82", "\xf0\x9f\x98", // lone or cut
	"\xe2\x82\x7f", "\xf0\x9f\x98\x7f", "\xe2\x82\x7fabc", "\xe2\x82\xc0", // an ASCII or lead byte where a later continuation belongs
	"hello\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
	"aaaaaaaaaaaaaaaa\xe2\x82\xac", "aaaaaaa\x80aaaaaaaaa",
	// 64 bytes and more, which the validator checks up to the last code
	// point in one go: valid, and with a bad byte before the last.
	strings.Repeat("κ", 40) + "€", strings.Repeat("a", 40) + "\xc0" + strings.Repeat("b", 30) + "€",
}

func TestUTF8Validator(t *testing.T) {
	t.Parallel()
	for _, s := range utf8Cases {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			checkUTF8Splits(t, []byte(s))
		})
	}
}

// checkUTF8Splits compares the validator with utf8.Valid for p written
// whole, in two pieces at every split point, and a byte at a time.
func checkUTF8Splits(t *testing.T, p []byte) {
	t.Helper()
	want := utf8.Valid(p)
	for i := 0; i <= len(p); i++ {
		var v utf8Validator
		bad := v.write(p[:i]) >= 0
		bad = v.write(p[i:]) >= 0 || bad
		if got := !bad && v.complete(); got != want {
			t.Fatalf("%q split at %d: valid=%v, utf8.Valid=%v", p, i, got, want)
		}
	}
	var v utf8Validator
	ok := true
	for i := range p {
		if v.write(p[i:i+1]) >= 0 {
			ok = false
			break
		}
	}
	if got := ok && v.complete(); got != want {
		t.Fatalf("%q byte by byte: valid=%v, utf8.Valid=%v", p, got, want)
	}
}

func TestUTF8FailsFast(t *testing.T) {
	t.Parallel()
	var v utf8Validator
	if i := v.write([]byte("ok\xe2\x82")); i != -1 {
		t.Fatalf("prefix of a valid code point rejected at %d", i)
	}
	if i := v.write([]byte("\x28rest")); i != 0 {
		t.Fatalf("bad continuation found at %d, want 0", i)
	}
	// A failure is final: what follows is not judged afresh, also
	// after a byte that cannot begin a code point.
	for _, bad := range []string{"\xe2\x82\x28", "ok\xff"} {
		v = utf8Validator{}
		v.write([]byte(bad))
		if i := v.write([]byte("fine")); i != 0 || v.complete() {
			t.Fatalf("write after %q = %d, complete %v; want 0, false", bad, i, v.complete())
		}
	}
	v = utf8Validator{}
	// An overlong or surrogate form is rejected at its second byte.
	if i := v.write([]byte("ab\xed\xa0")); i != 3 {
		t.Fatalf("surrogate found at %d, want 3", i)
	}
}

func BenchmarkUTF8Validator(b *testing.B) {
	p := []byte(strings.Repeat("glassnet κόσμε € \U0001f600 ", 2000))
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		var v utf8Validator
		v.write(p)
	}
}
