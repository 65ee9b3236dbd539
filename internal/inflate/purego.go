//go:build !cgo || purego

package inflate

// Available says whether libdeflate is built in: not without cgo.
const Available = false

// Raw always says no without libdeflate: the caller's Go decoder decides.
func Raw(out, in []byte) bool { return false }

// Zlib always says no without libdeflate: the caller's Go decoder decides.
func Zlib(out, in []byte) (int, bool) { return 0, false }
