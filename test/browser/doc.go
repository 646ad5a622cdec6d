// Package browser walks the GopherOps web UI in a real, headless Chromium
// driven over the DevTools protocol (chromedp), against the real binary on a
// real PostgreSQL, at a desktop (1280x800) and a phone (390x844) viewport:
// TestWalk and TestWithoutJavaScript go through what an operator does (sign
// in, the users list with its pages, filters, selection and row menus,
// creating, editing, giving an avatar to, resetting and deleting a user,
// the audit trail and its export, the dashboard's charts, refresh and stale
// state, sign-out), with and without JavaScript; TestTour visits every page
// in the light and the dark colour scheme, with and without JavaScript.
//
// Every check runs axe-core (the npm package, installed once into the tool
// cache, see package axe) in the page and fails on any serious or critical
// finding, contrast included; it also fails on any console error, uncaught
// exception, Content-Security-Policy violation or JavaScript dialog, and
// when any element sticks out of the viewport. Screenshots of each step go
// to the test's artifact directory (go test -artifacts) or to
// GOPHEROPS_SCREENSHOT_DIR; GOPHEROPS_DOCS_IMAGES=1 also refreshes the
// screenshots the README shows. Without a Chromium, or without axe-core and
// npm to install it, the tests skip and say why.
package browser
