package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds one step of a walk (a navigation and its checks).
const stepTimeout = 30 * time.Second

// viewport is a browser window size to walk the UI at, and the colour
// scheme the browser asks for.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
	dark          bool
}

var (
	desktop = viewport{name: "desktop", width: 1280, height: 800}
	phone   = viewport{name: "phone", width: 390, height: 844, mobile: true}
)

// inDark is vp with the browser asking for a dark colour scheme.
func (vp viewport) inDark() viewport {
	vp.dark, vp.name = true, vp.name+"-dark"
	return vp
}

// colorScheme is what the viewport's browser prefers.
func (vp viewport) colorScheme() string {
	if vp.dark {
		return "dark"
	}
	return "light"
}

// findChromium returns the browser to drive: GOPHEROPS_CHROMIUM, else the
// first of Debian's and Google's names on PATH.
func findChromium() (string, error) {
	if p := os.Getenv("GOPHEROPS_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium on PATH (chromium, chromium-browser, google-chrome); " +
		"install Debian's chromium package or set GOPHEROPS_CHROMIUM")
}

// newBrowser starts a headless Chromium with the flags a machine needs as
// root and without network access (no background networking, QUIC or
// updates), on a fresh profile, and returns its context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := findChromium()
	if err != nil {
		t.Skip(err.Error())
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	// Start the browser now (with its first, blank tab): each walk's tabs then
	// open in browser contexts of their own, with separate cookies.
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return browser
}

// cspWatch reports Content-Security-Policy violations to the console, where
// the console watch turns them into failures. DevTools adds it to every
// document before the page's own scripts run (the page's CSP does not apply
// to it).
const cspWatch = `document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline code") + " at " + e.sourceFile + ":" + e.lineNumber);
});`

// tab is one browser tab at a viewport, with its own cookies, whose console
// is watched for errors for as long as the test runs.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	vp   viewport
	shot *shots

	mu       sync.Mutex
	problems []string
	// quietNetwork tolerates the network errors of requests the test blocks
	// on purpose (the dashboard's stale state).
	quietNetwork atomic.Bool
	// scriptsOff: the page's JavaScript is off, as for a user who blocks it.
	scriptsOff bool
}

// newTab opens a tab in a new browser context (a fresh cookie jar).
func newTab(alloc context.Context, t *testing.T, base string, vp viewport, sh *shots) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, base: base, vp: vp, shot: sh}

	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if vp.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(vp.width, vp.height, opts...),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch})
			if err != nil {
				return err
			}
			_, err = cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: vp.colorScheme()}}})
			return err
		}),
	); err != nil {
		t.Fatalf("open a %s tab: %v", vp.name, err)
	}
	messages := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" {
				if m.Source == "network" && tb.quietNetwork.Load() {
					continue
				}
				tb.problem("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line)
			}
		}
	}()
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.problem("the page opened a JavaScript %s dialog: %q", ev.Type, ev.Message)
			// Dismiss it so the page is not stuck behind it.
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, p := range tb.problems {
			t.Errorf("%s: %s", vp.name, p)
		}
	})
	return tb
}

func (tb *tab) problem(format string, args ...any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.problems = append(tb.problems, fmt.Sprintf(format, args...))
}

// do runs one step's actions, failing the test with what the step was.
func (tb *tab) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.vp.name, step, err)
	}
}

// eval evaluates a JavaScript expression and decodes its value into T.
func eval[T any](tb *tab, what, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.vp.name, what, err)
	}
	return v
}

// evalAsync evaluates a JavaScript expression that yields a promise and
// decodes what it resolves to into T.
func evalAsync[T any](tb *tab, what, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.vp.name, what, err)
	}
	return v
}

// text returns the visible text of the first element matching css.
func (tb *tab) text(css string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css), chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("%s: text of %s: %v", tb.vp.name, css, err)
	}
	return strings.TrimSpace(s)
}

