package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/internal/progress"
	"github.com/colinux-ng/colinux/pkg/imagefmt"
	"github.com/colinux-ng/colinux/pkg/qemuconv"
)

var convertCommand = &cli.Command{
	Name:      "convert",
	Usage:     "turn a disk image (qcow2, vmdk, vhd, vhdx, vdi, raw, xz) into a bare filesystem (cobd) image of its root partition",
	ArgsUsage: "IN OUT",
	Flags: []cli.Flag{
		&cli.IntFlag{Name: "partition", Aliases: []string{"p"}, Usage: "copy partition `N` instead of choosing the root"},
		&cli.Int64Flag{Name: "strip", Usage: "legacy mode: drop the first `N` sectors, like dd bs=512 skip=N (bounded to the partition)"},
		&cli.BoolFlag{Name: "whole", Usage: "copy the whole virtual disk as sparse raw, as qemu-img convert -O raw does"},
		&cli.BoolFlag{Name: "force", Usage: "replace OUT if it exists (never when OUT is IN)"},
		&cli.BoolFlag{Name: "allow-backing", Usage: "follow a backing file named inside the image (trust the image first)"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
	},
	Action: runConvert,
}

func runConvert(c *cli.Context) error {
	if c.NArg() != 2 {
		return cli.Exit("usage: coimage convert [options] IN OUT", 2)
	}
	in, out := c.Args().Get(0), c.Args().Get(1)
	f, disk, err := startOutput(c, in, out)
	if err != nil {
		return err
	}
	defer f.Abort()
	defer disk.Close()
	plan, err := qemuconv.MakePlan(disk, qemuconv.Options{Partition: c.Int("partition"), Strip: c.Int64("strip"), Whole: c.Bool("whole")})
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(os.Stderr, "coimage: warning: %s: %s\n", in, w)
	}
	bar := progress.New(plan.Size, "converting")
	err = qemuconv.CopyRange(c.Context, disk, plan.Offset, plan.Size, f.File, bar.Add)
	bar.Done()
	if err == nil {
		err = f.Commit()
	}
	if err != nil {
		return fmt.Errorf("convert %s: %w", in, err)
	}
	report := convertReport{
		Input: in, Output: out, Format: disk.Format(), Mode: plan.Mode,
		Offset: plan.Offset, Size: plan.Size, FS: fsReportOf(plan.FS), Warnings: plan.Warnings,
	}
	if plan.Partition != nil {
		report.Partition = plan.Partition.Number
	}
	if c.Bool("json") {
		return printJSON(report)
	}
	what := plan.Mode
	if plan.Partition != nil {
		what = fmt.Sprintf("partition %d", plan.Partition.Number)
	}
	fmt.Printf("%s (%s): %s at offset %d, %s → %s\n", in, disk.Format(), what, plan.Offset, humanBytes(plan.Size), out)
	if plan.Mode != "whole" {
		fmt.Printf("filesystem: %s\n", describeFS(plan.FS))
	}
	return nil
}

// startOutput checks OUT and starts writing it, then opens IN: the
// output is checked before any work, so nothing is decompressed or planned
// for an OUT that would be refused anyway. The caller aborts the output
// (a no-op after Commit) and closes the disk.
func startOutput(c *cli.Context, in, out string) (*atomicfile.File, imagefmt.Disk, error) {
	f, err := atomicfile.CreateOutput(out, 0o644, atomicfile.Guard{Force: c.Bool("force"), Inputs: []string{in}})
	if err != nil {
		return nil, nil, err
	}
	disk, err := imagefmt.OpenContext(c.Context, in, imagefmt.Options{AllowBacking: c.Bool("allow-backing")})
	if err != nil {
		f.Abort()
		return nil, nil, err
	}
	return f, disk, nil
}

type convertReport struct {
	Input     string          `json:"input"`
	Output    string          `json:"output"`
	Format    imagefmt.Format `json:"format"`
	Mode      string          `json:"mode"`
	Partition int             `json:"partition,omitempty"`
	Offset    int64           `json:"offset"`
	Size      int64           `json:"size"`
	FS        *fsReport       `json:"filesystem,omitempty"`
	Warnings  []string        `json:"warnings,omitempty"`
}
