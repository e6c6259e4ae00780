//go:build !glassnet_notrace

package trace

// compiledIn is false in builds with the glassnet_notrace tag.
const compiledIn = true
