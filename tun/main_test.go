package tun

import (
	"testing"

	"github.com/glassnet/glassnet/internal/leaktest"
)

// TestMain fails the run if the tests leave goroutines behind.
func TestMain(m *testing.M) { leaktest.Main(m) }
