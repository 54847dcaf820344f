package store

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// Money is an amount in cents. Deal values are dollars with two decimals, kept
// exact from the JSON number a client sends to PostgreSQL's numeric(14,2) and back.
type Money int64

// MaxMoney is the largest value numeric(14,2) holds: 999,999,999,999.99.
const MaxMoney Money = 99_999_999_999_999

// decimalNumber is the syntax ParseMoney takes: a JSON-style decimal with a small
// exponent. big.Rat alone would also take "0x10", "1_0", "3/2" and exponents whose
// expansion costs real time.
var decimalNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$`)

// ParseMoney reads a decimal amount of dollars ("20000", "1999.5", "2e4"). It
// refuses negative amounts, more than two decimals and amounts over MaxMoney.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 40 || !decimalNumber.MatchString(s) {
		return 0, errors.New("must be a number")
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, errors.New("must be a number")
	}
	if r.Sign() < 0 {
		return 0, errors.New("must not be negative")
	}
	cents := new(big.Rat).Mul(r, big.NewRat(100, 1))
	if !cents.IsInt() {
		return 0, errors.New("must have at most two decimals")
	}
	if cents.Num().Cmp(big.NewInt(int64(MaxMoney))) > 0 {
		return 0, errors.New("is too large")
	}
	return Money(cents.Num().Int64()), nil
}

// ParseMoneyText reads an amount as people type it: "75000", "$75,000",
// "1 999.50". Empty is zero.
func ParseMoneyText(s string) (Money, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "$")
	s = strings.NewReplacer(",", "", " ", "", "\u00a0", "").Replace(s)
	if s == "" {
		return 0, nil
	}
	return ParseMoney(s)
}

// String formats m as dollars with two decimals, "20000.50".
func (m Money) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return sign + strconv.FormatInt(int64(m/100), 10) + "." + pad2(int64(m%100))
}

// MarshalJSON writes m as a JSON number with two decimals.
func (m Money) MarshalJSON() ([]byte, error) {
	return []byte(m.String()), nil
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

func moneyFromNumeric(n pgtype.Numeric) Money {
	if !n.Valid || n.Int == nil {
		return 0
	}
	v := new(big.Int).Set(n.Int)
	exp := n.Exp + 2 // to cents
	ten := big.NewInt(10)
	for ; exp > 0; exp-- {
		v.Mul(v, ten)
	}
	for ; exp < 0; exp++ {
		v.Quo(v, ten)
	}
	return Money(v.Int64())
}

func numericFromMoney(m Money) pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(int64(m)), Exp: -2, Valid: true}
}

// UnmarshalJSON reads a JSON number (or a string holding one) of dollars.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	v, err := ParseMoney(s)
	if err != nil {
		return fmt.Errorf("money %s: %w", s, err)
	}
	*m = v
	return nil
}
