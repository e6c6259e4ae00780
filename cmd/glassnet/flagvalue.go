package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// repeatable marks a flag that may be given more than once (--addr,
// --egress, --allow-origin): each value adds to the others.
type repeatable interface{ repeatable() }

func (*prefixList) repeatable() {}
func (*ruleList) repeatable()   {}
func (*originList) repeatable() {}

// onceValue wraps a flag that takes a value while the command line is
// parsed. A second, different value is refused instead of replacing the
// first without a word ("--tun a --tun b"), unless the flag is repeatable;
// a value that does not parse says what the flag wants instead of flag's
// "parse error"; and a flag is not taken for the value of the one before
// it ("--trace --step" wrote the trace to a file named --step, and did
// not step).
type onceValue struct {
	flag.Value
	set    bool
	val    string
	def    string // the flag's default, for an example of a value
	arg    string // its argument's name in the usage (BYTES), if any
	repeat bool   // a repeatable flag: each value adds to the others
	fs     *flag.FlagSet
}

func (v *onceValue) Set(s string) error {
	if v.set && s != v.val && !v.repeat {
		return fmt.Errorf("given twice, %q and then %q: it takes one value", v.val, s)
	}
	if takesWord(v.Value) && isFlagWord(v.fs, s) {
		what := cmp.Or(v.arg, "value")
		if strings.ContainsAny(what[:1], "AEIOU") {
			what = "an " + what
		} else {
			what = "a " + what
		}
		if s == "--" {
			return fmt.Errorf("-- ends the flags, it is not %s: give %s before it", what, what)
		}
		file := ""
		if v.arg == "FILE" {
			file = " (./" + s + " for a file so named)"
		}
		return fmt.Errorf("%s is a flag, not %s: give %s before it%s", s, what, what, file)
	}
	if isInteger(v.Value) && !isDecimal(s) {
		// flag reads 0x1f4 as hex and 010 as octal: --port 010 would
		// serve port 8 without a word.
		n, err := strconv.ParseInt(s, 0, 64)
		dec, derr := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err == nil && (derr != nil || dec != n) {
			return fmt.Errorf("want a whole number in decimal: %s reads as %d (a leading 0 is octal, 0x hex)", s, n)
		}
	}
	if err := v.Value.Set(s); err != nil {
		if err.Error() == "parse error" {
			return errors.New(wantValue(v.Value, v.def, v.arg))
		}
		return err
	}
	v.set, v.val = true, s
	return nil
}

func (v *onceValue) String() string {
	if v == nil || v.Value == nil {
		return ""
	}
	return v.Value.String()
}

// IsBoolFlag keeps a boolean flag one that stands alone.
func (v *onceValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// takesWord reports whether value takes any word (a FILE, NAME or
// PATTERN), which a flag that follows would be taken for; a number or a
// duration says itself what it wants.
func takesWord(value flag.Value) bool {
	g, ok := value.(flag.Getter)
	if !ok {
		return true
	}
	_, ok = g.Get().(string)
	return ok
}

// isFlagWord reports whether s, given as a flag's value, is rather a flag
// of fs (-step, --step, --ui=ADDR, -h), any word that starts with "--" and
// a letter (a flag mistyped: no name, address, rule or pattern starts so),
// or "--", the end of the flags.
func isFlagWord(fs *flag.FlagSet, s string) bool {
	name, ok := strings.CutPrefix(s, "-")
	if !ok || name == "" {
		return false // "-" is stdout
	}
	if name == "-" {
		return true
	}
	double := false
	if n, ok := strings.CutPrefix(name, "-"); ok {
		name, double = n, true
	}
	if name == "" || !unicode.IsLetter(rune(name[0])) {
		return false // -1, --1
	}
	if double {
		return true
	}
	name, _, _ = strings.Cut(name, "=")
	return name == "h" || name == "help" || fs != nil && fs.Lookup(name) != nil
}

// isInteger reports whether value holds a whole number.
func isInteger(value flag.Value) bool {
	g, ok := value.(flag.Getter)
	if !ok {
		return false
	}
	switch g.Get().(type) {
	case int, int64, uint, uint64:
		return true
	}
	return false
}

// isDecimal reports whether s is a whole number written in decimal, with
// an optional sign, and without a leading 0 (which flag takes for octal).
func isDecimal(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return false
	}
	return s == "0" || s[0] != '0'
}

// wantValue says what a flag of value's kind takes; def is its default,
// arg the name of its argument in the usage.
func wantValue(value flag.Value, def, arg string) string {
	g, ok := value.(flag.Getter)
	if !ok {
		return "not a value this flag takes"
	}
	switch g.Get().(type) {
	case time.Duration:
		return "want a duration with its unit, such as 30s, 5m or 1h30m, at most 2562047h (0 alone needs none)"
	case bool:
		return "want true or false, or the flag alone for true"
	case int, int64, uint, uint64:
		switch {
		case arg == "BYTES":
			return "want a whole number of bytes, such as " + def + " (no unit)"
		case def != "" && def != "0":
			return "want a whole number, such as " + def
		}
		return "want a whole number"
	case float64:
		return "want a number"
	}
	return "not a value this flag takes"
}

// wrapOnce wraps every flag of fs in an onceValue; the function it
// returns puts the values back as they were (for -h, whose defaults flag
// finds by the value's type).
func wrapOnce(fs *flag.FlagSet) (unwrap func()) {
	var wrapped []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		_, repeat := f.Value.(repeatable)
		arg, _ := flag.UnquoteUsage(f)
		f.Value = &onceValue{Value: f.Value, def: f.DefValue, arg: arg, repeat: repeat, fs: fs}
		wrapped = append(wrapped, f)
	})
	return func() {
		for _, f := range wrapped {
			if v, ok := f.Value.(*onceValue); ok {
				f.Value = v.Value
			}
		}
	}
}
