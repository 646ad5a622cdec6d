package main

import "github.com/gopherops/gopherops/test/internal/mutation"

// equivalents are the mutants no test can kill because the program behaves
// the same with them: each says why. A survivor belongs here only when no
// input, however hostile, tells the two programs apart; otherwise it is a
// missing test, written in the package that owns the rule. An entry that no
// longer matches the code fails the run, so the list cannot go stale.
var equivalents = []mutation.Equivalent{
	{
		File: "service/internal/safetext/safetext.go", Func: "TruncateRunes", Type: "CONDITIONALS_BOUNDARY",
		Code: "if n <= 0 {",
		Why:  "n < 0 differs only at n == 0, where the loop returns s[:0] at the first character (and s, empty, when there is none): \"\" either way",
	},
	{
		File: "service/internal/safetext/safetext.go", Func: "TruncateRunes", Type: "CONDITIONALS_BOUNDARY",
		Code: "if len(s) <= n {",
		Why:  "len(s) < n differs only at len(s) == n, where s has at most n characters and the loop runs out before counting n+1: it returns s either way",
	},
	{
		File: "service/internal/safetext/safetext.go", Func: "TruncateBytes", Type: "CONDITIONALS_BOUNDARY",
		Code: "if n <= 0 {",
		Why:  "n < 0 differs only at n == 0 (len(s) > 0 here), where the loop does not run and s[:0] is returned: \"\" either way",
	},
	{
		File: "service/internal/password/policy.go", Func: "repetitive", Type: "CONDITIONALS_BOUNDARY",
		Code: "unit < len(rs)",
		Why:  "Check calls repetitive only for passwords of at least MinLength (15) characters, so unit (at most 4) is below len(rs) either way",
	},
	{
		File: "service/internal/password/policy.go", Func: "repetitive", Type: "INVERT_LOOPCTRL",
		Code: "break",
		Why:  "the break only stops comparing once same is false; continuing compares the rest without setting it back, so the result is the same, later",
	},
	{
		File: "service/internal/web/bodies.go", Func: "(*BodyBudget).Admit", Type: "CONDITIONALS_BOUNDARY",
		Code: "n < 0",
		Why:  "n <= 0 differs only at n == 0, which the early return leaves only with a Transfer-Encoding; net/http gives a body with one a ContentLength of -1, never 0",
	},
	{
		File: "service/internal/web/bodies.go", Func: "(*BodyBudget).Admit", Type: "CONDITIONALS_BOUNDARY",
		Code: "n > limit",
		Why:  "n >= limit differs only at n == limit, where it sets n to the limit it already is",
	},
	{
		File: "service/internal/web/bodies.go", Func: "(*BodyBudget).Admit", Type: "CONDITIONALS_BOUNDARY",
		Code: "held > peak",
		Why:  "held >= peak differs only at held == peak, where the compare-and-swap writes the peak it already holds and the loop ends",
	},
	{
		File: "service/internal/web/bodies.go", Func: "ReadBody", Type: "CONDITIONALS_BOUNDARY",
		Code: "r.ContentLength > 0",
		Why:  ">= 0 differs only at a ContentLength of 0, which net/http gives only with http.NoBody: reading no bytes into a 0-byte buffer and reading an empty body whole both return no bytes",
	},
	{
		File: "service/internal/web/middleware.go", Func: "LimitBody", Type: "CONDITIONALS_BOUNDARY",
		Code: "len(c.Request.TransferEncoding) > 0",
		Why:  "always true then: a request with Content-Length 0 (the only one it adds) has http.NoBody, and capping an empty body changes nothing",
	},
	{
		File: "service/internal/web/middleware.go", Func: "LimitBody", Type: "CONDITIONALS_NEGATION",
		Code: "len(c.Request.TransferEncoding) > 0",
		Why:  "a body with a Transfer-Encoding has a ContentLength of -1 in net/http, so ContentLength != 0 already holds for it; the clause decides nothing either way",
	},
	{
		File: "service/internal/imaging/imaging.go", Func: "Inspect", Type: "INVERT_LOGICAL",
		Code: "err != nil || (format",
		Why:  "image.DecodeConfig returns a zero Config with every error, so the side checks after it refuse whatever the error clause lets through",
	},
	{
		File: "service/internal/imaging/imaging.go", Func: "Inspect", Type: "INVERT_LOGICAL",
		Code: "decoded == 2 && cfg.ColorModel",
		Why:  "with || it differs only for a 2-byte model other than Gray16 (Alpha16), which neither the PNG nor the JPEG decoder reports",
	},
	{
		File: "service/internal/imaging/imaging.go", Func: "(*Budget).acquire", Type: "CONDITIONALS_BOUNDARY",
		Code: "now <= p",
		Why:  "now < p differs only at now == p, where the compare-and-swap writes the peak it already holds and returns",
	},
	{
		File: "service/internal/imaging/imaging.go", Func: "(*Budget).Normalize", Type: "INVERT_LOGICAL",
		Code: "!= h.Width || img",
		Why:  "Go's PNG and JPEG decoders size the image from the header DecodeConfig read, so the decoded sides never differ from it, one or both (the check guards a future decoder)",
	},
	{
		File: "service/internal/imaging/imaging.go", Func: "(*Budget).Normalize", Type: "ARITHMETIC_BASE",
		Code: "len(data)*2",
		Why:  "a capacity hint for the output buffer: len(data)/2 only makes the buffer grow while encoding, the bytes are the same",
	},
	{
		File: "service/internal/accounts/sessions.go", Func: "(*Service).Authenticate", Type: "INVERT_LOGICAL",
		Code: "!strings.HasPrefix(secret, want) || len",
		Why:  "the check only spares a lookup: a secret of the other kind is refused by the kind check after it, one over 100 bytes matches no stored secret (they are 47)",
	},
	{
		File: "service/internal/accounts/sessions.go", Func: "(*Service).Authenticate", Type: "CONDITIONALS_BOUNDARY",
		Code: "len(secret) > 100",
		Why:  "a secret of exactly 100 bytes is looked up instead of refused at once, and matches no stored secret (they are 47 bytes): unauthenticated either way",
	},
	{
		File: "service/internal/accounts/sessions.go", Func: "(*Service).Authenticate", Type: "INVERT_LOGICAL",
		Code: "ok && sess.Kind == kind",
		Why:  "the prefix check before it makes the kind asked for the kind of the secret, so a cached entry (ok) always has it; without one, sess.Kind is empty and kind never is",
	},
	{
		File: "service/internal/accounts/service.go", Func: "NewService", Type: "CONDITIONALS_BOUNDARY",
		Code: "case o.AuthCacheTTL > 0:",
		Why:  ">= 0 differs only at an AuthCacheTTL of 0, which the case before it (== 0, the two-second default) always takes first",
	},
	{
		File: "service/internal/accounts/external.go", Func: "(*Service).signUp", Type: "CONDITIONALS_BOUNDARY",
		Code: "len(base) > 40",
		Why:  ">= 40 differs only at a base of exactly 40 bytes, which base[:40] leaves as it is",
	},
	{
		File: "service/internal/accounts/service.go", Func: "truncateBytes", Type: "CONDITIONALS_BOUNDARY",
		Code: "n > 0 && !utf8.RuneStart",
		Why:  "n >= 0 differs only once n is 0, and s is valid UTF-8 by then (ToValidUTF8), so s[0] starts a character and the loop stops at 0 either way",
	},
}
