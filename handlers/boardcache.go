package handlers

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/crmteam/crm/store"
)

// Reads of an unchanged board cost almost nothing. Every board read (GET
// /leads/ in all its variants, the board's page and fragments) first reads the
// board version (store.BoardVersion, migration 00007), which changes with every
// committed change of a lead or a stage through any server:
//   - its ETag is derived from that version, so If-None-Match answers 304
//     without reading the board;
//   - GET /leads/ keeps the encoded JSON (and its gzip form, made once) of each
//     variant per version, so clients reading an unchanged board share one read
//     and one encoding instead of each making their own.
// The version is read from PostgreSQL on each request, so a change made
// through another server is seen at once, but concurrent requests share one
// read (versionReader): each waits for a read that started after it arrived,
// which keeps the answer as fresh as a read of its own.

// versionReader reads the board version for many requests at once.
type versionReader struct {
	read func(ctx context.Context) (int64, error)

	mu      sync.Mutex
	next    *versionRead // the read that requests arriving now will get
	running bool
}

type versionRead struct {
	done chan struct{}
	v    int64
	err  error
}

// versionReadTimeout bounds one shared read of the board version.
const versionReadTimeout = 5 * time.Second

// get returns the board version as read by a statement that started after get
// was called.
func (vr *versionReader) get(ctx context.Context) (int64, error) {
	vr.mu.Lock()
	if vr.next == nil {
		vr.next = &versionRead{done: make(chan struct{})}
	}
	r := vr.next
	if !vr.running {
		vr.running = true
		go vr.loop()
	}
	vr.mu.Unlock()
	select {
	case <-r.done:
		return r.v, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// loop runs reads while requests wait for one: each read serves the requests
// that arrived before it started.
func (vr *versionReader) loop() {
	for {
		vr.mu.Lock()
		r := vr.next
		vr.next = nil
		if r == nil {
			vr.running = false
			vr.mu.Unlock()
			return
		}
		vr.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), versionReadTimeout)
		r.v, r.err = vr.read(ctx)
		cancel()
		close(r.done)
	}
}

// boardCache holds the encoded answers of GET /leads/ of one board version, by
// variant (the query string).
type boardCache struct {
	mu      sync.Mutex
	version int64
	entries map[string]*boardEntry
}

// maxBoardVariants bounds the variants kept per version (searches, pages);
// past it answers are built without being kept.
const maxBoardVariants = 64

// boardEntry is one variant's answer, built once by whoever asked first while
// the others wait for it.
type boardEntry struct {
	ready   chan struct{}
	version int64
	body    []byte
	links   []string
	err     error

	gzipOnce sync.Once
	gz       []byte
	nlOnce   sync.Once
	nl       []byte
}

// withNewline returns the body ending in a newline, as writeJSON sends bodies,
// made once per entry.
func (e *boardEntry) withNewline() []byte {
	e.nlOnce.Do(func() {
		e.nl = make([]byte, 0, len(e.body)+1)
		e.nl = append(append(e.nl, e.body...), '\n')
	})
	return e.nl
}

