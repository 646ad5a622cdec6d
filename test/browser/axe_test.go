package browser

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gopherops/gopherops/test/internal/axe"
)

// axeSource is axe-core's script, read (or installed) once per test binary.
var axeSource = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	js, err := axe.Script(ctx)
	return string(js), err
})

// needAxe skips t, saying why, only when axe-core is not installed and npm
// is not there to install it; any other failure to get it fails t.
func needAxe(t *testing.T) {
	t.Helper()
	_, err := axeSource()
	switch {
	case errors.Is(err, axe.ErrNoNPM):
		t.Skipf("the accessibility checks need axe-core: %v", err)
	case err != nil:
		t.Fatalf("axe-core: %v", err)
	}
}

// axeRun runs axe-core on the document as it is now and lists its serious
// and critical findings, each with the elements it found them on. axe
// checks the rules of WCAG 2.2 A and AA and its best practices; colour
// contrast is checked in the colour scheme the tab asks for.
const axeRun = `(async () => {
  const r = await axe.run(document, { resultTypes: ["violations"] });
  return r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v =>
    v.id + " (" + v.impact + "): " + v.help + " at " + v.nodes.slice(0, 4).map(n => n.target.join(" ") +
      (n.failureSummary ? " [" + n.failureSummary.replace(/\s+/g, " ").slice(0, 200) + "]" : "")).join("; "));
})()`

// accessible fails the test with every serious or critical finding axe-core
// makes on the page. The script is injected through DevTools, so the page's
// Content-Security-Policy does not apply to it, and it runs in tabs whose
// own scripts are off too.
func (tb *tab) accessible(step string) {
	tb.t.Helper()
	src, err := axeSource()
	if err != nil {
		tb.t.Fatalf("axe-core: %v", err)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err == nil && !loaded {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[any](src+";0"))
	}
	if err != nil {
		tb.t.Fatalf("%s: %s: inject axe-core: %v", tb.vp.name, step, err)
	}
	if tb.scriptsOff {
		// axe-core's promises and timers need script execution: on for
		// the check only. The page's own scripts, skipped at load, stay
		// unrun: turning execution on does not run them late.
		if err := chromedp.Do(ctx, scripts(true)); err != nil {
			tb.t.Fatalf("%s: %s: %v", tb.vp.name, step, err)
		}
		defer func() {
			if err := chromedp.Do(tb.ctx, scripts(false)); err != nil {
				tb.t.Errorf("%s: %s: scripts off again: %v", tb.vp.name, step, err)
			}
		}()
	}
	found, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: %s: run axe-core: %v", tb.vp.name, step, err)
	}
	if len(found) > 0 {
		tb.t.Errorf("%s: %s: axe-core finds %d serious or critical problem(s):\n  %s", tb.vp.name, step, len(found), strings.Join(found, "\n  "))
	}
}
