package store

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules: at least MinPasswordLen characters, at most MaxPasswordLen
// (long passphrases are welcome; the cap only bounds the work of hashing), and
// not one of the most common passwords.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// argon2id parameters: OWASP's recommended minimum (19 MiB of memory, two
// passes, one lane), about 25 ms on one core. Hashes keep their parameters, so
// raising these later re-hashes each password at its owner's next sign-in.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// commonPasswordsText is the list of common passwords refused as a password:
// the entries of at least 10 characters (1,557 of them, lower-cased) of the
// 49,233 most common passwords that zxcvbn-ts ships (@zxcvbn-ts/language-common
// 4.1.3, passwords.json, MIT licence). Shorter ones are refused by length anyway.
//
//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords is the list as a set, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 2048)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// IsCommonPassword says whether p is on the list of common passwords, without
// regard to case.
func IsCommonPassword(p string) bool {
	_, ok := commonPasswords()[strings.ToLower(p)]
	return ok
}

// CheckPassword returns what is wrong with p as a new password for the account
// with email, or "".
func CheckPassword(p, email string) string {
	if msg := CheckText(p, MaxPasswordLen); msg != "" {
		return msg
	}
	switch {
	case utf8.RuneCountInString(p) < MinPasswordLen:
		return fmt.Sprintf("must be at least %d characters", MinPasswordLen)
	case IsCommonPassword(p):
		return "is one of the most common passwords; choose another"
	case email != "" && strings.EqualFold(strings.TrimSpace(p), strings.TrimSpace(email)):
		return "must not be the email address"
	}
	return ""
}

// HashPassword returns the argon2id hash of p in the PHC string format, with a
// random salt.
func HashPassword(p string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(p), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return encodeHash(argonParams{memory: argonMemoryKiB, time: argonTime, threads: argonThreads}, salt, key), nil
}

type argonParams struct {
	memory  uint32
	time    uint32
	threads uint8
}

func encodeHash(p argonParams, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

var errBadHash = errors.New("password hash is not an argon2id PHC string")

// decodeHash parses a PHC string. Its parameters are bounded, so a corrupt or
// planted hash cannot make a sign-in allocate gigabytes or spin for minutes.
func decodeHash(h string) (argonParams, []byte, []byte, error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return argonParams{}, nil, nil, errBadHash
	}
	var p argonParams
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return argonParams{}, nil, nil, errBadHash
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return argonParams{}, nil, nil, errBadHash
			}
			p.threads = uint8(n)
		default:
			return argonParams{}, nil, nil, errBadHash
		}
	}
	if p.memory < 8 || p.memory > 256*1024 || p.time < 1 || p.time > 16 || p.threads < 1 || p.threads > 16 {
		return argonParams{}, nil, nil, errBadHash
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return argonParams{}, nil, nil, errBadHash
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return argonParams{}, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// VerifyPassword says whether p matches the hash, comparing in constant time,
// and whether the hash should be replaced because its parameters are not the
// current ones.
func VerifyPassword(p, hash string) (match, rehash bool, err error) {
	params, salt, key, err := decodeHash(hash)
	if err != nil {
		return false, false, err
	}
	if len(p) > 4*MaxPasswordLen {
		// Longer than any password that can be set; still pay for a hash so the
		// answer takes as long as any other.
		p = p[:4*MaxPasswordLen]
	}
	got := argon2.IDKey([]byte(p), salt, params.time, params.memory, params.threads, uint32(len(key)))
	match = subtle.ConstantTimeCompare(got, key) == 1
	rehash = params != argonParams{memory: argonMemoryKiB, time: argonTime, threads: argonThreads} || len(key) != argonKeyLen
	return match, rehash, nil
}

// dummyHash is verified against when a sign-in names no account, so that the
// answer takes as long as for a real one and does not tell which emails exist.
// It is the hash of a random string nobody knows.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$6sD0m8yqbm5K8q0e0mJ3XA$Wz1Y1t0aW2c2p0m7a3Q8q0pY6mKc9cX2vY1fT3m0l2Q"
