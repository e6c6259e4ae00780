package hook

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"
)

// Words is a rule or filter split into words, with the column of each, for
// parsers that report where an error is. Parentheses, "!", "&&", "||" and a
// ":" that separates a filter from its action are words of their own.
type Words struct {
	src   string
	words []word
	i     int
	// end is the byte offset where the words end (the ":" after a
	// filter, or the end of the source).
	end int
}

type word struct {
	text string
	pos  int // byte offset in src
}

// NewWords splits src into words.
func NewWords(src string) *Words {
	w := &Words{src: src, end: len(src)}
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			w.words = append(w.words, word{src[i : i+1], i})
			i++
		case c == '!' && !strings.HasPrefix(src[i:], "!="):
			w.words = append(w.words, word{"!", i})
			i++
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\n\r()", rune(src[j])) {
				j++
			}
			w.split(src[i:j], i)
			i = j
		}
	}
	return w
}

// split adds a run of non-space characters, cutting it at each ":" unless
// the run is an IPv6 address or prefix (possibly followed by the ":").
func (w *Words) split(s string, pos int) {
	switch k := strings.IndexByte(s, ':'); {
	case k < 0 || isAddrOrPrefix(s):
		w.words = append(w.words, word{s, pos})
	case strings.HasSuffix(s, ":") && isAddrOrPrefix(s[:len(s)-1]):
		w.words = append(w.words, word{s[:len(s)-1], pos}, word{":", pos + len(s) - 1})
	default:
		if k > 0 {
			w.words = append(w.words, word{s[:k], pos})
		}
		w.words = append(w.words, word{":", pos + k})
		if k+1 < len(s) {
			w.split(s[k+1:], pos+k+1)
		}
	}
}

func isAddrOrPrefix(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// Peek returns the next word without taking it; "" at the end.
func (w *Words) Peek() string {
	if w.i >= len(w.words) {
		return ""
	}
	return w.words[w.i].text
}

// Next takes the next word; "" at the end.
func (w *Words) Next() string {
	s := w.Peek()
	if w.i < len(w.words) {
		w.i++
	}
	return s
}

// Back gives back the word just taken.
func (w *Words) Back() {
	if w.i > 0 {
		w.i--
	}
}

// Done reports whether every word has been taken.
func (w *Words) Done() bool { return w.i >= len(w.words) }

// Pos is the byte offset of the next word (the length of the source at
// the end).
func (w *Words) Pos() int {
	if w.i >= len(w.words) {
		return w.end
	}
	return w.words[w.i].pos
}

// PrevPos is the byte offset of the word just taken.
func (w *Words) PrevPos() int {
	if w.i == 0 {
		return 0
	}
	return w.words[w.i-1].pos
}

// Errorf returns a *SyntaxError at byte offset pos.
func (w *Words) Errorf(pos int, format string, args ...any) error {
	return &SyntaxError{Src: w.src, Col: pos + 1, Msg: fmt.Sprintf(format, args...)}
}

// errorAt returns a *SyntaxError at byte offset pos that wraps err.
func (w *Words) errorAt(pos int, err error) error {
	return &SyntaxError{Src: w.src, Col: pos + 1, Msg: err.Error(), Err: err}
}

// sub returns the words from index i to j as Words of their own (sharing
// the source, so columns stay those of the whole rule).
func (w *Words) sub(i, j int) *Words {
	end := len(w.src)
	if j < len(w.words) {
		end = w.words[j].pos
	}
	return &Words{src: w.src, words: w.words[i:j], end: end}
}

// SyntaxError is a rule or filter that does not parse: Col is the 1-based
// column of the offending word in Src. Err, when set, is the error behind
// Msg (such as ErrFrameFilter), for errors.Is. Kind names what Src is,
// "filter" for one given alone (ParseFilter); empty, it is a rule.
type SyntaxError struct {
	Src  string
	Col  int
	Msg  string
	Err  error
	Kind string
}

func (e *SyntaxError) Unwrap() error { return e.Err }

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s %q: at column %d: %s", cmp.Or(e.Kind, "rule"), e.Src, e.Col, e.Msg)
}

// describe quotes a word for an error message, naming the end of the
// words when there is none.
func (w *Words) describe(s string) string {
	if s == "" && w.end < len(w.src) {
		return "end of filter"
	}
	return describeWord(s)
}
