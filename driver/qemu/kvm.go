package qemu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KVM ioctls (linux/kvm.h) and the structures' sizes on x86-64.
const (
	kvmDevice           = "/dev/kvm"
	kvmGetAPIVersion    = 0xAE00
	kvmCreateVM         = 0xAE01
	kvmGetVCPUMmapSize  = 0xAE04
	kvmCreateVCPU       = 0xAE41
	kvmSetUserMemRegion = 0x4020AE46
	kvmRun              = 0xAE80
	kvmGetSregs         = 0x8138AE83
	kvmSetSregs         = 0x4138AE84
	kvmSetRegs          = 0x4090AE82
	kvmAPIVersion       = 12 // stable since Linux 2.6.22
	kvmExitHLT          = 5
	sregsSize           = 312
	regsSize            = 144
)

// AccelEnv overrides the choice of accelerator: "kvm" or "tcg". A host
// whose KVM passes the probe and still cannot boot Linux (seen on a
// nested cloud VM: the guest hangs entering long mode) sets tcg.
const AccelEnv = "CORUN_QEMU_ACCEL"

// Accel says whether QEMU runs with KVM, and if not, why.
func Accel() (kvm bool, why string) {
	switch os.Getenv(AccelEnv) {
	case "tcg":
		return false, AccelEnv + "=tcg"
	case "kvm":
		return true, ""
	}
	if err := KVM(); err != nil {
		return false, err.Error()
	}
	if stalledSinceBoot() {
		return false, fmt.Sprintf("a guest hung under this host's KVM since it booted (%s=kvm tries again)", AccelEnv)
	}
	return true, ""
}

// stallMarker records that a guest hung under KVM, with the host's boot
// id: until the host reboots, Accel then picks TCG (and auto UML) instead
// of hanging for kvmBootLimit on every run.
func stallMarker() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "colinux", "kvm-stalled")
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

func stalledSinceBoot() bool {
	b, err := os.ReadFile(stallMarker())
	return err == nil && bootID() != "" && strings.TrimSpace(string(b)) == bootID()
}

// markStalled writes the stall marker; it is advice, so failures are ignored.
func markStalled() {
	if p := stallMarker(); p != "" && bootID() != "" {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(bootID()+"\n"), 0o644)
	}
}

// kvmProbeTimeout bounds the test guest's run: a working KVM halts it in
// microseconds.
const kvmProbeTimeout = 2 * time.Second

// KVM says whether this host can run guests with KVM. /dev/kvm opening
// and answering KVM_GET_API_VERSION is not enough, nor is a real-mode
// guest running: nested setups exist (measured on a 2-core cloud VM)
// where both work and Linux hangs as it enters long mode. So KVM runs a
// one-instruction guest (hlt) in 64-bit long mode, with paging, and waits
// for its exit. The error says why not.
func KVM() error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("no KVM check for %s", runtime.GOARCH)
	}
	f, err := os.OpenFile(kvmDevice, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("no KVM: %w", err)
	}
	defer f.Close()
	kvm := int(f.Fd())
	v, err := unix.IoctlRetInt(kvm, kvmGetAPIVersion)
	if err != nil {
		return fmt.Errorf("no KVM: %s: KVM_GET_API_VERSION: %w", kvmDevice, err)
	}
	if v != kvmAPIVersion {
		return fmt.Errorf("no KVM: %s speaks API version %d, want %d", kvmDevice, v, kvmAPIVersion)
	}
	done := make(chan error, 1)
	go func() { done <- runHalt(kvm) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("no KVM: %s opens, but a test guest fails: %w", kvmDevice, err)
		}
		return nil
	case <-time.After(kvmProbeTimeout):
		// The thread stays blocked in KVM_RUN; it is one thread, once.
		return fmt.Errorf("no KVM: %s opens, but a test guest did not run within %v (nested virtualization not working?)", kvmDevice, kvmProbeTimeout)
	}
}

