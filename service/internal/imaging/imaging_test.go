package imaging

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"sync"
	"testing"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// asProgressive marks a baseline JPEG's frame as progressive (SOF0 → SOF2):
// enough for the header to say so; Go cannot encode progressive JPEGs.
func asProgressive(data []byte) []byte {
	out := bytes.Clone(data)
	if i := bytes.Index(out, []byte{0xFF, 0xC0}); i >= 0 {
		out[i+1] = 0xC2
	}
	return out
}

// withText appends a tEXt metadata chunk after the PNG header chunk.
func withText(t testing.TB, data []byte) []byte {
	t.Helper()
	const ihdrEnd = 8 + 25
	body := []byte("tEXtGPS\x00secret place")
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(body)-4))
	chunk = append(chunk, body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(body))
	return append(append(bytes.Clone(data[:ihdrEnd]), chunk...), data[ihdrEnd:]...)
}

func TestInspectPricesTheDecode(t *testing.T) {
	const mi = 1 << 20
	tests := []struct {
		name string
		data []byte
		bits int
		cost int64
		prog bool
	}{
		{"8-bit RGBA 2048²", encodePNG(t, image.NewNRGBA(image.Rect(0, 0, 2048, 2048))), 8, 32 * mi, false},
		{"16-bit RGBA 2048²", encodePNG(t, image.NewNRGBA64(image.Rect(0, 0, 2048, 2048))), 16, 64 * mi, false},
		{"16-bit gray 1024²", encodePNG(t, image.NewGray16(image.Rect(0, 0, 1024, 1024))), 16, 4 * mi, false},
		{"paletted 1024²", encodePNG(t, image.NewPaletted(image.Rect(0, 0, 1024, 1024), color.Palette{color.Black, color.White})), 8, 2 * mi, false},
		{"baseline JPEG 1024²", encodeJPEG(t, 1024, 1024), 8, 6 * mi, false},
		{"progressive JPEG 1024²", asProgressive(encodeJPEG(t, 1024, 1024)), 8, 18 * mi, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Inspect(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if h.BitsPerChannel != tt.bits || h.Cost != tt.cost || h.Progressive != tt.prog {
				t.Fatalf("bits %d cost %d MiB progressive %v, want %d, %d MiB, %v",
					h.BitsPerChannel, h.Cost/mi, h.Progressive, tt.bits, tt.cost/mi, tt.prog)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	b := NewBudget(40<<20, 80<<20, 2048)
	ctx := context.Background()
	src := image.NewNRGBA64(image.Rect(0, 0, 64, 48))
	src.Set(3, 4, color.NRGBA64{R: 0xffff, A: 0x8000})
	// The side bound is its own rule: a 1-pixel-wide strip costs next to
	// nothing to decode, so only the side check refuses one too long.
	gray := func(w, h int) []byte { return encodePNG(t, image.NewGray(image.Rect(0, 0, w, h))) }
	tests := []struct {
		name    string
		data    []byte
		ct      string
		model   color.Model
		refused error
	}{
		{"16-bit PNG becomes 8-bit", encodePNG(t, src), "image/png", color.NRGBAModel, nil},
		{"metadata is dropped", withText(t, encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8)))), "image/png", color.GrayModel, nil},
		{"JPEG stays JPEG", encodeJPEG(t, 40, 30), "image/jpeg", color.YCbCrModel, nil},
		{"2048 wide is accepted", gray(2048, 1), "image/png", color.GrayModel, nil},
		{"2048 tall is accepted", gray(1, 2048), "image/png", color.GrayModel, nil},
		{"2048² at 16 bits is over the per-image bound", encodePNG(t, image.NewNRGBA64(image.Rect(0, 0, 2048, 2048))), "", nil, &TooLargeError{}},
		{"wider than 2048", gray(2049, 1), "", nil, &TooLargeError{MaxSide: 2048}},
		{"taller than 2048", gray(1, 2049), "", nil, &TooLargeError{MaxSide: 2048}},
		{"1×50,000 is refused by its height", gray(1, 50_000), "", nil, &TooLargeError{MaxSide: 2048}},
		{"JPEG taller than 2048", encodeJPEG(t, 16, 2056), "", nil, &TooLargeError{MaxSide: 2048}},
		{"not an image", []byte("<svg/>"), "", nil, ErrNotImage},
		{"a PNG cut short", encodePNG(t, src)[:60], "", nil, ErrNotImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := b.Normalize(ctx, tt.data)
			if tt.refused != nil {
				var want, got *TooLargeError
				switch {
				case errors.As(tt.refused, &want):
					// Which rule refused matters: MaxSide says it was the
					// side bound, 0 that it was the decoding cost.
					if !errors.As(err, &got) || got.MaxSide != want.MaxSide {
						t.Fatalf("got %v, want a refusal with MaxSide %d", err, want.MaxSide)
					}
				case !errors.Is(err, ErrNotImage):
					t.Fatalf("got %v, want %v", err, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "metadata is dropped" && !bytes.Contains(tt.data, []byte("secret place")) {
				t.Fatal("the fixture lost its metadata")
			}
			if out.ContentType != tt.ct || bytes.Contains(out.Data, []byte("tEXt")) {
				t.Fatalf("content type %s, metadata kept %v", out.ContentType, bytes.Contains(out.Data, []byte("tEXt")))
			}
			img, _, err := image.Decode(bytes.NewReader(out.Data))
			if err != nil {
				t.Fatalf("the stored image does not decode: %v", err)
			}
			if img.ColorModel() != tt.model {
				t.Fatalf("stored colour model %v, want %v", img.ColorModel(), tt.model)
			}
		})
	}
	if b.InFlight() != 0 {
		t.Fatalf("%d bytes still reserved after every decode returned", b.InFlight())
	}
}

// TestBudgetBoundsConcurrentDecodes: however many uploads arrive at once, the
// bytes being decoded never exceed the total.
func TestBudgetBoundsConcurrentDecodes(t *testing.T) {
	data := encodePNG(t, image.NewNRGBA(image.Rect(0, 0, 512, 512)))
	h, err := Inspect(data)
	if err != nil {
		t.Fatal(err)
	}
	total := 2*h.Cost + 1
	b := NewBudget(h.Cost, total, 0)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Normalize(context.Background(), data); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if b.Peak() > total || b.Peak() < h.Cost {
		t.Fatalf("peak %d bytes in flight, want between %d and %d", b.Peak(), h.Cost, total)
	}
	// A request that cannot get its share in time gives up with ctx's error.
	held := NewBudget(h.Cost, h.Cost, 0)
	if err := held.acquire(context.Background(), h.Cost); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := held.Normalize(ctx, data); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting on a full budget with a done context: %v", err)
	}
}

func FuzzInspect(f *testing.F) {
	f.Add(encodePNG(f, image.NewGray(image.Rect(0, 0, 4, 4))))
	f.Add(encodeJPEG(f, 16, 16))
	f.Add(asProgressive(encodeJPEG(f, 16, 16)))
	// A small budget keeps each input's decode quick, so that the fuzzer
	// spends its time on headers, not on decoding megapixels.
	b := NewBudget(1<<20, 2<<20, 512)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Inspect(data)
		if err != nil {
			return
		}
		if h.Cost <= 0 || h.Width < 1 || h.Height < 1 {
			t.Fatalf("accepted header with cost %d for %d×%d", h.Cost, h.Width, h.Height)
		}
		// Whatever the bytes, Normalize stays within its bound or refuses.
		if _, err := b.Normalize(context.Background(), data); err == nil && h.Cost > 1<<20 {
			t.Fatalf("decoded an image costing %d bytes over a 1 MiB bound", h.Cost)
		}
	})
}

