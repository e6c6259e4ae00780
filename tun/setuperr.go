package tun

// Words are what an error from Open or OpenPacketSocket calls the settings
// that would fix it. Error says them in Go (GoWords); a program whose users
// set them otherwise, such as a command line with flags, says them its own
// way with SetupError.Say.
type Words struct {
	Name         string // the interface to open: "Config.Name"
	MTU          string // "Config.MTU"
	LeaveMTU     string // how to let the interface's MTU stand: "leave Config.MTU zero"
	NoHostConfig string // "NoHostConfig"
	OpenTUN      string // how to open a TUN instead of a NIC: "Open"
}

// GoWords are the words of the Go API, which SetupError.Error uses.
var GoWords = Words{
	Name:         "Config.Name",
	MTU:          "Config.MTU",
	LeaveMTU:     "leave Config.MTU zero",
	NoHostConfig: "NoHostConfig",
	OpenTUN:      "Open",
}

// SetupError says why a device could not be opened or configured, with
// advice that names settings (Say words them for the command line or for
// Go). It wraps the system error, if any, so that errors.Is(err,
// syscall.EPERM) or syscall.EBUSY tells the cause.
type SetupError struct {
	say func(Words) string
	err error
}

func (e *SetupError) Error() string { return e.say(GoWords) }

// Say returns the error's text with w's words for the settings.
func (e *SetupError) Say(w Words) string { return e.say(w) }

func (e *SetupError) Unwrap() error { return e.err }

func setupError(err error, say func(Words) string) error {
	return &SetupError{say: say, err: err}
}
