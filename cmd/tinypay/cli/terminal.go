package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// safe returns s with every control character, every character that
// reorders text (Unicode bidi controls) and every byte that is not UTF-8
// escaped as in a Go string literal (\x1b, \n, \u202e). Much of what the CLI
// prints was chosen by a peer (items, memos, refusal reasons, event
// details, errors): escaped, it cannot move the cursor, clear the screen,
// recolour the terminal or fake a line of output. --json and --csv print
// the exact text.
func safe(s string) string {
	i := strings.IndexFunc(s, unsafeRune)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&15, 16))
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// fprintf prints for a person: its text arguments are escaped (see safe).
func fprintf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, format, safeArgs(args)...)
}

// safeArgs escapes the text arguments of a print (see safe).
func safeArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = safe(v)
		case error:
			out[i] = safe(v.Error())
		default:
			out[i] = a
		}
	}
	return out
}
