package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/pkg/release"
)

var keygenCommand = &cli.Command{
	Name:      "keygen",
	Usage:     "make a minisign key pair for signing releases: PREFIX.key (secret) and PREFIX.pub",
	ArgsUsage: "PREFIX",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "password-file", Usage: "encrypt the secret key with the password on the first line of `FILE` (default: unencrypted, for CI)"},
	},
	Action: runKeygen,
}

func runKeygen(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: coimage keygen [--password-file FILE] PREFIX", 2)
	}
	var password string
	if pf := c.String("password-file"); pf != "" {
		var err error
		if password, err = release.ReadPassword(pf); err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
	}
	pub, key, err := release.GenerateKey(c.Args().First(), password)
	if err != nil {
		return err
	}
	k, err := release.LoadPublicKey(pub)
	if err != nil {
		return err
	}
	fmt.Printf("%s: secret key (keep it private)\n%s: public key %s, for users' %s\n", key, pub, k.String(), release.ConfigPath("keys"))
	return nil
}
