package driver

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/console"
	"github.com/colinux-ng/colinux/runtime/coinit"
)

// initSegv is a kernel's panic when its first process died of SIGSEGV.
const initSegv = "Attempted to kill init! exitcode=0x0000000b"

// umlCPUHint explains initSegv under UML: coinit is ours and static, so
// it dies as it starts only where the kernel cannot run processes at all.
const umlCPUHint = ": its first process died of SIGSEGV as it started, as it does under older UML kernels " +
	"(bookworm's 6.1, trixie's 6.12) on CPUs with AMX, whose register state they cannot restore; " +
	"sid's kernel runs there: corun kernel --refresh fetches it (add --allow-expired for a snapshot mirror)"

// Outcome interprets how a guest ended, for every backend: coinit's
// status events, how the monitor process ended (waitErr), whether the
// driver stopped it, and the end of its console for the error.
func Outcome(cfg *config.Config, events []coinit.Event, waitErr error, stopped bool, tail string) (Result, error) {
	fail := func(sentinel error, msg string) (Result, error) {
		return Result{}, &GuestError{Err: sentinel, Msg: msg, Tail: tail}
	}
	up := false
	for _, ev := range events {
		switch {
		case ev.Up:
			up = true
		case ev.Err != "":
			return fail(ErrGuestInit, ev.Err)
		case ev.Exited:
			return Result{Exited: true, ExitCode: ev.Code}, nil
		}
	}
	if stopped {
		return Result{}, nil
	}
	// UML ends on a panic as on any other fatal signal; its console says
	// which it was.
	if waitErr != nil && strings.Contains(tail, console.PanicMark) {
		if cfg.Initrd == "" && !up {
			msg := "the guest kernel panicked before coinit ran"
			if (cfg.Monitor == "" || cfg.Monitor == DefaultMonitor) && strings.Contains(tail, initSegv) {
				msg += umlCPUHint
			}
			return fail(ErrKernelStart, msg)
		}
		return fail(ErrGuestCrash, "the guest kernel panicked")
	}
	if cfg.Initrd == "" && !up {
		msg := "the kernel exited before coinit ran"
		if waitErr != nil {
			msg = fmt.Sprintf("%s (%v)", msg, waitErr)
		}
		return fail(ErrKernelStart, msg)
	}
	if len(cfg.Command) > 0 {
		msg := "the guest ended before the command reported its exit status"
		if waitErr != nil {
			msg = fmt.Sprintf("%s (%v)", msg, waitErr)
		}
		return fail(ErrGuestCrash, msg)
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		return fail(ErrGuestCrash, waitErr.Error())
	}
	return Result{}, waitErr
}
