// Package browser walks the GopherOps web UI in a real, headless Chromium
// driven over the DevTools protocol (chromedp), against the real binary on a
// real PostgreSQL: sign-in, the forced password change, creating, editing,
// giving an avatar to, resetting and deleting a user, the dashboard's
// refresh and its stale state, and sign-out, at a desktop (1280x800) and a
// phone (390x844) viewport. It fails on any console error, uncaught
// exception, Content-Security-Policy violation or JavaScript dialog, and
// when any element sticks out of the phone's viewport. Screenshots of each
// step go to the test's artifact directory (go test -artifacts) or to
// GOPHEROPS_SCREENSHOT_DIR; GOPHEROPS_DOCS_IMAGES=1 also refreshes the two
// screenshots the documentation shows. Without a Chromium the tests skip
// and say why.
package browser
