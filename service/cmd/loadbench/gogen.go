package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// goGenerator is the closed-loop load generator used when wrk is not
// installed: conns goroutines, each with its own request in flight.
type goGenerator struct {
	client *http.Client
}

func (g *goGenerator) name() string { return "the Go closed-loop generator in this process (not wrk)" }

func (g *goGenerator) load(ctx context.Context, t target, conns int, d time.Duration) (sample, error) {
	var seq atomic.Int64
	return closedLoop(ctx, g.client, conns, d, t.want, func(ctx context.Context) (*http.Request, error) {
		n := seq.Add(1)
		var body io.Reader
		if t.body != nil {
			body = t.body(n)
		}
		req, err := http.NewRequestWithContext(ctx, t.method, t.base+t.paths[int(n)%len(t.paths)], body)
		if err != nil {
			return nil, err
		}
		for k, v := range t.header {
			req.Header[k] = v
		}
		return req, nil
	})
}

// closedLoop runs conns workers for d, each sending newReq's request as soon
// as the previous answer is read, and counts every transport error or reply
// other than want as an error.
func closedLoop(ctx context.Context, c *http.Client, conns int, d time.Duration, want int, newReq func(context.Context) (*http.Request, error)) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu       sync.Mutex
		lat      []time.Duration
		errs     int64
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			var bad int64
			var first error
			for ctx.Err() == nil {
				req, err := newReq(context.WithoutCancel(ctx))
				if err != nil {
					bad, first = bad+1, err
					break
				}
				t0 := time.Now()
				resp, err := c.Do(req)
				el := time.Since(t0)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != want {
						err = fmt.Errorf("%s %s: %s, want %d", req.Method, req.URL.Path, resp.Status, want)
					}
				}
				if err != nil {
					bad++
					if first == nil {
						first = err
					}
					continue
				}
				local = append(local, el)
			}
			mu.Lock()
			lat, errs = append(lat, local...), errs+bad
			if firstErr == nil {
				firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	s := sample{requests: int64(len(lat)) + errs, errors: errs, firstErr: firstErr}
	if n := len(lat); n > 0 {
		s.rps = float64(n) / elapsed.Seconds()
		s.p50, s.p99 = lat[n/2], lat[n*99/100]
	}
	return s, nil
}
