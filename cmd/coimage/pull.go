package main

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/internal/progress"
	"github.com/colinux-ng/colinux/pkg/release"
)

var pullCommand = &cli.Command{
	Name:  "pull",
	Usage: "download, verify and cache a released image",
	Description: "NAME[:SERIAL] is looked up in the signed index (--index, else " + release.ConfigPath("index") + "); the newest\n" +
		"serial when none is given. oci://HOST[:PORT]/REPO[:TAG] pulls from a registry. Signatures must come from a\n" +
		"trusted key: " + release.ConfigPath(filepath.Join("keys", "*.pub")) + " and --pubkey. The image lands in\n" +
		release.CachePath(filepath.Join("images", "NAME", "SERIAL.img")) + " unless --output says otherwise; its path is printed.",
	ArgsUsage: "NAME[:SERIAL] | oci://HOST[:PORT]/REPO[:TAG]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "index", Usage: "index.json `URL` (https://, http:// or file://; a URL ending in / names its directory)"},
		&cli.StringSliceFlag{Name: "pubkey", Usage: "also trust the minisign public key in `FILE`"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the image to `FILE` instead of the cache"},
		&cli.BoolFlag{Name: "force", Usage: "replace an existing --output"},
		&cli.BoolFlag{Name: "plain-http", Usage: "speak plain HTTP to the registry (loopback registries always are)"},
		&cli.StringFlag{Name: "cache", Usage: "cache `DIR` (default: " + release.CachePath("") + ")"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
	},
	Action: runPull,
}

func runPull(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: coimage pull [--index URL] [--pubkey FILE] [--output FILE] NAME[:SERIAL] | oci://…", 2)
	}
	p, err := pullerFrom(c)
	if err != nil {
		return err
	}
	p.PlainHTTP = c.Bool("plain-http")
	p.NewBar = func(total int64, what string) release.Bar { return progress.New(total, what) }
	res, err := p.Pull(c.Context, c.Args().First(), c.String("output"), c.Bool("force"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(res)
	}
	fmt.Println(res.Path)
	return nil
}

// pullerFrom is the configured Puller with the command's --index,
// --pubkey and --cache applied.
func pullerFrom(c *cli.Context) (*release.Puller, error) {
	p, err := release.DefaultPuller()
	if err != nil {
		return nil, err
	}
	if u := c.String("index"); u != "" {
		p.Index = u
	}
	for _, f := range c.StringSlice("pubkey") {
		k, err := release.LoadPublicKey(f)
		if err != nil {
			return nil, fmt.Errorf("--pubkey: %w", err)
		}
		p.Keys = append(p.Keys, k)
	}
	if d := c.String("cache"); d != "" {
		p.CacheDir = d
	}
	return p, nil
}
