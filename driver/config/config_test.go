package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/cobd"
)

func TestExampleConf(t *testing.T) {
	c, err := Parse([]string{"@testdata/example.conf"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Kernel:    "vmlinux",
		Initrd:    "initrd.gz",
		Root:      cobd.RootDevice,
		MemoryMiB: 64,
		ReadOnly:  true,
		Disks: []Disk{
			{Index: 0, Path: `c:\coLinux\Debian-4.0r0-etch.ext3.1gb`},
			{Index: 1, Path: `c:\coLinux\swap.img`},
		},
		NICs: []NIC{{Index: 0, Mode: Slirp}},
	}
	warnings := c.Warnings
	c.Warnings = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	joined := strings.Join(warnings, "\n")
	for _, opt := range []string{"cocon", "ttys0", "exec0"} {
		if !strings.Contains(joined, opt+":") {
			t.Errorf("warnings do not name %s:\n%s", opt, joined)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("want 3 warnings, got %q", warnings)
	}
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := write("base.conf", "mem=64 cobd0=a.img # comment\ncofs0=/srv\nquiet\n")
	over := write("over.conf", "mem=128\ncobd0=b.img,ro\n")
	for _, tc := range []struct {
		name string
		args []string
		want Config
	}{
		{"defaults", nil, Config{Root: cobd.RootDevice}},
		{"later file overrides", []string{"@" + base, "@" + over},
			Config{MemoryMiB: 128, Disks: []Disk{{0, "b.img", true}}, Shares: []Share{{0, "/srv", "/mnt/cofs0", false}}, KernelArgs: []string{"quiet"}}},
		{"command line after a file overrides it", []string{"@" + base, "mem=1G"},
			Config{MemoryMiB: 1024, Disks: []Disk{{0, "a.img", false}}, Shares: []Share{{0, "/srv", "/mnt/cofs0", false}}, KernelArgs: []string{"quiet"}}},
		{"unknown keys reach the kernel", []string{"console=tty0", "single", "init=/bin/sh", "console=tty1"},
			Config{KernelArgs: []string{"console=tty0", "single", "init=/bin/sh", "console=tty1"}}},
		{"cofs with a guest path, read-only", []string{"cofs3=/home/me,/media/home,ro"},
			Config{Shares: []Share{{3, "/home/me", "/media/home", true}}}},
		{"gentoo root name", []string{"root=/dev/cobd/1", "rw"}, Config{Root: cobd.Device(1)}},
		{"mem suffix", []string{"mem=512M"}, Config{MemoryMiB: 512}},
		{"read-only sysfs, overridden", []string{"sysfs=ro", "mem=64"}, Config{SysfsReadOnly: true, MemoryMiB: 64}},
		{"x11", []string{"x11=on"}, Config{X11: true}},
		{"cpus and monitor", []string{"cpus=2", "monitor=qemu"}, Config{CPUs: 2, Monitor: "qemu"}},
		{"leading zero index", []string{"cobd01=x.img"}, Config{Disks: []Disk{{1, "x.img", false}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want.Root == "" {
				want.Root = cobd.RootDevice
			}
			if !reflect.DeepEqual(got, &want) {
				t.Errorf("got  %+v\nwant %+v", got, &want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	dup := filepath.Join(dir, "dup.conf")
	os.WriteFile(dup, []byte("cobd1=a.img\n\ncobd1=b.img\n"), 0o644)
	quote := filepath.Join(dir, "quote.conf")
	os.WriteFile(quote, []byte("cobd0=\"a.img\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cobd0=a.img", "cobd00=b.img"}, "cobd0 is given twice"},
		{[]string{"@" + dup}, "dup.conf:3: \"cobd1=b.img\": cobd1 is given twice (first at line 1)"},
		{[]string{"@" + quote}, "quote.conf:1: \"cobd0=\\\"a.img\": unterminated double quote"},
		{[]string{"=x"}, "setting without a name"},
		{[]string{"mem=lots"}, "mem wants a size in MiB"},
		{[]string{"cobd16=x.img"}, "cobd0…cobd15 only"},
		{[]string{"cobd2="}, "cobd2 needs an image file"},
		{[]string{"cofs0=/srv,rw"}, "unknown cofs option \"rw\""},
		{[]string{"kernel="}, "kernel needs a file name"},
		{[]string{"sysfs=off"}, "sysfs wants ro or rw"},
		{[]string{"x11=yes"}, "x11 wants on or off"},
		{[]string{"cpus=0"}, "cpus wants a number of CPUs, 1…255"},
		{[]string{"cpus=two"}, "cpus wants a number"},
		{[]string{"monitor="}, "monitor wants uml, qemu or auto"},
		{[]string{"@" + filepath.Join(dir, "missing.conf")}, "missing.conf: no such file"},
	} {
		_, err := Parse(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	_, err := Parse([]string{"mem=x"})
	var se *SyntaxError
	if !errors.As(err, &se) || se.Source != CommandLine {
		t.Errorf("want a *SyntaxError from the command line, got %#v", err)
	}
}
