// Package cobd names the guest block devices behind coLinux's cobdN disks.
//
// The cooperative monitor is User-mode Linux, whose ubd driver exposes the
// host file given as ubdN= inside the guest as /dev/ubd<letter>: cobd0 is
// /dev/ubda, cobd1 is /dev/ubdb and so on. Image builders (fstab) and the
// runtime (ubdN= arguments, initramfs root=) share these names from here so
// the two sides cannot drift apart.
package cobd

// MaxDevices is how many ubd devices a stock UML kernel supports
// (MAX_DEV in arch/um/drivers/ubd_kern.c): cobd0 … cobd15.
const MaxDevices = 16

// RootDevice is the guest path of cobd0, the root filesystem.
const RootDevice = "/dev/ubda"

// Device returns the guest path of cobdN, or "" when n is outside
// 0…MaxDevices-1, which the kernel could not expose.
func Device(n int) string {
	if n < 0 || n >= MaxDevices {
		return ""
	}
	return "/dev/ubd" + string(rune('a'+n))
}