// get returns the answer of variant key at version v or later, building it
// with build (which returns the body and the version it was read at) when it
// is not kept. Concurrent callers of one variant share one build. Every entry
// kept is of the cache's version or later: the cache starts afresh when a
// newer version is asked for, and a build reads a snapshot taken after its
// version was read, so its answer is never older than what was asked.
func (c *boardCache) get(ctx context.Context, key string, v int64, build func() ([]byte, []string, int64, error)) (*boardEntry, error) {
	c.mu.Lock()
	if v > c.version || c.entries == nil {
		c.version, c.entries = v, map[string]*boardEntry{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &boardEntry{ready: make(chan struct{})}
		if len(c.entries) < maxBoardVariants {
			c.entries[key] = e
		}
		c.mu.Unlock()
		e.body, e.links, e.version, e.err = build()
		close(e.ready)
		c.mu.Lock()
		if e.err != nil && c.entries[key] == e {
			delete(c.entries, key) // the next request tries again
		}
		if e.err == nil && e.version > c.version {
			// Read at a later version than asked: keep it under that one.
			c.version, c.entries = e.version, map[string]*boardEntry{key: e}
		}
		c.mu.Unlock()
		return e, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// gzipped returns the body compressed, compressing it once per entry.
func (e *boardEntry) gzipped() []byte {
	e.gzipOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		_, _ = zw.Write(e.body)
		_, _ = zw.Write([]byte("\n"))
		_ = zw.Close()
		e.gz = buf.Bytes()
	})
	return e.gz
}

// boardETag is the uncoded opaque part of the ETag of a JSON board read at
// version v. One URL is one variant, so the version alone tells its answers
// apart (the coding suffix tells gzip from identity).
func boardETag(v int64) string { return "b" + strconv.FormatInt(v, 10) }

// pageETag is the ETag of an HTML page or fragment of the board read at or after
// version v: it also depends on who is signed in (the account menu), on the
// request (the URL and whether htmx asks for a fragment), on the minute (cards
// say "5 min ago") and on the build (asset URLs), so that a 304 is only ever
// sent for the very same HTML.
func (s *Server) pageETag(r *http.Request, v int64) string {
	h := sha256.New()
	u, _ := currentUser(r)
	for _, part := range []string{
		strconv.FormatInt(v, 10), u.ID.String(), u.Name, u.Email, u.Role,
		r.Method, r.URL.RequestURI(), r.Header.Get("HX-Request"), r.Header.Get("HX-Trigger"),
		r.Header.Get("HX-History-Restore-Request"), time.Now().UTC().Format("200601021504"), s.Version,
	} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "h" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

// pageNotModified reads the board version and answers 304 when the request's
// If-None-Match names the page as it would be rendered now; otherwise it sets
// the ETag the rendered page will carry and returns false. A failed version
// read is left to the render (which reads the board and fails the same way).
func (s *Server) pageNotModified(w http.ResponseWriter, r *http.Request) bool {
	v, err := s.boardVer.get(r.Context())
	if err != nil {
		return false
	}
	tag := s.pageETag(r, v)
	h := w.Header()
	// The page differs by who asks (the cookie or the token), as the tag does.
	h.Add("Vary", "Authorization")
	if !noneMatch(r, tag) {
		h["Vary"] = append([]string{"HX-Request"}, h.Values("Vary")...) // as render sends it
		notModified(w, r, tag)
		return true
	}
	h.Set("ETag", withCoding(tag, compressedAs(r)))
	return false
}

// listBoardCached answers GET /leads/ from the cache of the board version v.
func (s *Server) listBoardCached(ctx context.Context, key string, v int64, bq store.BoardQuery) (*boardEntry, error) {
	// The build is shared by every request waiting for it: it runs to its end
	// even if the request that started it goes away.
	bctx := context.WithoutCancel(ctx)
	return s.boardCache.get(ctx, key, v, func() ([]byte, []string, int64, error) {
		ctx := bctx
		if bq.Limit == 0 {
			// An unpaged read holds the whole board in memory, about 1 KB a
			// lead while it is read and encoded: at 10,000 leads, 8 at once took
			// the server past 100 MB. They are admitted one per core, which
			// keeps the cores as busy as 8 at once did and the memory to a few
			// boards.
			select {
			case s.boardReads <- struct{}{}:
				defer func() { <-s.boardReads }()
			case <-ctx.Done():
				return nil, nil, 0, ctx.Err()
			}
		}
		board, version, err := s.Store.ListBoardVersion(ctx, bq)
		if err != nil {
			return nil, nil, 0, err
		}
		body, err := encodeBoard(board)
		if err != nil {
			return nil, nil, 0, err
		}
		return body, boardLinks(board, bq), version, nil
	})
}
