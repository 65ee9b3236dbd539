package driver

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/colinux-ng/colinux/runtime/coinit"
)

// GuestIO carries a running guest's console and coinit's status lines,
// the same for every backend: the console goes to inst.Output and the
// log, inst.Input to the console; status lines become events, and other
// lines on that channel (kernel messages in command mode) go to the log.
type GuestIO struct {
	con, status *os.File
	readers     sync.WaitGroup
	events      []coinit.Event
	up          chan struct{}
}

// PumpGuest starts carrying con (the host's end of the guest console)
// and status (coinit's status channel) for inst, logging to log.
func PumpGuest(inst *Instance, con, status *os.File, log io.Writer) *GuestIO {
	g := &GuestIO{con: con, status: status, up: make(chan struct{})}
	g.readers.Add(2)
	go func() {
		defer g.readers.Done()
		io.Copy(io.MultiWriter(inst.Output, log), con)
	}()
	if inst.Input != nil {
		go io.Copy(con, inst.Input)
	}
	go func() {
		defer g.readers.Done()
		// Outcome reads the first "up" and the first exit or error; the
		// guest writes this channel and may repeat a line without end,
		// so later ones are dropped rather than kept.
		up, ended := false, false
		sc := bufio.NewScanner(status)
		for sc.Scan() {
			if ev, ok := coinit.ParseStatus(sc.Text()); ok {
				switch {
				case ev.Up && !up:
					up = true
					close(g.up)
					g.events = append(g.events, ev)
				case !ev.Up && !ended:
					ended = true
					g.events = append(g.events, ev)
				}
			} else {
				fmt.Fprintln(log, sc.Text())
			}
		}
	}()
	return g
}

// Up is closed once coinit reports the guest up.
func (g *GuestIO) Up() <-chan struct{} { return g.up }

// Drain is called once the monitor has ended: everything that held the
// console ended with its process group, so what is left in the pipes is
// read to the end (for at most 2 s, then the pipes are closed). It
// returns coinit's events.
func (g *GuestIO) Drain() []coinit.Event {
	drained := make(chan struct{})
	go func() { g.readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		g.con.Close()
		g.status.Close()
		<-drained
	}
	return g.events
}
