//go:build faults

package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmteam/crm/store/storetest"
)

// A worker is killed (SIGKILL) while a webhook receiver holds its request.
// Another worker sends the delivery again once the killed one's lease has run
// out, with the same webhook-id and a valid signature, and the receiver
// accepts it once.
func TestFaultWebhookWorkerKilledMidDelivery(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	redisURL := storetest.NewRedisURL(t)

	var mu sync.Mutex
	var secret []byte
	var held, accepted, badSig []string
	holding := true
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		mu.Lock()
		mac := hmac.New(sha256.New, secret)
		fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
		if r.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			badSig = append(badSig, id)
		}
		hold := holding
		if hold {
			held = append(held, id)
		} else {
			accepted = append(accepted, id)
		}
		mu.Unlock()
		if hold {
			<-r.Context().Done() // hang until the worker is gone
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rx.Close)

	env := crmEnv(dbURL, redisURL)
	env["WORKER"] = "false"
	env["WEBHOOK_ALLOW_PRIVATE"] = "true"
	srv := startCRM(t, "serve", "serve", env)
	w1 := startCRM(t, "worker-1", "worker", env)
	srv.waitReady("/readyz")

	admin := adminClient(t, dbURL)
	hook := admin.expect(http.StatusCreated, "POST", srv.base+"/webhooks/", `{"url": "`+rx.URL+`/in", "events": ["lead.created"]}`).json(t)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hook["secret"].(string), "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = key
	mu.Unlock()
	admin.createLead(srv.base, `{"name": "Wendy Hook", "status": "Interest"}`)

	waitFor(t, 60*time.Second, "worker-1 to send the delivery", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(held) == 0 {
			return fmt.Errorf("nothing received")
		}
		return nil
	})
	w1.signal(syscall.SIGKILL)
	w1.waitExit(30 * time.Second)
	mu.Lock()
	holding = false
	mu.Unlock()

	startCRM(t, "worker-2", "worker", env)
	// The killed worker's lease (35 s) must run out first.
	waitFor(t, 3*time.Minute, "worker-2 to deliver", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(accepted) == 0 {
			return fmt.Errorf("nothing accepted")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(accepted) != 1 || accepted[0] != held[0] {
		t.Errorf("accepted: got %v, want once the held delivery %s", accepted, held[0])
	}
	if len(badSig) > 0 {
		t.Errorf("signatures: got %d bad (%v), want none", len(badSig), badSig)
	}
}
