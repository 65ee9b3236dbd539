//go:build cgo && !purego && !linux

package release

// returnWindows: other C libraries' malloc needs no such hint here.
func returnWindows() {}
