//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/instance"
)

// spec is what the background corun is told to run: the whole guest, as
// JSON, so nothing the foreground corun knew is lost on the way.
type spec struct {
	Config      *config.Config `json:"config"`
	LogFile     string         `json:"log,omitempty"`
	StopTimeout time.Duration  `json:"stop_timeout"`
}

// report is one message from the background corun to the one waiting.
type report struct {
	Ready string `json:"ready,omitempty"` // the instance name: the guest runs
	Error string `json:"error,omitempty"`
}

// Files of the background corun: it reads the spec from specFD and
// writes reports to reportFD.
const (
	specFD   = 3
	reportFD = 4
)

// superviseCommand is the background corun that owns a console-mode
// guest: it serves the console to corun attach and outlives the terminal.
var superviseCommand = &cli.Command{
	Name:   "supervise",
	Hidden: true,
	Usage:  "run the guest of the spec on fd 3 in the background (started by corun run)",
	Action: func(c *cli.Context) error {
		reports := json.NewEncoder(os.NewFile(reportFD, "report"))
		fail := func(err error) error {
			reports.Encode(report{Error: err.Error()})
			return &exitError{code: exitFailure}
		}
		var s spec
		if err := json.NewDecoder(os.NewFile(specFD, "spec")).Decode(&s); err != nil {
			return fail(fmt.Errorf("reading the guest spec: %w", err))
		}
		if s.Config == nil {
			return fail(errors.New("the guest spec has no config"))
		}
		reg, err := instance.DefaultRegistry()
		if err != nil {
			return fail(err)
		}
		ready := func(name string) { reports.Encode(report{Ready: name}) }
		_, err = driver.Run(c.Context, s.Config, driver.Options{Registry: reg, Serve: true,
			LogFile: s.LogFile, StopTimeout: s.StopTimeout, Ready: ready})
		if err != nil {
			return fail(err) // read only if the guest never got ready
		}
		return nil
	},
}

// startSupervisor starts a background corun that owns the guest and
// serves its console, hands it the spec and waits until the guest runs.
func startSupervisor(s spec) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return "", err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return "", err
	}
	defer repR.Close()
	cmd := exec.Command(exe, "supervise")
	cmd.ExtraFiles = []*os.File{specR, repW}             // specFD, reportFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the terminal
	err = cmd.Start()
	specR.Close()
	repW.Close()
	if err != nil {
		specW.Close()
		return "", err
	}
	go cmd.Wait() // reaped if it ends while we are attached
	err = json.NewEncoder(specW).Encode(s)
	specW.Close()
	if err != nil {
		return "", fmt.Errorf("handing the guest to the background corun: %w", err)
	}
	dec := json.NewDecoder(repR)
	for {
		var r report
		if err := dec.Decode(&r); err != nil {
			if err == io.EOF {
				return "", errors.New("the background corun ended before the guest started")
			}
			return "", err
		}
		switch {
		case r.Error != "":
			return "", errors.New(r.Error)
		case r.Ready != "":
			return r.Ready, nil
		}
	}
}
