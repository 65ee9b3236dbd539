// Command coinit is the guest's /init: runtime/coinit's Main in a program
// of its own, built static and embedded into corun (see runtime/initramfs).
package main

import "github.com/colinux-ng/colinux/runtime/coinit"

func main() { coinit.Main() }
