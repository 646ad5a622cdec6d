package main

import (
	"strings"
	"testing"
	"time"
)

func TestServed(t *testing.T) {
	state := func(cpu, pg time.Duration, mallocs float64, failed map[string]float64) serverState {
		return serverState{cpu: cpu, pgCPU: pg, mallocs: mallocs, failed: failed}
	}
	before := state(time.Second, 2*time.Second, 1000, map[string]float64{"GET /users 500": 3})
	tests := []struct {
		name       string
		s          sample
		mid, after serverState
		want       sample
		wantErr    string
	}{
		{
			name:  "per-request CPU and allocations over the whole window",
			s:     sample{requests: 1000},
			mid:   state(0, 0, 0, map[string]float64{"GET /users 500": 3}),
			after: state(time.Second+80*time.Millisecond, 2*time.Second+40*time.Millisecond, 65000, map[string]float64{"GET /users 500": 3}),
			want:  sample{requests: 1000, server: true, cpuUS: 80, allocs: 64, pg: true, pgUS: 40},
		},
		{
			name: "failures up to endMargin before the end count, abandoned ones after it do not",
			s:    sample{requests: 100},
			mid:  state(0, 0, 0, map[string]float64{"GET /users 500": 5, "GET /api/v1/users/:id 503": 1}),
			after: state(time.Second, 2*time.Second, 1000,
				map[string]float64{"GET /users 500": 40, "GET /api/v1/users/:id 503": 1}),
			want:    sample{requests: 100, server: true, pg: true, errors: 3},
			wantErr: "server replied GET /api/v1/users/:id 503 ×1, GET /users 500 ×2",
		},
		{
			name:  "the client's count is kept when larger",
			s:     sample{requests: 100, errors: 7},
			mid:   state(0, 0, 0, map[string]float64{"GET /users 500": 4}),
			after: state(time.Second, 2*time.Second, 1000, nil),
			want:  sample{requests: 100, server: true, pg: true, errors: 7},
		},
		{
			name:  "no requests, no per-request figures",
			mid:   state(0, 0, 0, nil),
			after: state(2*time.Second, 3*time.Second, 5000, nil),
			want:  sample{},
		},
		{
			name:  "PostgreSQL elsewhere",
			s:     sample{requests: 10},
			mid:   state(0, 0, 0, nil),
			after: state(time.Second+time.Millisecond, 0, 1100, nil),
			want:  sample{requests: 10, server: true, cpuUS: 100, allocs: 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			s.served(before, tt.mid, tt.after)
			gotErr := s.firstErr
			s.firstErr = nil
			if s != tt.want {
				t.Errorf("got %+v, want %+v", s, tt.want)
			}
			if tt.wantErr != "" && (gotErr == nil || !strings.Contains(gotErr.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", gotErr, tt.wantErr)
			}
		})
	}
}
