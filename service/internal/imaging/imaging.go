// Package imaging accepts uploaded images within a memory budget. What an
// image will cost to decode is decided from its header (dimensions, bit
// depth, colour model, progressive coding) before a pixel is decoded; an
// image over the per-image bound is refused, and a weighted semaphore bounds
// the bytes being decoded at once across all requests, so memory stays flat
// however many uploads arrive. Accepted images are re-encoded from their
// pixels at 8 bits per channel, so metadata is dropped and what is stored
// and served is exactly what was checked.
package imaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"net/http"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Header is what an image's header tells before decoding it.
type Header struct {
	// Format is "png" or "jpeg".
	Format        string
	Width, Height int
	// BitsPerChannel is 8 or 16.
	BitsPerChannel int
	// Progressive JPEGs keep every coefficient in memory while decoding.
	Progressive bool
	// Cost is the bytes Normalize allocates for the pixels: the decoded
	// image, a conversion to 8 bits when needed, and the encoded output.
	Cost  int64
	model color.Model
}

// Image is an accepted, re-encoded image.
type Image struct {
	Header
	Data        []byte
	ContentType string
	// Ext is the file extension for ContentType.
	Ext string
}

// ErrNotImage is returned for data that is not a PNG or JPEG image, or not a
// complete one.
var ErrNotImage = errors.New("imaging: not a complete PNG or JPEG image")

// TooLargeError refuses an image whose decoding would cost more than the
// per-image bound.
type TooLargeError struct {
	Header Header
	Limit  int64
	// MaxSide, when not 0, is the bound on each side that was exceeded.
	MaxSide int
}

func (e *TooLargeError) Error() string {
	if e.MaxSide > 0 {
		return fmt.Sprintf("is %d×%d pixels; at most %d on each side is accepted", e.Header.Width, e.Header.Height, e.MaxSide)
	}
	return fmt.Sprintf("is %d×%d pixels at %d bits per channel: decoding it would need %d MiB, the limit is %d MiB; send a smaller or 8-bit image",
		e.Header.Width, e.Header.Height, e.Header.BitsPerChannel, mib(e.Header.Cost), mib(e.Limit))
}

func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// Inspect reads the header of a PNG or JPEG image and prices its decoding.
func Inspect(data []byte) (Header, error) {
	switch http.DetectContentType(data) {
	case "image/png", "image/jpeg":
	default:
		return Header{}, ErrNotImage
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "png" && format != "jpeg") || cfg.Width < 1 || cfg.Height < 1 {
		return Header{}, ErrNotImage
	}
	h := Header{Format: format, Width: cfg.Width, Height: cfg.Height, BitsPerChannel: 8, model: cfg.ColorModel}
	decoded, converted, encoded := pixelBytes(cfg.ColorModel)
	if decoded == 8 || decoded == 2 && cfg.ColorModel == color.Gray16Model {
		h.BitsPerChannel = 16
	}
	if format == "jpeg" && progressive(data) {
		h.Progressive = true
		// The decoder keeps a 64-coefficient block of int32 per 8×8 pixels
		// per component: 4 bytes a pixel a component.
		decoded += 4 * components(cfg.ColorModel)
	}
	h.Cost = int64(cfg.Width) * int64(cfg.Height) * int64(decoded+converted+encoded)
	return h, nil
}

// pixelBytes is, per pixel, what decoding allocates for a colour model,
// what converting it to 8 bits per channel allocates (0 when it is 8-bit
// already) and a bound on the encoded output.
func pixelBytes(m color.Model) (decoded, converted, encoded int) {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1, 0, 1
	case color.Gray16Model, color.Alpha16Model:
		return 2, 1, 1
	case color.RGBAModel, color.NRGBAModel:
		return 4, 0, 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8, 4, 4
	case color.YCbCrModel:
		return 3, 0, 3 // 4:4:4, the largest subsampling
	case color.CMYKModel:
		return 4, 0, 3
	}
	if _, ok := m.(color.Palette); ok {
		return 1, 0, 1
	}
	return 8, 4, 4 // unknown: price it as the most expensive
}

