package network

import (
	"slices"
	"strings"
	"testing"
)

func TestPickZoneIDs(t *testing.T) {
	cases := []struct {
		name    string
		ids     []string
		n       int
		want    []string
		wantErr string
	}{
		{"first two", []string{"use1-az1", "use1-az2", "use1-az4"}, 2, []string{"use1-az1", "use1-az2"}, ""},
		{"skips use1-az3, which EKS refuses", []string{"use1-az1", "use1-az3", "use1-az2", "use1-az4"}, 3,
			[]string{"use1-az1", "use1-az2", "use1-az4"}, ""},
		{"skips usw1-az2", []string{"usw1-az1", "usw1-az2", "usw1-az3"}, 2, []string{"usw1-az1", "usw1-az3"}, ""},
		{"skips cac1-az3", []string{"cac1-az1", "cac1-az3", "cac1-az2", "cac1-az4"}, 3, []string{"cac1-az1", "cac1-az2", "cac1-az4"}, ""},
		{"too few supported zones", []string{"usw1-az1", "usw1-az2", "usw1-az3"}, 3, nil, "only 2 that EKS supports"},
		{"empty region", nil, 2, nil, "only 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PickZoneIDs(tc.ids, tc.n)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
