package jsonquote

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// encodingJSON is encoding/json's quoting of s.
func encodingJSON(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// slogJSON is slog's JSON handler's quoting of s, cut out of a line that
// holds nothing else: a record without a time has no "time".
func slogJSON(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0)
	r.AddAttrs(slog.String("k", s))
	if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	const head = `{"level":"INFO","msg":"","k":`
	line := buf.String()
	if !strings.HasPrefix(line, head) || !strings.HasSuffix(line, "}\n") {
		t.Fatalf("unexpected slog line %q", line)
	}
	return line[len(head) : len(line)-2]
}

func TestAppend(t *testing.T) {
	tests := []struct {
		in, api, log string
	}{
		{"plain", `"plain"`, `"plain"`},
		{"", `""`, `""`},
		{`"\`, `"\"\\"`, `"\"\\"`},
		{"<a href=x>&", `"\u003ca href=x\u003e\u0026"`, `"<a href=x>&"`},
		{"\n\r\t", `"\n\r\t"`, `"\n\r\t"`},
		{"\b\f", `"\b\f"`, `"\u0008\u000c"`},
		{"\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`, `"\u0000\u001f` + "\x7f" + `"`},
		{"bad \xff utf-8", `"bad \ufffd utf-8"`, `"bad \ufffd utf-8"`},
		{"line\u2028para\u2029", `"line\u2028para\u2029"`, `"line\u2028para\u2029"`},
		{"héllo 🐹", `"héllo 🐹"`, `"héllo 🐹"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(Append(nil, tt.in, EncodingJSON)); got != tt.api || got != encodingJSON(t, tt.in) {
				t.Errorf("EncodingJSON: %s, want %s (encoding/json: %s)", got, tt.api, encodingJSON(t, tt.in))
			}
			if got := string(Append(nil, tt.in, Slog)); got != tt.log || got != slogJSON(t, tt.in) {
				t.Errorf("Slog: %s, want %s (slog: %s)", got, tt.log, slogJSON(t, tt.in))
			}
			if got := string(Append([]byte("x="), tt.in, Slog)); got != "x="+tt.log {
				t.Errorf("appended to %q: %s", "x=", got)
			}
		})
	}
}

// FuzzAppend: for any string, each style is byte for byte its model.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "<>&\b\f\x00\x1f", "\xff\xfe", "\u2028\u2029", "é\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(Append(nil, s, EncodingJSON)), encodingJSON(t, s); got != want {
			t.Fatalf("EncodingJSON(%q) = %s, encoding/json: %s", s, got, want)
		}
		if got, want := string(Append(nil, s, Slog)), slogJSON(t, s); got != want {
			t.Fatalf("Slog(%q) = %s, slog: %s", s, got, want)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	s := "/api/v1/users/12345?page=2&limit=20"
	buf := make([]byte, 0, 128)
	for _, st := range []struct {
		name  string
		style Style
	}{{"EncodingJSON", EncodingJSON}, {"Slog", Slog}} {
		b.Run(st.name, func(b *testing.B) {
			for b.Loop() {
				buf = Append(buf[:0], s, st.style)
			}
		})
	}
}
