//go:build faults

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/store/storetest"
)

// startSentinel starts a Redis Sentinel that watches the master on
// masterPort under the name master, with quorum 1 and a short down-after, so a
// failover takes seconds.
func startSentinel(t *testing.T, master string, masterPort int) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server", err)
	}
	// Sentinel rewrites its configuration file, so it gets one of its own.
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 1\n"+
		"sentinel down-after-milliseconds %[1]s 1000\n"+
		"sentinel failover-timeout %[1]s 5000\n", master, masterPort)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &redisServer{t: t, port: freePort(t)}
	r.args = []string{bin, conf, "--sentinel", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--daemonize", "no"}
	r.start()
	t.Cleanup(func() { r.stop() })
	return r
}

// sentinelMaster asks the sentinel on port for the address of master.
func sentinelMaster(port int, master string) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addr, err := sc.GetMasterAddrByName(ctx, master).Result()
	if err != nil {
		return "", err
	}
	return strings.Join(addr, ":"), nil
}

// REDIS_URL names a Sentinel-watched master: the server, its worker, /readyz and
// the queue dashboard reach Redis through the sentinel, and when the master dies
// and the sentinel promotes the replica, chat works again without a restart.
func TestFaultRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	const master = "crmmaster"
	primary := startRedis(t)
	replica := startRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.port))
	waitFor(t, 30*time.Second, "the replica in sync", func() error {
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(replica.port)})
		defer rdb.Close()
		info, err := rdb.Info(context.Background(), "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replication: %s", info)
		}
		return nil
	})
	sentinel := startSentinel(t, master, primary.port)

	dbURL := storetest.NewDB(t)
	env := crmEnv(dbURL, fmt.Sprintf("redis-sentinel://127.0.0.1:%d/0?master=%s", sentinel.port, master))
	srv := startCRM(t, "serve", "serve", env) // with its worker
	srv.waitReady("/readyz")
	api := apiClient(t, dbURL, "sentinel")
	task := api.sendChat(srv.base, "add Senta Before from Sentinel Corp")
	if state, msg, _ := api.waitChat(srv.base, task, 60*time.Second); state != "SUCCESS" {
		t.Fatalf("chat through the sentinel: got %s (%s), want SUCCESS", state, msg)
	}
	if r := adminClient(t, dbURL).expect(200, "GET", srv.base+"/admin/queues/api/queues", ""); !strings.Contains(string(r.body), `"queue":"default"`) {
		t.Errorf("queue dashboard API through the sentinel: got %s, want the default queue", r.body)
	}

	primary.stop()
	want := "127.0.0.1:" + strconv.Itoa(replica.port)
	waitFor(t, 60*time.Second, "the sentinel promoting the replica", func() error {
		got, err := sentinelMaster(sentinel.port, master)
		if err == nil && got != want {
			err = fmt.Errorf("master is %s, want %s", got, want)
		}
		return err
	})
	var after string
	waitFor(t, 60*time.Second, "a chat message accepted after the failover", func() error {
		r, err := api.try("POST", srv.base+"/chat/", `{"message":"add Senta After from Sentinel Corp"}`)
		if err != nil {
			return err
		}
		if r.status != 202 {
			return fmt.Errorf("POST /chat/: %d %s", r.status, r.body)
		}
		after = r.json(t)["task_id"].(string)
		return nil
	})
	if state, msg, _ := api.waitChat(srv.base, after, 60*time.Second); state != "SUCCESS" {
		t.Fatalf("chat after the failover: got %s (%s), want SUCCESS", state, msg)
	}
	srv.waitReady("/readyz")
	_, names := checkColumns(t, api.board(srv.base))
	for _, name := range []string{"Senta Before", "Senta After"} {
		if got := countName(names, name); got != 1 {
			t.Errorf("leads named %s: got %d, want 1", name, got)
		}
	}
}
