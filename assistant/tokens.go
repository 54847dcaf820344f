package assistant

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/crmteam/crm/store"
)

// The tokenizer of the offline assistant: it cuts a message into typed pieces
// before anything tries to understand it, so an email, a phone number or an
// amount is one piece whatever words stand around it ("change it to +1 555
// 0999" holds a phone, never a stage "+1 555 0999").

type tokKind int

// Kinds of token.
const (
	tokWord   tokKind = iota // a word: letters and digits
	tokEmail                 // jane@doe.dev
	tokPhone                 // +1 555 0999, (555) 123-4567
	tokMoney                 // $12,500, 25k, 1.2m, 2 million, 300 dollars
	tokNumber                // a bare number: 3, 2nd, 20000
	tokQuoted                // "text in quotes"
	tokPunct                 // , ; : . ! ? ( ) and the like
	tokPoss                  // the 's of a possessive: Bob's
)

// token is one typed piece of a message.
type token struct {
	kind tokKind
	// text is the piece as typed (without the quotes of tokQuoted); norm is
	// it lowercased and without accents (for tokWord).
	text, norm string
	money      store.Money
	// bad marks an amount that is no deal value (negative, or too large):
	// its text is passed on as typed, for the tool to refuse it clearly.
	bad bool
	// start and end are the token's byte offsets in the (normalized) message,
	// so a value is cut from the text as typed.
	start, end int
}

var (
	emailTok = regexp.MustCompile(`^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+`)
	// A phone: a + and digits, or digit groups with separators; at least 7 digits
	// (checked below).
	phoneTok = regexp.MustCompile(`^(?:\+\s?)?(?:\(\d{1,5}\)\s?)?\d[\d\s().\-]{4,}\d`)
	moneyTok = regexp.MustCompile(`(?i)^-?(?:(?:usd|eur|gbp|[$€£])\s?-?\d[\d,]*(?:\.\d+)?(?:\s?(?:k|m|mm|bn|thousand|million|grand)\b)?|\d[\d,]*(?:\.\d+)?\s?(?:k|m|mm|bn|thousand|million|grand|usd|eur|gbp|dollars|bucks|[$€£])(?:\b|$|\s))`)
	numTok   = regexp.MustCompile(`^-?\d[\d,]*(?:\.\d+)?(?:st|nd|rd|th)?\b`)
)

// amountText is an amount token as a value for the tools: in dollars, or as
// typed when it is no deal value (then the tool says why).
func (t token) amountText() string {
	if t.bad {
		return t.text
	}
	return t.money.String()
}

// tokenize cuts s into tokens.
func tokenize(s string) []token {
	toks, _ := tokenizeText(s)
	return toks
}

