package store

import (
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestDummyHashDecodes(t *testing.T) {
	t.Parallel()
	if _, _, _, err := decodeHash(dummyHash); err != nil {
		t.Fatalf("decode dummyHash: got %v, want nil (a sign-in for an unknown email must cost a full hash)", err)
	}
	if match, _, err := VerifyPassword("", dummyHash); match || err != nil {
		t.Errorf("VerifyPassword against dummyHash got %v, %v; want no match and no error", match, err)
	}
}

func TestOlderParametersAskForRehash(t *testing.T) {
	t.Parallel()
	salt := []byte("somesaltsomesalt")
	p := argonParams{memory: 4096, time: 1, threads: 1}
	h := encodeHash(p, salt, argon2.IDKey([]byte("old passphrase"), salt, p.time, p.memory, p.threads, 32))
	match, rehash, err := VerifyPassword("old passphrase", h)
	if !match || !rehash || err != nil {
		t.Errorf("VerifyPassword with older parameters got match %v rehash %v err %v, want true true nil", match, rehash, err)
	}
}

// FuzzVerifyPassword feeds arbitrary stored hashes and passwords: decoding never
// panics, and what it accepts stays within the parameter bounds.
func FuzzVerifyPassword(f *testing.F) {
	f.Add("x", dummyHash)
	f.Add("", "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$c29tZXNhbHRzb21lc2FsdA")
	f.Add("pw", "$argon2id$v=19$m=8,t=1,p=1,p=2$c29tZXNhbHQ$c29tZXNhbHRzb21lc2FsdA")
	f.Add("pw", "$argon2id$v=19$m=-1,t=1,p=1$$")
	f.Add("pw", "$$$$$")
	f.Fuzz(func(t *testing.T, password, hash string) {
		p, salt, key, err := decodeHash(hash)
		if err != nil {
			return
		}
		if p.memory > 256*1024 || p.time > 16 || p.threads > 16 || len(salt) > 64 || len(key) > 64 {
			t.Fatalf("decodeHash(%q) accepted params %+v, salt %d, key %d bytes beyond the bounds", hash, p, len(salt), len(key))
		}
		if p.memory <= 1024 && p.time <= 2 { // keep each run fast
			if _, _, err := VerifyPassword(password, hash); err != nil {
				t.Fatalf("VerifyPassword after a successful decode: %v", err)
			}
		}
	})
}