// TestTooLargeErrorSays: the refusal tells the client which bound the image
// broke and by how much, its cost rounded up to whole MiB (a byte over a
// MiB is 2), so that they can send one that fits.
func TestTooLargeErrorSays(t *testing.T) {
	const mi = 1 << 20
	tests := []struct {
		name string
		err  TooLargeError
		want string
	}{
		{"the side bound", TooLargeError{Header: Header{Width: 1, Height: 50_000}, Limit: 40 * mi, MaxSide: 2048},
			"is 1×50000 pixels; at most 2048 on each side is accepted"},
		{"the decoding cost", TooLargeError{Header: Header{Width: 2048, Height: 2048, BitsPerChannel: 16, Cost: 64 * mi}, Limit: 40 * mi},
			"is 2048×2048 pixels at 16 bits per channel: decoding it would need 64 MiB, the limit is 40 MiB; send a smaller or 8-bit image"},
		{"a cost a byte over a MiB", TooLargeError{Header: Header{Width: 1, Height: 1, BitsPerChannel: 8, Cost: mi + 1}, Limit: mi - 1},
			"is 1×1 pixels at 8 bits per channel: decoding it would need 2 MiB, the limit is 1 MiB; send a smaller or 8-bit image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestProgressiveIsTheFirstFrame: the first frame header decides how a
// JPEG is coded; a later one, or one after the first scan, does not count,
// and fill bytes between segments are skipped.
func TestProgressiveIsTheFirstFrame(t *testing.T) {
	seg := func(marker byte, payload ...byte) []byte {
		n := len(payload) + 2
		return append([]byte{0xFF, marker, byte(n >> 8), byte(n)}, payload...)
	}
	jpg := func(parts ...[]byte) []byte { return append([]byte{0xFF, 0xD8}, bytes.Join(parts, nil)...) }
	frame := []byte{8, 0, 16, 0, 16, 1, 1, 0x11, 0}
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"progressive (SOF2)", jpg(seg(0xC2, frame...)), true},
		{"progressive arithmetic (SOF10)", jpg(seg(0xCA, frame...)), true},
		{"progressive differential (SOF6)", jpg(seg(0xC6, frame...)), true},
		{"progressive differential arithmetic (SOF14)", jpg(seg(0xCE, frame...)), true},
		{"after a table and fill bytes", jpg(seg(0xDB, make([]byte, 65)...), []byte{0xFF}, seg(0xC2, frame...)), true},
		{"baseline (SOF0) first", jpg(seg(0xC0, frame...), seg(0xC2, frame...)), false},
		{"extended sequential (SOF1)", jpg(seg(0xC1, frame...)), false},
		{"lossless (SOF15)", jpg(seg(0xCF, frame...), seg(0xC2, frame...)), false},
		{"a Huffman table (DHT) is not a frame", jpg(seg(0xC4, 0), seg(0xC2, frame...)), true},
		{"a scan before any frame", jpg(seg(0xDA, 0), seg(0xC2, frame...)), false},
		{"a segment shorter than its length field", jpg([]byte{0xFF, 0xDB, 0, 1}, seg(0xC2, frame...)), false},
		{"not a marker", jpg([]byte{0x00, 0xC2, 0, 2}), false},
		{"cut inside a marker", []byte{0xFF, 0xD8, 0xFF, 0xC2, 0}, false},
		{"a marker in the last four bytes", []byte{0xFF, 0xD8, 0xFF, 0xC2, 0, 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressive(tt.data); got != tt.want {
				t.Fatalf("progressive = %v, want %v", got, tt.want)
			}
		})
	}
}