// waitFor evaluates a JavaScript predicate every 100 ms until it holds. The
// loop runs here, not in the page (as chromedp.Poll does), so it also works
// in a tab whose scripts are off.
func (tb *tab) waitFor(what, predicate string, timeout time.Duration) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](predicate))
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			tb.t.Fatalf("%s: waiting until %s: %v (last error: %v)", tb.vp.name, what, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// overflowCheck lists what sticks out of the viewport sideways: the page as
// a whole, and every visible element (a scrolling box's content is its own
// business, so elements inside one are skipped).
const overflowCheck = `(() => {
  const w = window.innerWidth, out = [];
  const de = document.documentElement;
  if (de.scrollWidth > w) out.push("the page is " + de.scrollWidth + " px wide");
  const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
    const o = getComputedStyle(p).overflowX; if (o === "auto" || o === "scroll") return true; } return false; };
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (el.checkVisibility && !el.checkVisibility()) continue; // e.g. inside a closed <details>
    const cs = getComputedStyle(el);
    if (cs.visibility === "hidden" || cs.position === "fixed" && el.tagName === "DIALOG" && !el.open) continue;
    // Text wider than its box spills out of it without moving the box.
    if (cs.overflowX === "visible" && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1 && r.right + (el.scrollWidth - el.clientWidth) > w + 0.5 && !scrolls(el)) {
      out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " has content " + (el.scrollWidth - el.clientWidth) + " px wider than its box");
      continue;
    }
    if ((r.right > w + 0.5 || r.left < -0.5) && !scrolls(el)) {
      out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().replace(/\s+/g, ".") : "") +
        " spans " + Math.round(r.left) + ".." + Math.round(r.right) + " of " + w);
    }
  }
  return out.slice(0, 20);
})()`

// dialogCheck says where the open dialog is when it is not wholly inside the viewport.
const dialogCheck = `(() => {
  const d = document.querySelector("dialog[open]");
  if (!d) return "no dialog is open";
  const r = d.getBoundingClientRect();
  if (r.left < 0 || r.top < 0 || r.right > window.innerWidth || r.bottom > window.innerHeight)
    return "dialog at " + [r.left, r.top, r.right, r.bottom].map(Math.round).join(",") + " in " + window.innerWidth + "x" + window.innerHeight;
  return "";
})()`

// check asserts the page fits its viewport and has no serious or critical
// accessibility finding, then saves a screenshot.
func (tb *tab) check(step string) {
	tb.t.Helper()
	tb.accessible(step)
	if bad := eval[[]string](tb, "overflow check", overflowCheck); len(bad) > 0 {
		tb.t.Errorf("%s: %s: elements stick out of the %d px viewport:\n  %s", tb.vp.name, step, tb.vp.width, strings.Join(bad, "\n  "))
	}
	if eval[bool](tb, "dialog open", `!!document.querySelector("dialog[open]")`) {
		if where := eval[string](tb, "dialog check", dialogCheck); where != "" {
			tb.t.Errorf("%s: %s: the dialog is not inside the viewport: %s", tb.vp.name, step, where)
		}
	}
	tb.waitFor("the images have loaded", `Array.from(document.images).every(i => i.complete)`, stepTimeout)
	tb.screenshot(step)
}

func (tb *tab) screenshot(step string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("%s: screenshot %s: %v", tb.vp.name, step, err)
	}
	tb.shot.save(tb.t, tb.vp.name+"-"+step, png)
}

// shots stores the screenshots of a run.
type shots struct {
	dir  string
	mu   sync.Mutex
	seen map[string][]byte
}

// newShots saves to GOPHEROPS_SCREENSHOT_DIR when set, else to the test's
// artifact directory (kept with go test -artifacts).
func newShots(t *testing.T) *shots {
	t.Helper()
	dir := os.Getenv("GOPHEROPS_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return &shots{dir: dir, seen: map[string][]byte{}}
}

func (s *shots) save(t *testing.T, name string, png []byte) {
	t.Helper()
	s.mu.Lock()
	s.seen[name] = png
	s.mu.Unlock()
	if err := os.WriteFile(filepath.Join(s.dir, name+".png"), png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
}

func (s *shots) get(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[name]
}