// tokenizeText cuts s into tokens and returns them with the normalized text
// their offsets refer to.
func tokenizeText(s string) ([]token, string) {
	s = strings.NewReplacer("’", "'", "‘", "'", "“", `"`, "”", `"`, "«", `"`, "»", `"`, "\u00a0", " ").Replace(s)
	var out []token
	add := func(t token, start, end int) {
		t.start, t.end = start, end
		out = append(out, t)
	}
	for i := 0; i < len(s); {
		c := s[i]
		rest := s[i:]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '"' || c == '\'' && (i == 0 || !isWordByte(s[i-1])):
			if end := strings.IndexByte(s[i+1:], c); end > 0 {
				q := s[i+1 : i+1+end]
				if c == '"' || !strings.Contains(q, "'") {
					add(token{kind: tokQuoted, text: q, norm: fold(q)}, i, i+end+2)
					i += end + 2
					continue
				}
			}
			i++
			continue
		}
		if m := emailTok.FindString(rest); m != "" {
			m = strings.TrimRight(m, ".")
			add(token{kind: tokEmail, text: m, norm: strings.ToLower(m)}, i, i+len(m))
			i += len(m)
			continue
		}
		if m := moneyTok.FindString(rest); m != "" && (i == 0 || !isWordByte(s[i-1])) {
			m = strings.TrimRight(m, " ")
			if v, err := readAmount(m); err == nil {
				add(token{kind: tokMoney, text: m, norm: strings.ToLower(m), money: v, bad: v < 0 || v > store.MaxMoney}, i, i+len(m))
				i += len(m)
				continue
			}
		}
		if m := phoneTok.FindString(rest); m != "" && (i == 0 || !isWordByte(s[i-1])) {
			m = strings.TrimRight(m, " .-(")
			if d := len(onlyDigits(m)); d >= 7 && d <= 15 && (strings.ContainsAny(m, " -().+") || d >= 10) {
				add(token{kind: tokPhone, text: m, norm: m}, i, i+len(m))
				i += len(m)
				continue
			}
		}
		if m := numTok.FindString(rest); m != "" && (i == 0 || !isWordByte(s[i-1])) {
			v, err := readAmount(strings.TrimRight(m, "stndrh"))
			add(token{kind: tokNumber, text: m, norm: strings.ToLower(m), money: v, bad: err != nil || v < 0 || v > store.MaxMoney}, i, i+len(m))
			i += len(m)
			continue
		}
		if c == '\'' && (strings.HasPrefix(rest, "'s") || strings.HasPrefix(rest, "'S")) && (len(rest) == 2 || !isWordByte(rest[2])) {
			add(token{kind: tokPoss, text: rest[:2], norm: "'s"}, i, i+2)
			i += 2
			continue
		}
		r, size := decodeRune(rest)
		if isWordRune(r) {
			j := i
			for j < len(s) {
				r2, n := decodeRune(s[j:])
				if isWordRune(r2) || (r2 == '-' || r2 == '.' || r2 == '\'' && !strings.HasPrefix(s[j:], "'s ") && s[j:] != "'s") && j+n < len(s) && isWordByte(s[j+n]) && j > i {
					j += n
					continue
				}
				break
			}
			w := s[i:j]
			add(token{kind: tokWord, text: w, norm: fold(w)}, i, j)
			i = j
			continue
		}
		if unicode.IsPunct(r) || r == '&' || r == '+' || r == '=' || r == '>' || r == '<' || r == '|' || r == '/' {
			add(token{kind: tokPunct, text: string(r), norm: string(r)}, i, i+size)
		}
		i += size // emoji and other symbols are dropped
	}
	return out, s
}

func decodeRune(s string) (rune, int) {
	for i, r := range s {
		if i == 0 {
			n := len(string(r))
			if r == unicode.ReplacementChar {
				n = 1
			}
			return r, n
		}
	}
	return 0, 1
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b >= 0x80
}

// fold lowercases s and strips its accents: "Café" is "cafe".
func fold(s string) string { return strings.ToLower(foldAccents(s)) }

// foldAccents strips accents from Latin letters: "Zoë Müller" is "Zoe Muller".
func foldAccents(s string) string {
	for _, r := range s {
		if r >= 0xC0 {
			return accentFolder.Replace(s)
		}
	}
	return s
}

