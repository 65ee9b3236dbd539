package runtime

import (
	"bytes"
	"io"
	"os"
)

// How a User-mode Linux kernel runs its processes.
const (
	// Ptrace: every guest system call is a round trip through the host's
	// ptrace. All UML kernels can.
	Ptrace = "ptrace"
	// Seccomp: guest processes trap their own system calls with a
	// seccomp filter and a signal handler, about twice as fast (Linux
	// 6.16 and later, booted with seccomp=on).
	Seccomp = "seccomp"
)

// seccompOption is the name of UML's seccomp= boot option as the kernel
// stores it (NUL-terminated, in its table of setup options); kernels
// without seccomp mode do not have it.
var seccompOption = []byte("\x00seccomp=\x00")

// umlMode is the fastest mode the UML kernel at path supports, found by
// reading the binary rather than running it: a kernel the host cannot
// run is then still described.
func umlMode(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return Ptrace
	}
	defer f.Close()
	if contains(f, seccompOption) {
		return Seccomp
	}
	return Ptrace
}

// contains reports whether r holds needle, reading it in chunks.
func contains(r io.Reader, needle []byte) bool {
	buf := make([]byte, 1<<20)
	keep := 0 // bytes carried over from the previous chunk
	for {
		n, err := io.ReadFull(r, buf[keep:])
		if bytes.Contains(buf[:keep+n], needle) {
			return true
		}
		if err != nil {
			return false
		}
		keep = copy(buf, buf[keep+n-(len(needle)-1):keep+n])
	}
}
