package main

import (
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/pkg/release"
)

var imagesCommand = &cli.Command{
	Name:  "images",
	Usage: "list the pulled images in the cache, or --prune it",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "prune", Usage: "remove all but the newest --keep serials of each image, and what interrupted pulls left"},
		&cli.IntFlag{Name: "keep", Value: 1, Usage: "serials of each image --prune keeps"},
		&cli.StringFlag{Name: "cache", Usage: "cache `DIR` (default: " + release.CachePath("") + ")"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
	},
	Action: runImages,
}

func runImages(c *cli.Context) error {
	dir := c.String("cache")
	if dir == "" {
		var err error
		if dir, err = release.CacheDir(); err != nil {
			return err
		}
	}
	if c.Bool("prune") {
		removed, err := release.Prune(dir, c.Int("keep"))
		if c.Bool("json") && err == nil {
			return printJSON(map[string][]string{"removed": removed})
		}
		for _, p := range removed {
			fmt.Println("removed", p)
		}
		return err
	}
	list, err := release.Cached(dir)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if list == nil {
			list = []release.Pulled{}
		}
		return printJSON(list)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSERIAL\tSIZE\tVERIFIED\tPATH")
	for _, r := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Image.Name, strconv.FormatInt(r.Image.Serial, 10), humanBytes(r.Image.Size),
			r.Verified.Local().Format(time.DateTime), r.Path)
	}
	return w.Flush()
}
