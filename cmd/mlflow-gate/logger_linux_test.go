package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair: what the gate writes to tty arrives
// on pty, as it would in a terminal window.
func openPTY(t *testing.T) (pty, tty *os.File) {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal on this machine: %v", err)
	}
	t.Cleanup(func() { pty.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, pty.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, pty.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return pty, tty
}

// TestLogFormat: auto writes text to a terminal and JSON lines to a pipe;
// text and json are what they say wherever the log goes.
func TestLogFormat(t *testing.T) {
	for _, tc := range []struct {
		format   string
		terminal bool
		json     bool
	}{
		{logFormatAuto, true, false},
		{logFormatAuto, false, true},
		{logFormatText, false, false},
		{logFormatJSON, true, true},
	} {
		t.Run(fmt.Sprintf("%s terminal=%v", tc.format, tc.terminal), func(t *testing.T) {
			var r, w *os.File
			if tc.terminal {
				r, w = openPTY(t)
			} else {
				var err error
				if r, w, err = os.Pipe(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close(); w.Close() })
			}
			newLogger(w, "info", tc.format).Info("mlflow-gate serving", "listen", "127.0.0.1:8080")
			_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(r).ReadString('\n')
			if err != nil {
				t.Fatalf("reading the log line: %v", err)
			}
			isJSON := strings.HasPrefix(line, `{"time":`) && strings.Contains(line, `"msg":"mlflow-gate serving"`)
			isText := strings.HasPrefix(line, "time=") && strings.Contains(line, `level=INFO msg="mlflow-gate serving" listen=127.0.0.1:8080`)
			if isJSON != tc.json || isText == tc.json {
				t.Errorf("want json=%v, got %q", tc.json, line)
			}
		})
	}
}
