// Package testlog is the log sink tests share with the goroutines they start: a
// buffer safe for concurrent writes and reads.
package testlog

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer collects what a logger or a child process writes while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns what was written so far, one entry per non-empty line.
func (l *Buffer) Lines() []string {
	var out []string
	for _, s := range strings.Split(l.String(), "\n") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
