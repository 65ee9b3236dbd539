package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/colinux-ng/colinux/pkg/qemuconv"
)

// fsReport is a detected filesystem as the reports print it.
type fsReport struct {
	Type  string `json:"type"`
	Label string `json:"label,omitempty"`
	UUID  string `json:"uuid,omitempty"`
}

func fsReportOf(fs qemuconv.FS) *fsReport {
	if fs.Type == "" {
		return nil
	}
	return &fsReport{Type: fs.Type, Label: fs.Label, UUID: fs.UUID}
}

func describeFS(fs qemuconv.FS) string { return describeFSReport(fsReportOf(fs)) }

func describeFSReport(r *fsReport) string {
	if r == nil {
		return "-"
	}
	s := r.Type
	if r.Label != "" {
		s += fmt.Sprintf(" label=%q", r.Label)
	}
	if r.UUID != "" {
		s += " uuid=" + r.UUID
	}
	return s
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// humanBytes prints a size in binary units, as qemu-img does.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
