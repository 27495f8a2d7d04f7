package password

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MinLength is the shortest password accepted (NIST SP 800-63B asks for at
// least 8; the seed demanded 12).
const MinLength = 12

// MaxLength bounds the work one password can cause.
const MaxLength = 256

// ErrWeak is wrapped by every policy refusal.
var ErrWeak = errors.New("password refused")

//go:embed common.txt
var commonText string

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

func commonSet() map[string]struct{} {
	commonOnce.Do(func() {
		common = make(map[string]struct{}, 20000)
		for _, line := range strings.Split(commonText, "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				common[line] = struct{}{}
			}
		}
	})
	return common
}

// Check applies the policy: length, not the username, not a common password,
// not a common password with digits or symbols appended ("password2024!"),
// not one character repeated.
func Check(pw, username string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinLength {
		return fmt.Errorf("%w: it must be at least %d characters long", ErrWeak, MinLength)
	}
	if n > MaxLength {
		return fmt.Errorf("%w: it must be at most %d characters long", ErrWeak, MaxLength)
	}
	lower := strings.ToLower(pw)
	if username != "" && strings.Contains(lower, strings.ToLower(username)) && len(username) >= 4 {
		return fmt.Errorf("%w: it must not contain the username", ErrWeak)
	}
	if strings.Count(lower, string([]rune(lower)[0])) == n {
		return fmt.Errorf("%w: it repeats one character", ErrWeak)
	}
	if u := strings.ToLower(username); u != "" && repeats(lower, u) {
		return fmt.Errorf("%w: it is the username repeated", ErrWeak)
	}
	for unit := 2; unit <= 4; unit++ {
		if r := []rune(lower); len(r) >= 2*unit && repeats(lower, string(r[:unit])) {
			return fmt.Errorf("%w: it repeats a short pattern", ErrWeak)
		}
	}
	set := commonSet()
	base := strings.TrimRightFunc(lower, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || r == ' ' })
	if _, ok := set[lower]; ok {
		return fmt.Errorf("%w: it is on the list of common passwords", ErrWeak)
	}
	if _, ok := set[base]; ok {
		return fmt.Errorf("%w: it is a common password with characters appended", ErrWeak)
	}
	if isSequence(lower) {
		return fmt.Errorf("%w: it is a keyboard or number sequence", ErrWeak)
	}
	return nil
}

// repeats reports whether s is unit said over and over (a last, partial
// repetition included: "bobbobbo").
func repeats(s, unit string) bool {
	if unit == "" || len(s) < 2*len(unit) {
		return false
	}
	for len(s) >= len(unit) {
		if !strings.HasPrefix(s, unit) {
			return false
		}
		s = s[len(unit):]
	}
	return strings.HasPrefix(unit, s)
}

// isSequence catches runs like "123456789012" or "abcdefghijkl".
func isSequence(s string) bool {
	r := []rune(s)
	up, down := 0, 0
	for i := 1; i < len(r); i++ {
		switch r[i] - r[i-1] {
		case 1, -9: // 9 -> 0 wraps in "1234567890"
			up++
		case -1:
			down++
		}
	}
	return up >= len(r)-2 || down >= len(r)-2
}
