package instance

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrLocked is an image another instance has open.
var ErrLocked = errors.New("image is in use by another instance")

// LockImage takes an advisory lock on an image: exclusive for a guest
// that writes it, shared for read-only use (a snapshot or ",ro"), so any
// number of readers may share an image nobody writes. The lock lasts as
// long as the returned file is open in any process; hand it to the guest
// process so the lock lives exactly as long as the guest.
func LockImage(path string, readOnly bool) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if readOnly {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w (stop it, or use --snapshot or ,ro on both)", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