var accentFolder = strings.NewReplacer("À", "A", "Á", "A", "Â", "A", "Ã", "A", "Ä", "A", "Å", "A", "Ç", "C", "È", "E", "É", "E", "Ê", "E", "Ë", "E", "Ì", "I", "Í", "I", "Î", "I", "Ï", "I", "Ñ", "N", "Ò", "O", "Ó", "O", "Ô", "O", "Õ", "O", "Ö", "O", "Ù", "U", "Ú", "U", "Û", "U", "Ü", "U", "Ý", "Y", "à", "a", "á", "a", "â", "a", "ã", "a", "ä", "a", "å", "a", "ç", "c", "è", "e", "é", "e", "ê", "e", "ë", "e", "ì", "i", "í", "i", "î", "i", "ï", "i", "ñ", "n", "ò", "o", "ó", "o", "ô", "o", "õ", "o", "ö", "o", "ù", "u", "ú", "u", "û", "u", "ü", "u", "ý", "y", "ÿ", "y", "Ā", "A", "ā", "a", "Ă", "A", "ă", "a", "Ą", "A", "ą", "a", "Ć", "C", "ć", "c", "Ĉ", "C", "ĉ", "c", "Ċ", "C", "ċ", "c", "Č", "C", "č", "c", "Ď", "D", "ď", "d", "Ē", "E", "ē", "e", "Ĕ", "E", "ĕ", "e", "Ė", "E", "ė", "e", "Ę", "E", "ę", "e", "Ě", "E", "ě", "e", "Ĝ", "G", "ĝ", "g", "Ğ", "G", "ğ", "g", "Ġ", "G", "ġ", "g", "Ģ", "G", "ģ", "g", "Ĥ", "H", "ĥ", "h", "Ĩ", "I", "ĩ", "i", "Ī", "I", "ī", "i", "Ĭ", "I", "ĭ", "i", "Į", "I", "į", "i", "İ", "I", "Ĵ", "J", "ĵ", "j", "Ķ", "K", "ķ", "k", "Ĺ", "L", "ĺ", "l", "Ļ", "L", "ļ", "l", "Ľ", "L", "ľ", "l", "Ń", "N", "ń", "n", "Ņ", "N", "ņ", "n", "Ň", "N", "ň", "n", "Ō", "O", "ō", "o", "Ŏ", "O", "ŏ", "o", "Ő", "O", "ő", "o", "Ŕ", "R", "ŕ", "r", "Ŗ", "R", "ŗ", "r", "Ř", "R", "ř", "r", "Ś", "S", "ś", "s", "Ŝ", "S", "ŝ", "s", "Ş", "S", "ş", "s", "Š", "S", "š", "s", "Ţ", "T", "ţ", "t", "Ť", "T", "ť", "t", "Ũ", "U", "ũ", "u", "Ū", "U", "ū", "u", "Ŭ", "U", "ŭ", "u", "Ů", "U", "ů", "u", "Ű", "U", "ű", "u", "Ų", "U", "ų", "u", "Ŵ", "W", "ŵ", "w", "Ŷ", "Y", "ŷ", "y", "Ÿ", "Y", "Ź", "Z", "ź", "z", "Ż", "Z", "ż", "z", "Ž", "Z", "ž", "z", "Ơ", "O", "ơ", "o", "Ư", "U", "ư", "u", "Ǎ", "A", "ǎ", "a", "Ǐ", "I", "ǐ", "i", "Ǒ", "O", "ǒ", "o", "Ǔ", "U", "ǔ", "u", "Ǖ", "U", "ǖ", "u", "Ǘ", "U", "ǘ", "u", "Ǚ", "U", "ǚ", "u", "Ǜ", "U", "ǜ", "u", "Ǟ", "A", "ǟ", "a", "Ǡ", "A", "ǡ", "a", "Ǧ", "G", "ǧ", "g", "Ǩ", "K", "ǩ", "k", "Ǫ", "O", "ǫ", "o", "Ǭ", "O", "ǭ", "o", "ǰ", "j", "Ǵ", "G", "ǵ", "g", "Ǹ", "N", "ǹ", "n", "Ǻ", "A", "ǻ", "a", "Ȁ", "A", "ȁ", "a", "Ȃ", "A", "ȃ", "a", "Ȅ", "E", "ȅ", "e", "Ȇ", "E", "ȇ", "e", "Ȉ", "I", "ȉ", "i", "Ȋ", "I", "ȋ", "i", "Ȍ", "O", "ȍ", "o", "Ȏ", "O", "ȏ", "o", "Ȑ", "R", "ȑ", "r", "Ȓ", "R", "ȓ", "r", "Ȕ", "U", "ȕ", "u", "Ȗ", "U", "ȗ", "u", "Ș", "S", "ș", "s", "Ț", "T", "ț", "t", "Ȟ", "H", "ȟ", "h", "Ȧ", "A", "ȧ", "a", "Ȩ", "E", "ȩ", "e", "Ȫ", "O", "ȫ", "o", "Ȭ", "O", "ȭ", "o", "Ȯ", "O", "ȯ", "o", "Ȱ", "O", "ȱ", "o", "Ȳ", "Y", "ȳ", "y", "ß", "ss", "æ", "ae", "Æ", "AE", "ø", "o", "Ø", "O", "œ", "oe", "Œ", "OE", "ł", "l", "Ł", "L", "đ", "d", "Đ", "D", "ı", "i")
