package ws

import "testing"

// TestOpcodeClasses: RFC 6455 §5.2 gives opcodes 0x3-0x7 to further data
// frames and 0x8-0xF to control frames, the reserved ones too; §5.5: a
// control frame is one whose opcode has its most significant bit set.
func TestOpcodeClasses(t *testing.T) {
	t.Parallel()
	for op := Opcode(0); op <= 0xf; op++ {
		if got, want := op.IsControl(), op >= 0x8; got != want {
			t.Errorf("%v.IsControl() = %v, want %v", op, got, want)
		}
		known := op <= OpBinary || op >= OpClose && op <= OpPong
		if got := op.Known(); got != known {
			t.Errorf("%v.Known() = %v, want %v", op, got, known)
		}
	}
}
