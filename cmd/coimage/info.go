package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/pkg/imagefmt"
	"github.com/colinux-ng/colinux/pkg/qemuconv"
)

var infoCommand = &cli.Command{
	Name:      "info",
	Usage:     "show an image's format, sizes, partition table and filesystems",
	ArgsUsage: "IMAGE",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "allow-backing", Usage: "follow a backing file named inside the image"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
	},
	Action: runInfo,
}

type infoReport struct {
	Image      string            `json:"image"`
	Format     imagefmt.Format   `json:"format"`
	Details    imagefmt.Details  `json:"details"`
	Size       int64             `json:"virtual_size"`
	Allocated  int64             `json:"allocated_bytes"`
	Scheme     string            `json:"partition_table"`
	Partitions []partitionReport `json:"partitions"`
	FS         *fsReport         `json:"filesystem,omitempty"` // at offset 0, when there is no table
	Warnings   []string          `json:"warnings,omitempty"`
}

type partitionReport struct {
	Number   int       `json:"number"`
	Start    int64     `json:"start"`
	Size     int64     `json:"size"`
	Type     string    `json:"type"`
	TypeName string    `json:"type_name,omitempty"`
	Name     string    `json:"name,omitempty"`
	FS       *fsReport `json:"filesystem,omitempty"`
}

func runInfo(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: coimage info [--json] IMAGE", 2)
	}
	path := c.Args().First()
	disk, err := imagefmt.OpenContext(c.Context, path, imagefmt.Options{AllowBacking: c.Bool("allow-backing")})
	if err != nil {
		return err
	}
	defer disk.Close()
	alloc, err := imagefmt.AllocatedBytes(disk)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	table, err := qemuconv.ReadTable(disk, disk.Size())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r := infoReport{Image: path, Format: disk.Format(), Details: imagefmt.DetailsOf(disk), Size: disk.Size(), Allocated: alloc,
		Scheme: string(table.Scheme), Partitions: []partitionReport{}, Warnings: table.Warnings}
	for _, p := range table.Partitions {
		r.Partitions = append(r.Partitions, partitionReport{Number: p.Number, Start: p.Start, Size: p.Size,
			Type: p.Type, TypeName: p.TypeName, Name: p.Name, FS: fsReportOf(p.FS)})
	}
	if len(table.Partitions) == 0 {
		r.FS = fsReportOf(qemuconv.DetectFS(disk, 0, disk.Size()))
	}
	if c.Bool("json") {
		return printJSON(r)
	}
	printInfo(r)
	return nil
}

func printInfo(r infoReport) {
	fmt.Printf("image:           %s\n", r.Image)
	fmt.Printf("format:          %s\n", r.Format)
	printDetails(r.Details)
	fmt.Printf("virtual size:    %s (%d bytes)\n", humanBytes(r.Size), r.Size)
	fmt.Printf("allocated:       %s (%d bytes)\n", humanBytes(r.Allocated), r.Allocated)
	fmt.Printf("partition table: %s\n", r.Scheme)
	for _, w := range r.Warnings {
		fmt.Printf("warning:         %s\n", w)
	}
	if r.FS != nil {
		fmt.Printf("filesystem:      %s\n", describeFSReport(r.FS))
	}
	if len(r.Partitions) == 0 {
		return
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTART\tSIZE\tTYPE\tFILESYSTEM")
	for _, p := range r.Partitions {
		typ := p.Type
		if p.TypeName != "" {
			typ = p.TypeName + " (" + p.Type + ")"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", p.Number, p.Start, humanBytes(p.Size), typ, describeFSReport(p.FS))
	}
	tw.Flush()
}

// printDetails prints the format's own facts, those it has.
func printDetails(d imagefmt.Details) {
	line := func(k, v string) {
		if v != "" {
			fmt.Printf("%-17s%s\n", k+":", v)
		}
	}
	line("subformat", d.Subformat)
	if d.BlockSize > 0 {
		line(d.Unit+" size", humanBytes(d.BlockSize))
	}
	if d.SectorSize > 0 {
		line("sector size", fmt.Sprint(d.SectorSize))
	}
	line("compression", d.Compression)
	line("creator", d.Creator)
	for _, f := range d.Files {
		line("extent file", f)
	}
	if d.LogReplayed {
		line("log", "replayed in memory (the file still holds it; Hyper-V or qemu-img check -r all replay it)")
	}
}
