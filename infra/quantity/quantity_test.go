package quantity

import "testing"

func TestCPUMillis(t *testing.T) {
	cases := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"250m", 250, false},
		{"1", 1000, false},
		{"1.5", 1500, false},
		{"0.1", 100, false},
		{"", 0, true},
		{"-1", 0, true},
		{"abc", 0, true},
		{"10x", 0, true},
	}
	for _, tc := range cases {
		got, err := CPUMillis(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("CPUMillis(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestMemoryBytes(t *testing.T) {
	cases := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"256Mi", 256 << 20, false},
		{"1Gi", 1 << 30, false},
		{"500M", 500e6, false},
		{"1048576", 1 << 20, false},
		{"", 0, true},
		{"lots", 0, true},
		{"-5Mi", 0, true},
	}
	for _, tc := range cases {
		got, err := MemoryBytes(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("MemoryBytes(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestGoMemLimitIsNinetyPercent(t *testing.T) {
	cases := map[string]string{"256Mi": "230MiB", "512Mi": "460MiB", "1Gi": "921MiB", "2Gi": "1843MiB"}
	for in, want := range cases {
		got, err := GoMemLimit(in)
		if err != nil || got != want {
			t.Errorf("GoMemLimit(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := GoMemLimit("1Ki"); err == nil {
		t.Error("GoMemLimit accepted a limit too small for the runtime")
	}
}
