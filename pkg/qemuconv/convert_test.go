package qemuconv

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/colinux-ng/colinux/pkg/imagefmt"
)

func TestConvertCancelledLeavesNoOutput(t *testing.T) {
	disk := &memDisk{data: bytes.Repeat([]byte{7}, 8<<20), extents: []imagefmt.Extent{{Offset: 0, Length: 8 << 20}}}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Convert(ctx, disk, filepath.Join(dir, "out.img"), &Plan{Offset: 0, Size: 8 << 20}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("cancelled convert left %d entries in the output directory", len(ents))
	}
}
