// xclient is a tiny static X client for corun's tests and benchmarks,
// built with github.com/jezek/xgb (pure Go, so it runs in any guest):
//
//	xclient fill RRGGBB   show a window filled with the colour until the
//	                      root window gets the property COLINUX_DONE
//	xclient rtt N         time N GetInputFocus round trips
//
// It connects to $DISPLAY with the cookie of $XAUTHORITY.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

func main() {
	if len(os.Args) != 3 {
		fail("usage: xclient fill RRGGBB | xclient rtt N")
	}
	X, err := xgb.NewConn()
	if err != nil {
		fail(err.Error())
	}
	defer X.Close()
	switch os.Args[1] {
	case "fill":
		pixel, err := strconv.ParseUint(os.Args[2], 16, 24)
		if err != nil {
			fail("fill: bad colour " + os.Args[2])
		}
		err = fill(X, uint32(pixel))
	case "rtt":
		n, err2 := strconv.Atoi(os.Args[2])
		if err2 != nil || n <= 0 {
			fail("rtt: bad count " + os.Args[2])
		}
		err = rtt(X, n)
	default:
		fail("unknown mode " + os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "xclient:", msg)
	os.Exit(2)
}

// Where the window goes on the screen: tests look at its middle.
const x, y, w, h = 40, 30, 240, 180

func fill(X *xgb.Conn, pixel uint32) error {
	screen := xproto.Setup(X).DefaultScreen(X)
	wid, err := xproto.NewWindowId(X)
	if err != nil {
		return err
	}
	// Override-redirect: placed as asked, with no window manager.
	err = xproto.CreateWindowChecked(X, screen.RootDepth, wid, screen.Root, x, y, w, h, 0,
		xproto.WindowClassInputOutput, screen.RootVisual,
		xproto.CwBackPixel|xproto.CwOverrideRedirect|xproto.CwEventMask,
		[]uint32{pixel, 1, xproto.EventMaskExposure}).Check()
	if err != nil {
		return err
	}
	gc, err := labelGC(X, wid, pixel)
	if err != nil {
		return err
	}
	done, err := xproto.InternAtom(X, false, uint16(len("COLINUX_DONE")), "COLINUX_DONE").Reply()
	if err != nil {
		return err
	}
	if err := xproto.ChangeWindowAttributesChecked(X, screen.Root, xproto.CwEventMask,
		[]uint32{xproto.EventMaskPropertyChange}).Check(); err != nil {
		return err
	}
	if err := xproto.MapWindowChecked(X, wid).Check(); err != nil {
		return err
	}
	fmt.Println("xclient: window shown")
	for {
		ev, err := X.WaitForEvent()
		if err != nil {
			return err
		}
		if ev == nil {
			return fmt.Errorf("connection closed")
		}
		switch e := ev.(type) {
		case xproto.ExposeEvent:
			if e.Count == 0 {
				xproto.ImageText8(X, byte(len(label)), xproto.Drawable(wid), gc, 10, 24, label)
			}
		case xproto.PropertyNotifyEvent:
			if e.Atom == done.Atom {
				return nil
			}
		}
	}
}

// label is drawn at the window's top, away from the middle tests look at.
const label = "a corun --x11 guest"

// labelGC draws black text on the window's colour, in the core font
// 10x20, or "fixed", which every server has.
func labelGC(X *xgb.Conn, wid xproto.Window, pixel uint32) (xproto.Gcontext, error) {
	font, err := xproto.NewFontId(X)
	if err != nil {
		return 0, err
	}
	if xproto.OpenFontChecked(X, font, uint16(len("10x20")), "10x20").Check() != nil {
		if err := xproto.OpenFontChecked(X, font, uint16(len("fixed")), "fixed").Check(); err != nil {
			return 0, err
		}
	}
	gc, err := xproto.NewGcontextId(X)
	if err != nil {
		return 0, err
	}
	err = xproto.CreateGCChecked(X, gc, xproto.Drawable(wid),
		xproto.GcForeground|xproto.GcBackground|xproto.GcFont, []uint32{0, pixel, uint32(font)}).Check()
	return gc, err
}

func rtt(X *xgb.Conn, n int) error {
	start := time.Now()
	for range n {
		if _, err := xproto.GetInputFocus(X).Reply(); err != nil {
			return err
		}
	}
	d := time.Since(start)
	fmt.Printf("xclient: %d GetInputFocus round trips in %v, %.1f µs each\n", n, d.Round(time.Microsecond), float64(d.Microseconds())/float64(n))
	return nil
}
