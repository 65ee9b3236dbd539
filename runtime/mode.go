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

// reexecMessage is what UML kernels from 6.16 on print when they cannot
// find /proc/self/exe to re-execute themselves with address space
// randomization off; kernels that do not do that lack it.
var reexecMessage = []byte("\x00readlink failure\x00")

// umlTraits reads from the UML kernel binary at path the fastest mode it
// supports, and whether it wants to run with address space randomization
// off (it re-executes itself otherwise). Reading the binary rather than
// running it describes a kernel the host cannot run too.
func umlTraits(path string) (mode string, noRandomize bool) {
	mode = Ptrace
	f, err := os.Open(path)
	if err != nil {
		return mode, false
	}
	defer f.Close()
	found := containsEach(f, seccompOption, reexecMessage)
	if found[0] {
		mode = Seccomp
	}
	return mode, found[1]
}

// containsEach reports which of needles r holds, reading it in chunks.
func containsEach(r io.Reader, needles ...[]byte) []bool {
	found := make([]bool, len(needles))
	overlap := 0
	for _, n := range needles {
		overlap = max(overlap, len(n)-1)
	}
	buf := make([]byte, 1<<20)
	keep := 0 // bytes carried over from the previous chunk
	for {
		n, err := io.ReadFull(r, buf[keep:])
		for i, needle := range needles {
			found[i] = found[i] || bytes.Contains(buf[:keep+n], needle)
		}
		if err != nil {
			return found
		}
		keep = copy(buf, buf[keep+n-overlap:keep+n])
	}
}
