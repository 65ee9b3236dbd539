//go:build !linux

// corun boots guests on User-mode Linux or QEMU/KVM through Linux's
// namespaces, Landlock and ptrace: it runs on Linux only. Elsewhere this
// stub is the whole program, so `go build ./...` works on every system and
// the binary says why it cannot help.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "corun runs on Linux only (this is %s/%s): run it on a Linux host, in a Linux VM or in WSL 2; coimage convert, export and pull work here\n", runtime.GOOS, runtime.GOARCH)
	os.Exit(1)
}
