package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/sync/semaphore"
)

// ErrBusy refuses a request body the server cannot take in now: the memory
// for bodies being received is spoken for. Nothing of the body was read.
var ErrBusy = errors.New("the server is receiving too many request bodies at once; retry shortly")

// ErrBodyTimeout ends a request whose body did not arrive in time.
var ErrBodyTimeout = errors.New("the request body did not arrive in time; send it again")

// BodyLimits are the sizes and times of a BodyBudget.
type BodyLimits struct {
	// SmallMax is the largest body admitted from the small pool; larger
	// ones (uploads) take from the large pool, so uploads can never starve
	// sign-ins and JSON writes.
	SmallMax int64
	// Small and Large are the bytes each pool admits at once.
	Small, Large int64
	// Wait is how long a body waits for admission before a 503.
	Wait time.Duration
	// Grace plus the body's size at MinRate bytes a second is the time an
	// admitted body has to arrive.
	Grace   time.Duration
	MinRate int64
}

// DefaultBodyLimits fit the production pod (512 MiB, GOMEMLIMIT 460 MiB) next
// to the image decode budget (80 MiB): at most 8 MiB of JSON and form bodies
// and 32 MiB of uploads are held at once, and a 1 MiB upload has 21 s to
// arrive (64 KiB/s, a slow mobile uplink).
func DefaultBodyLimits() BodyLimits {
	return BodyLimits{SmallMax: 64 << 10, Small: 8 << 20, Large: 32 << 20,
		Wait: 2 * time.Second, Grace: 5 * time.Second, MinRate: 64 << 10}
}

// BodyBudget bounds the memory of request bodies being received at once.
// Handlers read a body whole (a JSON document, a form, an avatar), so a client
// that declares a large body, sends most of it and stalls makes the server
// hold what it sent until a timeout; a few hundred such clients exhaust the
// pod's memory long before any per-request cap helps. Each body is admitted,
// for the bytes it may take, before anything of it is read, and gets a
// deadline to arrive by; one that cannot be admitted within Wait is refused
// with a 503 and Retry-After while its bytes stay in the kernel's socket
// buffers. Build one per process and share it between the surfaces.
type BodyBudget struct {
	limits       BodyLimits
	small, large *bodyPool
}

// bodyPool is one pool of admitted bytes.
type bodyPool struct {
	sem      *semaphore.Weighted
	inFlight atomic.Int64
	peak     atomic.Int64
}

func newBodyPool(n int64) *bodyPool { return &bodyPool{sem: semaphore.NewWeighted(n)} }

// NewBodyBudget returns a budget with the given limits.
func NewBodyBudget(l BodyLimits) *BodyBudget {
	return &BodyBudget{limits: l, small: newBodyPool(l.Small), large: newBodyPool(l.Large)}
}

// Peak returns the most bytes each pool has held at once (for tests and the
// abuse suite's figures).
func (b *BodyBudget) Peak() (small, large int64) { return b.small.peak.Load(), b.large.peak.Load() }

// InFlight returns the bytes each pool holds now.
func (b *BodyBudget) InFlight() (small, large int64) {
	return b.small.inFlight.Load(), b.large.inFlight.Load()
}

// Admit is the middleware that admits the body of a request whose body is
// capped at limit (by LimitBody, which runs before it), and releases it when
// the handler returns. A request without a body passes straight through.
// It must run after authentication, so that the large pool serves signed-in
// uploads first, and before anything reads the body.
func (b *BodyBudget) Admit(limit int64, fail func(*gin.Context, error)) gin.HandlerFunc {
	if limit > b.limits.Large {
		panic(fmt.Sprintf("web: a body limit of %d bytes can never be admitted from a pool of %d", limit, b.limits.Large))
	}
	return func(c *gin.Context) {
		r := c.Request
		if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
			c.Next()
			return
		}
		n := r.ContentLength
		if n < 0 || n > limit { // chunked: it may take up to the cap
			n = limit
		}
		p := b.large
		if n <= b.limits.SmallMax {
			p = b.small
		}
		ctx, cancel := context.WithTimeout(r.Context(), b.limits.Wait)
		err := p.sem.Acquire(ctx, n)
		cancel()
		if err != nil {
			if r.Context().Err() != nil {
				fail(c, r.Context().Err())
			} else {
				fail(c, ErrBusy)
			}
			return
		}
		held := p.inFlight.Add(n)
		for peak := p.peak.Load(); held > peak && !p.peak.CompareAndSwap(peak, held); peak = p.peak.Load() {
		}
		defer func() {
			p.inFlight.Add(-n)
			p.sem.Release(n)
		}()
		// The server's ReadTimeout would let a stalled body hold its
		// admission for half a minute; a body gets the time its size needs
		// at MinRate instead. A writer that cannot set deadlines (a test's
		// recorder) has no connection to stall.
		arrive := b.limits.Grace + time.Duration(float64(n)/float64(b.limits.MinRate)*float64(time.Second))
		_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(arrive))
		c.Next()
	}
}

// ReadBody reads the whole request body, which LimitBody capped at max and
// Admit admitted, into one buffer of its declared size (no growth copies).
func ReadBody(c *gin.Context, max int64) ([]byte, error) {
	r := c.Request
	switch {
	case r.ContentLength > max:
		return nil, &http.MaxBytesError{Limit: max}
	case r.ContentLength > 0:
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, BodyReadError(err)
		}
		return buf, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	switch {
	case err != nil:
		return nil, BodyReadError(err)
	case int64(len(data)) > max:
		return nil, &http.MaxBytesError{Limit: max}
	}
	return data, nil
}

// BodyReadError says why a body could not be read, for a handler that read
// it itself: too large (413), too late (408), or cut short (400); never an
// internal error.
func BodyReadError(err error) error {
	var (
		tooBig *http.MaxBytesError
		netErr net.Error
	)
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("%w: %w", ErrBodyTimeout, err)
	default:
		return BadRequest("the request body could not be read")
	}
}
