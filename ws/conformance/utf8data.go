package conformance

// utf8Group is one subgroup of cases 6.5-6.23: test sequences from Markus
// Kuhn's UTF-8 decoder stress test, as Autobahn groups them, each marked
// valid or not under RFC 3629.
type utf8Group struct {
	name string
	seqs []utf8Seq
}

type utf8Seq struct {
	valid bool
	b     string
}

// kappa is "κόσμε", the Greek word of the stress test.
const kappa = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

func utf8Groups() []utf8Group {
	var groups []utf8Group
	add := func(name string, seqs ...utf8Seq) { groups = append(groups, utf8Group{name, seqs}) }
	v := func(s string) utf8Seq { return utf8Seq{true, s} }
	x := func(s string) utf8Seq { return utf8Seq{false, s} }

	add("Some valid UTF-8 sequences",
		v("hello\x24world"), v("hello\xc2\xa2world"), v("hello\xe2\x82\xacworld"), v("hello\xf0\xa4\xad\xa2world"), v(kappa))

	// Every prefix of kappa: valid exactly when it ends on a code point.
	var prefixes []utf8Seq
	for i := 1; i <= len(kappa); i++ {
		p := kappa[:i]
		prefixes = append(prefixes, utf8Seq{i == 2 || i == 5 || i == 7 || i == 9 || i == 11, p})
	}
	add("All prefixes of a valid UTF-8 string that contains multi-byte code points", prefixes...)

	add("First possible sequence of a certain length", v("\x00"), v("\xc2\x80"), v("\xe0\xa0\x80"), v("\xf0\x90\x80\x80"))
	add("First possible sequence length 5/6 (invalid codepoints)", x("\xf8\x88\x80\x80\x80"), x("\xfc\x84\x80\x80\x80\x80"))
	add("Last possible sequence of a certain length", v("\x7f"), v("\xdf\xbf"), v("\xef\xbf\xbf"), v("\xf4\x8f\xbf\xbf"))
	add("Last possible sequence length 4/5/6 (invalid codepoints)", x("\xf7\xbf\xbf\xbf"), x("\xfb\xbf\xbf\xbf\xbf"), x("\xfd\xbf\xbf\xbf\xbf\xbf"))
	add("Other boundary conditions", v("\xed\x9f\xbf"), v("\xee\x80\x80"), v("\xef\xbf\xbd"), v("\xf4\x8f\xbf\xbf"), x("\xf4\x90\x80\x80"))

	var cont []byte
	for c := 0x80; c < 0xbf; c++ {
		cont = append(cont, byte(c))
	}
	add("Unexpected continuation bytes", x("\x80"), x("\xbf"), x("\x80\xbf"), x("\x80\xbf\x80"), x("\x80\xbf\x80\xbf"),
		x("\x80\xbf\x80\xbf\x80"), x("\x80\xbf\x80\xbf\x80\xbf"), x(string(cont)))

	var lonely []utf8Seq
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var s []byte
		for c := r[0]; c < r[1]; c++ {
			s = append(s, byte(c), ' ')
		}
		lonely = append(lonely, x(string(s)))
	}
	add("Lonely start characters", lonely...)

	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	var miss []utf8Seq
	all := ""
	for _, m := range missing {
		miss = append(miss, x(m))
		all += m
	}
	add("Sequences with last continuation byte missing", miss...)
	add("Concatenation of incomplete sequences", x(all))
	add("Impossible bytes", x("\xfe"), x("\xff"), x("\xfe\xfe\xff\xff"))
	add("Examples of an overlong ASCII character", x("\xc0\xaf"), x("\xe0\x80\xaf"), x("\xf0\x80\x80\xaf"), x("\xf8\x80\x80\x80\xaf"), x("\xfc\x80\x80\x80\x80\xaf"))
	add("Maximum overlong sequences", x("\xc1\xbf"), x("\xe0\x9f\xbf"), x("\xf0\x8f\xbf\xbf"), x("\xf8\x87\xbf\xbf\xbf"), x("\xfc\x83\xbf\xbf\xbf\xbf"))
	add("Overlong representation of the NUL character", x("\xc0\x80"), x("\xe0\x80\x80"), x("\xf0\x80\x80\x80"), x("\xf8\x80\x80\x80\x80"), x("\xfc\x80\x80\x80\x80\x80"))
	add("Single UTF-16 surrogates", x("\xed\xa0\x80"), x("\xed\xad\xbf"), x("\xed\xae\x80"), x("\xed\xaf\xbf"), x("\xed\xb0\x80"), x("\xed\xbe\x80"), x("\xed\xbf\xbf"))
	add("Paired UTF-16 surrogates",
		x("\xed\xa0\x80\xed\xb0\x80"), x("\xed\xa0\x80\xed\xbf\xbf"), x("\xed\xad\xbf\xed\xb0\x80"), x("\xed\xad\xbf\xed\xbf\xbf"),
		x("\xed\xae\x80\xed\xb0\x80"), x("\xed\xae\x80\xed\xbf\xbf"), x("\xed\xaf\xbf\xed\xb0\x80"), x("\xed\xaf\xbf\xed\xbf\xbf"))

	// Noncharacters are valid UTF-8: U+FFFE, U+FFFF and the last two code
	// points of every plane.
	nonchars := []utf8Seq{v("\xef\xbf\xbe"), v("\xef\xbf\xbf")}
	for _, lead := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, second := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if lead == 0xf4 && second != 0x8f {
				continue // above U+10FFFF
			}
			if lead == 0xf0 && second == 0x8f {
				continue // overlong
			}
			for _, last := range []byte{0xbe, 0xbf} {
				nonchars = append(nonchars, v(string([]byte{lead, second, 0xbf, last})))
			}
		}
	}
	add("Non-character code points (valid UTF-8)", nonchars...)
	add("Unicode specials (i.e. replacement char)", v("\xef\xbf\xb9"), v("\xef\xbf\xba"), v("\xef\xbf\xbb"), v("\xef\xbf\xbc"), v("\xef\xbf\xbd"), v("\xef\xbf\xbe"), v("\xef\xbf\xbf"))
	return groups
}
