//go:build linux

package main

import (
	"reflect"
	"testing"

	"github.com/colinux-ng/colinux/driver/config"
)

func TestPublish(t *testing.T) {
	cfg := &config.Config{}
	if err := publish(cfg, []string{"8080:80", "0.0.0.0:5353:53/udp"}); err != nil {
		t.Fatal(err)
	}
	want := []config.NIC{{Index: 0, Mode: config.Slirp, Forwards: []config.Forward{
		{Proto: "tcp", HostPort: 8080, GuestPort: 80},
		{Proto: "udp", HostAddr: "0.0.0.0", HostPort: 5353, GuestPort: 53}}}}
	if !reflect.DeepEqual(cfg.NICs, want) {
		t.Errorf("got %+v", cfg.NICs)
	}
	tapOnly := &config.Config{NICs: []config.NIC{{Index: 0, Mode: config.TAP}}}
	if err := publish(tapOnly, []string{"8080:80"}); err == nil {
		t.Error("--publish with only a TAP interface: no error")
	}
}
