package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed *.js *.css *.svg
var files embed.FS

// hashLen is the number of hex digits of the content hash put into URLs: 48 bits
// is plenty to tell the versions of one file apart.
const hashLen = 12

// Prefix is the URL path the files are served under.
const Prefix = "/static/"

type asset struct {
	name   string // app.css
	hashed string // app.0123456789ab.css
	body   []byte
	ctype  string
	etag   string
}

type index struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

// assets reads and hashes the embedded files once. The embedded files never
// change while the program runs, so the index is computed on first use and only
// read afterwards.
var assets = sync.OnceValue(func() index {
	idx := index{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("static: read embedded files: " + err.Error()) // cannot happen with go:embed
	}
	for _, e := range entries {
		b, err := files.ReadFile(e.Name())
		if err != nil {
			panic("static: read " + e.Name() + ": " + err.Error())
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])[:hashLen]
		ext := path.Ext(e.Name())
		a := &asset{
			name:   e.Name(),
			hashed: strings.TrimSuffix(e.Name(), ext) + "." + h + ext,
			body:   b,
			ctype:  mime.TypeByExtension(ext),
			etag:   `"` + h + `"`,
		}
		idx.byName[a.name] = a
		idx.byHashed[a.hashed] = a
	}
	return idx
})

// URL returns the content-hashed URL of the embedded file name, such as
// "/static/app.0123456789ab.css". An unknown name gives its plain URL, which
// answers 404, so a typo shows up as a broken link rather than a crash.
func URL(name string) string {
	if a, ok := assets().byName[name]; ok {
		return Prefix + a.hashed
	}
	return Prefix + name
}

// Handler serves the embedded files under Prefix. A hashed URL is immutable and
// cached for a year. A plain name, or a hash that is not the current one (a page
// rendered before a deploy asking for the old file), gets the current content
// with Cache-Control: no-cache, so nothing stale is cached for long.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		idx := assets()
		a, immutable := idx.byHashed[name]
		if !immutable {
			a = idx.byName[unhash(name)]
		}
		if a == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", a.etag)
		if immutable {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
	})
}

// unhash turns "app.0123456789ab.css" into "app.css"; other names are returned as
// they are.
func unhash(name string) string {
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 || len(base)-dot-1 != hashLen {
		return name
	}
	if _, err := hex.DecodeString(base[dot+1:]); err != nil {
		return name
	}
	return base[:dot] + ext
}
