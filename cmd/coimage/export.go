package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/internal/progress"
	"github.com/colinux-ng/colinux/pkg/ext4"
	"github.com/colinux-ng/colinux/pkg/imagefmt"
	"github.com/colinux-ng/colinux/pkg/qemuconv"
)

var exportCommand = &cli.Command{
	Name:  "export",
	Usage: "write a cobd image (or any disk image) out for QEMU, WSL, VirtualBox, VMware or podman",
	Description: "qcow2: QEMU (version 3; --compress packs clusters with zlib, or zstd with --compression zstd)\n" +
		"vhdx:  Hyper-V and wsl --import --vhd (dynamic)\n" +
		"vmdk:  VMware, VirtualBox and OVF (streamOptimized, always compressed)\n" +
		"vdi:   VirtualBox (dynamic)\n" +
		"tar:   the filesystem's files, for wsl --import, podman import and docker import\n" +
		"       (files with holes stay sparse, as tar --posix --sparse stores them)\n\n" +
		"--disk first wraps a bare filesystem in a GPT disk (partition 1, typed Linux root x86-64),\n" +
		"so that the image boots in QEMU with an external kernel and root=/dev/vda1.",
	ArgsUsage: "IMAGE OUT",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Required: true, Usage: "`FORMAT` of OUT: qcow2, vhdx, vmdk, vdi or tar"},
		&cli.BoolFlag{Name: "compress", Aliases: []string{"c"}, Usage: "compress qcow2 clusters (in parallel)"},
		&cli.StringFlag{Name: "compression", Value: "zlib", Usage: "with --compress: `TYPE` zlib (every QEMU reads it) or zstd (QEMU 5.1 and later; faster)"},
		&cli.BoolFlag{Name: "disk", Usage: "wrap the filesystem in a GPT disk first"},
		&cli.IntFlag{Name: "partition", Aliases: []string{"p"}, Usage: "tar: the filesystem in partition `N` of a whole disk, instead of the root chosen"},
		&cli.BoolFlag{Name: "force", Usage: "replace OUT if it exists (never when OUT is IMAGE)"},
		&cli.BoolFlag{Name: "allow-backing", Usage: "follow a backing file named inside the image (trust the image first)"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
	},
	Action: runExport,
}

type exportReport struct {
	Input       string   `json:"input"`
	Output      string   `json:"output"`
	Format      string   `json:"format"`
	Compression string   `json:"compression,omitempty"`
	Disk        bool     `json:"disk,omitempty"`
	Size        int64    `json:"virtual_size,omitempty"`
	Bytes       int64    `json:"bytes"`
	Warnings    []string `json:"warnings,omitempty"`
}

func runExport(c *cli.Context) error {
	if c.NArg() != 2 {
		return cli.Exit("usage: coimage export --format qcow2|vhdx|vmdk|vdi|tar [options] IMAGE OUT", 2)
	}
	in, out := c.Args().Get(0), c.Args().Get(1)
	format := c.String("format")
	compression := ""
	if c.Bool("compress") {
		compression = c.String("compression")
	}
	switch {
	case format == "tar" && c.Bool("disk"):
		return cli.Exit("coimage: --disk is for disk formats; a tar holds files", 2)
	case compression != "" && format != "qcow2":
		return cli.Exit("coimage: --compress is for qcow2 (vmdk is always compressed)", 2)
	case compression != "" && compression != "zlib" && compression != "zstd":
		return cli.Exit(fmt.Sprintf("coimage: --compression %q: zlib or zstd", compression), 2)
	}
	target, ok := map[string]imagefmt.Format{"qcow2": imagefmt.QCOW2, "vhdx": imagefmt.VHDX, "vmdk": imagefmt.VMDK, "vdi": imagefmt.VDI, "tar": ""}[format]
	if !ok {
		return cli.Exit(fmt.Sprintf("coimage: --format %q: qcow2, vhdx, vmdk, vdi or tar", format), 2)
	}
	f, disk, err := startOutput(c, in, out)
	if err != nil {
		return err
	}
	defer f.Abort()
	defer disk.Close()
	report := exportReport{Input: in, Output: out, Format: format, Compression: compression, Disk: c.Bool("disk")}
	if format == "tar" {
		err = exportTar(c, disk, f.File, &report)
	} else {
		err = exportDisk(c, disk, target, f.File, &report)
	}
	if err == nil {
		err = f.Commit()
	}
	if err != nil {
		return fmt.Errorf("export %s: %w", in, err)
	}
	if fi, err := os.Stat(out); err == nil {
		report.Bytes = fi.Size()
	}
	if c.Bool("json") {
		return printJSON(report)
	}
	fmt.Printf("%s → %s (%s, %s)\n", in, out, format, humanBytes(report.Bytes))
	return nil
}

// exportDisk writes the disk, wrapped in a GPT first with --disk.
func exportDisk(c *cli.Context, disk imagefmt.Disk, target imagefmt.Format, dst *os.File, report *exportReport) error {
	if c.Bool("disk") {
		table, err := qemuconv.ReadTable(disk, disk.Size())
		if err != nil {
			return err
		}
		if table.Scheme != qemuconv.SchemeNone {
			return fmt.Errorf("--disk wraps a bare filesystem, and the image already is a whole disk (%s partition table)", table.Scheme)
		}
		if qemuconv.DetectFS(disk, 0, disk.Size()).Type == "" {
			return fmt.Errorf("--disk wraps a bare filesystem, and the image holds none that coimage knows")
		}
		disk = qemuconv.WrapGPT(disk)
	}
	report.Size = disk.Size()
	bar := progress.New(disk.Size(), "exporting")
	defer bar.Done()
	return imagefmt.Write(c.Context, dst, disk, target, imagefmt.WriteOptions{
		Compress: report.Compression, Name: filepath.Base(report.Output), Progress: bar.Add,
	})
}

// exportTar writes the files of the image's ext2/3/4 filesystem: the image
// itself when it is one, else the root partition of the disk.
func exportTar(c *cli.Context, disk imagefmt.Disk, dst *os.File, report *exportReport) error {
	plan, err := qemuconv.MakePlan(disk, qemuconv.Options{Partition: c.Int("partition")})
	if err != nil {
		return err
	}
	switch plan.FS.Type {
	case "ext2", "ext3", "ext4":
	default:
		return fmt.Errorf("a tar export reads ext2/3/4 filesystems; the %s holds %q", plan.Mode, plan.FS.Type)
	}
	fsys, err := ext4.Open(io.NewSectionReader(disk, plan.Offset, plan.Size), plan.Size)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(dst, 1<<20)
	bar := progress.New(fsys.Used(), "exporting")
	err = ext4.WriteTar(c.Context, w, fsys, ext4.TarOptions{
		Progress: bar.Add,
		Warn: func(s string) {
			report.Warnings = append(report.Warnings, s)
			fmt.Fprintln(os.Stderr, "coimage: warning:", s)
		},
	})
	bar.Done()
	if err != nil {
		return err
	}
	return w.Flush()
}
