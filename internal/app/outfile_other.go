//go:build !unix

package app

import "os"

// PipeOutFile is for unix pipes; elsewhere standard output is written to
// as it is.
func PipeOutFile(*os.File) *OutFile { return nil }
