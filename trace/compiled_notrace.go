//go:build glassnet_notrace

package trace

// compiledIn is false in builds with the glassnet_notrace tag: tracing is
// compiled out, for comparing against builds where it is in but off.
const compiledIn = false
