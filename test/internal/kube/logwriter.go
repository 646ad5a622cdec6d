//go:build live || platform

package kube

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/gruntwork-io/terratest/modules/logger"
)

// LogWriter turns a stream (Pulumi's progress output) into test log lines.
type LogWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    bytes.Buffer
}

// NewLogWriter returns a LogWriter that prefixes every line.
func NewLogWriter(t *testing.T, prefix string) *LogWriter { return &LogWriter{t: t, prefix: prefix} }

// Write logs every complete line of p.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // an incomplete line waits for the rest
			return len(p), nil
		}
		if s := strings.TrimRight(line, "\r\n"); strings.TrimSpace(s) != "" {
			logger.Default.Logf(w.t, "%s%s", w.prefix, s)
		}
	}
}

// Flush logs what is left of an unfinished line.
func (w *LogWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := strings.TrimSpace(w.buf.String()); s != "" {
		logger.Default.Logf(w.t, "%s%s", w.prefix, s)
	}
	w.buf.Reset()
}
