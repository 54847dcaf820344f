package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/crmteam/crm/store"
)

// Conditional requests (RFC 9110, section 13). A lead's entity tag is
// "<version>.<position>": its version (store.Lead.Version) and its position in
// its column, since the lead's JSON shows the position (card_order), which
// other cards' moves change without changing the lead. If-Match compares the
// version only: a write is refused when the lead changed, not when a card
// above it moved, so a client may also send "<version>" built from the
// version field. A response compressed by the Compress middleware gets
// "-gzip" (or "-deflate") appended inside the quotes, as the tag of another
// representation must differ; comparisons ignore the suffix.

// entityTag is one entity-tag of an If-Match or If-None-Match list.
type entityTag struct {
	weak   bool
	opaque string // between the quotes
}

// parseETags parses an If-Match or If-None-Match field value: "*" (any is
// true) or a comma-separated list of entity-tags. ok is false when the value is
// malformed.
func parseETags(values []string) (tags []entityTag, any, ok bool) {
	for _, v := range values {
		for v = strings.TrimSpace(v); v != ""; v = strings.TrimLeft(v, " \t,") {
			if v[0] == '*' {
				any = true
				v = v[1:]
				continue
			}
			var t entityTag
			if strings.HasPrefix(v, "W/") {
				t.weak = true
				v = v[2:]
			}
			if len(v) < 2 || v[0] != '"' {
				return nil, false, false
			}
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				return nil, false, false
			}
			t.opaque = v[1 : 1+end]
			for _, c := range []byte(t.opaque) {
				// etagc = %x21 / %x23-7E / obs-text
				if c < 0x21 || c == 0x7f {
					return nil, false, false
				}
			}
			tags = append(tags, t)
			v = strings.TrimLeft(v[2+end:], " \t")
			if v != "" && v[0] != ',' {
				return nil, false, false
			}
		}
	}
	if any && len(tags) > 0 {
		return nil, false, false // "*" stands alone
	}
	return tags, any, any || len(tags) > 0
}

// compressedAs is the content coding the Compress middleware (routes.go) will
// give a compressible response to r: the first of gzip and deflate that the
// Accept-Encoding field mentions, as chi's middleware picks it, or "".
func compressedAs(r *http.Request) string {
	ae := strings.ToLower(r.Header.Get("Accept-Encoding"))
	for _, enc := range []string{"gzip", "deflate"} {
		if strings.Contains(ae, enc) {
			return enc
		}
	}
	return ""
}

// withCoding is the entity tag opaque as sent in a response coded as coding
// ("" for none), quoted.
func withCoding(opaque, coding string) string {
	if coding != "" {
		opaque += "-" + coding
	}
	return `"` + opaque + `"`
}

// withoutCoding strips the coding suffix withCoding adds.
func withoutCoding(opaque string) string {
	for _, enc := range []string{"-gzip", "-deflate"} {
		if s, ok := strings.CutSuffix(opaque, enc); ok {
			return s
		}
	}
	return opaque
}

// noneMatch evaluates If-None-Match against the current entity tag opaque (its
// uncoded form) with the weak comparison RFC 9110 asks for: true when the
// field is absent or malformed (the request goes on) or no tag matches.
func noneMatch(r *http.Request, opaque string) bool {
	values := r.Header.Values("If-None-Match")
	if len(values) == 0 {
		return true
	}
	tags, any, ok := parseETags(values)
	if !ok {
		return true
	}
	if any {
		return false
	}
	for _, t := range tags {
		if withoutCoding(t.opaque) == opaque {
			return false
		}
	}
	return true
}

// notModified answers 304 with the entity tag the 200 would have carried.
func notModified(w http.ResponseWriter, r *http.Request, opaque string) {
	h := w.Header()
	h.Set("ETag", withCoding(opaque, compressedAs(r)))
	h.Add("Vary", "Accept-Encoding")
	w.WriteHeader(http.StatusNotModified)
}

// leadETag is the uncoded opaque part of a lead's entity tag.
func leadETag(l store.Lead) string {
	return strconv.FormatInt(l.Version, 10) + "." + strconv.Itoa(l.CardOrder)
}

// setLeadETag sets the ETag header of a response carrying the lead.
func setLeadETag(w http.ResponseWriter, r *http.Request, l store.Lead) {
	w.Header().Set("ETag", withCoding(leadETag(l), compressedAs(r)))
}

// ifMatchVersions turns the request's If-Match into the versions a write may
// find (see store.UpdateLeadIf): nil without If-Match or with "*" (any lead
// that exists; a missing one answers 404 anyway), else the versions of the
// strong tags that name one. Weak tags never match (strong comparison), so a
// list of only those is an empty, never-matching list. A malformed If-Match is
// a 400: taking it for absent would make a conditional write unconditional.
func ifMatchVersions(r *http.Request) ([]int64, error) {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return nil, nil
	}
	tags, any, ok := parseETags(values)
	if !ok {
		return nil, badRequest(`If-Match is malformed: send "*" or entity tags such as "12345" (the lead's version, quoted) or the ETag of GET /leads/{id}/`)
	}
	if any {
		return nil, nil
	}
	versions := []int64{}
	for _, t := range tags {
		if t.weak {
			continue
		}
		v, _, _ := strings.Cut(withoutCoding(t.opaque), ".")
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			versions = append(versions, n)
		}
	}
	return versions, nil
}
