package main

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// repeatable marks a flag that may be given more than once (--addr,
// --egress, --allow-origin): each value adds to the others.
type repeatable interface{ repeatable() }

func (*prefixList) repeatable() {}
func (*ruleList) repeatable()   {}
func (*originList) repeatable() {}

// onceValue wraps a flag that takes one value while the command line is
// parsed. A second, different value is refused instead of replacing the
// first without a word ("--tun a --tun b"), and a value that does not
// parse says what the flag wants instead of flag's "parse error".
type onceValue struct {
	flag.Value
	set bool
	val string
	def string // the flag's default, for an example of a value
	arg string // its argument's name in the usage (BYTES), if any
}

func (v *onceValue) Set(s string) error {
	if v.set && s != v.val {
		return fmt.Errorf("given twice, %q and then %q: it takes one value", v.val, s)
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

// wrapOnce wraps every flag of fs that takes one value in an onceValue;
// the function it returns puts the values back as they were (for -h,
// whose defaults flag finds by the value's type).
func wrapOnce(fs *flag.FlagSet) (unwrap func()) {
	var wrapped []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(repeatable); ok {
			return
		}
		arg, _ := flag.UnquoteUsage(f)
		f.Value = &onceValue{Value: f.Value, def: f.DefValue, arg: arg}
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
