package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/internal/progress"
	"github.com/colinux-ng/colinux/pkg/release"
)

var releaseCommand = &cli.Command{
	Name:  "release",
	Usage: "compress and sign cobd images into a release directory (index.json, SHA256SUMS) and/or an OCI registry",
	Description: "Each IMAGE is a cobd image; its NAME.manifest.json from coimage build, when beside it, gives the name,\n" +
		"release, arch and package list. Releasing into a DIR that holds an earlier release adds a serial and keeps\n" +
		"the older ones (see --keep). With no IMAGE, the index in DIR is signed again with a new expiry.",
	ArgsUsage: "IMAGE...",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "key", Required: true, Usage: "minisign secret key `FILE` (coimage keygen)"},
		&cli.StringFlag{Name: "password-file", Usage: "password of an encrypted --key, the first line of `FILE`"},
		&cli.StringFlag{Name: "out", Usage: "release `DIR` to publish on a static web server"},
		&cli.StringFlag{Name: "push", Usage: "also push to a registry: `oci://HOST[:PORT]/REPO[:TAG]` (without TAG, each image is tagged NAME and NAME-SERIAL)"},
		&cli.BoolFlag{Name: "plain-http", Usage: "speak plain HTTP to the --push registry (loopback registries always are)"},
		&cli.IntFlag{Name: "keep", Usage: "keep the newest `N` serials of each image in --out (default: all)"},
		&cli.DurationFlag{Name: "valid-for", Value: release.DefaultValidFor, Usage: "the index expires after `DURATION`; clients then refuse it until it is released again"},
		&cli.Int64Flag{Name: "frame-size", Value: release.DefaultFrameSize, Usage: "raw `BYTES` in each independently compressed zstd frame"},
		&cli.IntFlag{Name: "level", Value: release.DefaultLevel, Usage: "zstd `LEVEL` (1-19): lower is faster and larger"},
		&cli.BoolFlag{Name: "json", Usage: "print the released images as JSON"},
	},
	Action: runRelease,
}

func runRelease(c *cli.Context) error {
	if c.String("out") == "" && c.String("push") == "" {
		return cli.Exit("usage: coimage release --key FILE (--out DIR | --push oci://…) IMAGE...", 2)
	}
	var password string
	if pf := c.String("password-file"); pf != "" {
		var err error
		if password, err = release.ReadPassword(pf); err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
	}
	key, err := release.LoadPrivateKey(c.String("key"), password)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	var total int64
	for _, p := range c.Args().Slice() {
		if size, err := fileSize(p); err == nil {
			total += size
		}
	}
	bar := progress.New(total, "compress")
	start := time.Now()
	res, err := release.Publish(c.Context, c.Args().Slice(), release.Options{
		Key: key, Out: c.String("out"), Push: c.String("push"), PlainHTTP: c.Bool("plain-http"),
		Keep: c.Int("keep"), ValidFor: c.Duration("valid-for"), FrameSize: c.Int64("frame-size"), Level: c.Int("level"),
		Progress: bar.Add,
	})
	bar.Done()
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(res)
	}
	for _, im := range res.Images {
		fmt.Printf("%s: %s → %s (%.1f%%), sha256 %s\n", im.Ref(), humanBytes(im.Size), humanBytes(im.CompressedSize),
			100*float64(im.CompressedSize)/float64(im.Size), im.SHA256[:16])
	}
	for _, r := range res.Pushed {
		fmt.Println("pushed", r)
	}
	if res.Index != nil {
		fmt.Printf("%s: index of %d images, expires %s (%s)\n", c.String("out"), len(res.Index.Images),
			res.Index.Expires.Format(time.RFC3339), time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

func fileSize(p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