// runHalt creates a VM with five pages of memory — hlt at 0x1000, page
// tables identity-mapping the first 2 MiB at 0x2000..0x4fff — runs one
// vCPU in long mode at the hlt and checks that it exits for it.
func runHalt(kvm int) error {
	runtime.LockOSThread()
	vm, err := unix.IoctlRetInt(kvm, kvmCreateVM)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	defer unix.Close(vm)
	const memSize, code, pml4, pdpt, pd = 0x5000, 0x1000, 0x2000, 0x3000, 0x4000
	mem, err := unix.Mmap(-1, 0, memSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	defer unix.Munmap(mem)
	mem[code] = 0xf4 // hlt
	le := binary.LittleEndian
	le.PutUint64(mem[pml4:], pdpt|3) // present, writable
	le.PutUint64(mem[pdpt:], pd|3)
	le.PutUint64(mem[pd:], 0x83) // a 2 MiB page at 0
	region := struct {
		slot, flags                    uint32
		guestPhys, size, userspaceAddr uint64
	}{0, 0, 0, memSize, uint64(uintptr(unsafe.Pointer(&mem[0])))}
	if err := ioctlPtr(vm, kvmSetUserMemRegion, unsafe.Pointer(&region)); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION: %w", err)
	}
	vcpu, err := unix.IoctlRetInt(vm, kvmCreateVCPU)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VCPU: %w", err)
	}
	defer unix.Close(vcpu)
	size, err := unix.IoctlRetInt(kvm, kvmGetVCPUMmapSize)
	if err != nil {
		return fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	run, err := unix.Mmap(vcpu, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	defer unix.Munmap(run)
	var sregs [sregsSize]byte
	if err := ioctlPtr(vcpu, kvmGetSregs, unsafe.Pointer(&sregs[0])); err != nil {
		return fmt.Errorf("KVM_GET_SREGS: %w", err)
	}
	// kvm_segment, 24 bytes: base, limit, selector, then type, present,
	// dpl, db, s, l, g, avl. cs is 64-bit code; ds, es, fs, gs, ss data.
	segment := func(i int, selector uint16, typ, db, l byte) {
		b := sregs[i*24 : i*24+24]
		clear(b)
		le.PutUint32(b[8:], 0xffffffff)
		le.PutUint16(b[12:], selector)
		b[14], b[15], b[17], b[18], b[19], b[20] = typ, 1, db, 1, l, 1
	}
	segment(0, 8, 11, 0, 1)
	for i := 1; i <= 5; i++ {
		segment(i, 16, 3, 1, 0)
	}
	le.PutUint64(sregs[224:], 1|2|0x10|0x20|1<<16|1<<18|1<<31) // cr0: PE MP ET NE WP AM PG
	le.PutUint64(sregs[240:], pml4)                            // cr3
	le.PutUint64(sregs[248:], 1<<5)                            // cr4: PAE
	le.PutUint64(sregs[264:], 1<<8|1<<10)                      // efer: LME LMA
	if err := ioctlPtr(vcpu, kvmSetSregs, unsafe.Pointer(&sregs[0])); err != nil {
		return fmt.Errorf("KVM_SET_SREGS: %w", err)
	}
	// kvm_regs: 16 general registers, then rip and rflags (bit 1 is
	// always set).
	var regs [regsSize / 8]uint64
	regs[16], regs[17] = code, 2
	if err := ioctlPtr(vcpu, kvmSetRegs, unsafe.Pointer(&regs[0])); err != nil {
		return fmt.Errorf("KVM_SET_REGS: %w", err)
	}
	for {
		_, err := unix.IoctlRetInt(vcpu, kvmRun)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("KVM_RUN: %w", err)
		}
		// exit_reason follows request_interrupt_window, immediate_exit
		// and padding: offset 8.
		if reason := *(*uint32)(unsafe.Pointer(&run[8])); reason != kvmExitHLT {
			return fmt.Errorf("test guest exited with reason %d, want hlt (%d)", reason, kvmExitHLT)
		}
		return nil
	}
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}