func components(m color.Model) int {
	switch m {
	case color.GrayModel:
		return 1
	case color.CMYKModel:
		return 4
	}
	return 3
}

// progressive reports whether a JPEG's frame header is SOF2 (progressive),
// walking the marker segments before the first scan.
func progressive(data []byte) bool {
	i := 2 // after SOI
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return false
		}
		marker := data[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE:
			return true
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			return false // another frame type: sequential
		case marker == 0xDA: // start of scan before any frame header
			return false
		}
		n := int(data[i+2])<<8 | int(data[i+3])
		if n < 2 {
			return false
		}
		i += 2 + n
	}
	return false
}

// Budget bounds the memory spent decoding images: each image at most
// PerImage bytes, all images at once at most the total.
type Budget struct {
	perImage int64
	maxSide  int
	sem      *semaphore.Weighted
	// inFlight and peak are the bytes being decoded now and at most so
	// far, for metrics and for proving the bound.
	inFlight, peak atomic.Int64
}

// NewBudget allows perImage bytes per image (and maxSide pixels a side, 0
// for no bound) and total bytes across concurrent decodes.
func NewBudget(perImage, total int64, maxSide int) *Budget {
	return &Budget{perImage: min(perImage, total), maxSide: maxSide, sem: semaphore.NewWeighted(total)}
}

// InFlight returns the bytes reserved for decoding right now.
func (b *Budget) InFlight() int64 { return b.inFlight.Load() }

// Peak returns the most bytes ever reserved at once.
func (b *Budget) Peak() int64 { return b.peak.Load() }

func (b *Budget) acquire(ctx context.Context, n int64) error {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	now := b.inFlight.Add(n)
	for {
		p := b.peak.Load()
		if now <= p || b.peak.CompareAndSwap(p, now) {
			return nil
		}
	}
}

func (b *Budget) release(n int64) {
	b.inFlight.Add(-n)
	b.sem.Release(n)
}

// Normalize checks data, waits (until ctx ends) for its cost to fit in the
// budget, decodes it and re-encodes it at 8 bits per channel in its own
// format. Errors: ErrNotImage, *TooLargeError, or ctx's error while waiting.
func (b *Budget) Normalize(ctx context.Context, data []byte) (Image, error) {
	h, err := Inspect(data)
	if err != nil {
		return Image{}, err
	}
	if b.maxSide > 0 && (h.Width > b.maxSide || h.Height > b.maxSide) {
		return Image{}, &TooLargeError{Header: h, Limit: b.perImage, MaxSide: b.maxSide}
	}
	if h.Cost > b.perImage {
		return Image{}, &TooLargeError{Header: h, Limit: b.perImage}
	}
	if err := b.acquire(ctx, h.Cost); err != nil {
		return Image{}, fmt.Errorf("imaging: waiting for decode memory: %w", err)
	}
	defer b.release(h.Cost)

	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		// The header can be valid while the pixels are missing or corrupt.
		return Image{}, ErrNotImage
	}
	if img.Bounds().Dx() != h.Width || img.Bounds().Dy() != h.Height {
		return Image{}, ErrNotImage
	}
	out := Image{Header: h}
	var buf bytes.Buffer
	buf.Grow(min(len(data)*2, 1<<20))
	switch h.Format {
	case "png":
		out.ContentType, out.Ext = "image/png", "png"
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, eightBit(img))
	default:
		out.ContentType, out.Ext = "image/jpeg", "jpg"
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	}
	if err != nil {
		return Image{}, fmt.Errorf("imaging: encode %s: %w", h.Format, err)
	}
	out.Data = buf.Bytes()
	return out, nil
}

// eightBit returns img with 8 bits per channel, converting only 16-bit images.
func eightBit(img image.Image) image.Image {
	var dst draw.Image
	switch img.(type) {
	case *image.Gray16:
		dst = image.NewGray(img.Bounds())
	case *image.Alpha16:
		dst = image.NewAlpha(img.Bounds())
	case *image.RGBA64, *image.NRGBA64:
		dst = image.NewNRGBA(img.Bounds())
	default:
		return img
	}
	draw.Draw(dst, dst.Bounds(), img, img.Bounds().Min, draw.Src)
	return dst
}
