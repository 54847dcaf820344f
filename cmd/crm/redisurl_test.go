package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		url     string
		want    asynq.RedisConnOpt
		wantErr string
	}{
		{"redis://127.0.0.1:6379/0", asynq.RedisClientOpt{Network: "tcp", Addr: "127.0.0.1:6379"}, ""},
		{"redis://app:s3cret@redis.internal:6380/2", asynq.RedisClientOpt{Network: "tcp", Addr: "redis.internal:6380", Username: "app", Password: "s3cret", DB: 2}, ""},
		{"redis://:s3cret@redis.internal", asynq.RedisClientOpt{Network: "tcp", Addr: "redis.internal:6379", Password: "s3cret"}, ""},
		{"redis-sentinel://s1:26379,s2:26380,s3/1?master=mymaster&password=pw",
			asynq.RedisFailoverClientOpt{MasterName: "mymaster", SentinelAddrs: []string{"s1:26379", "s2:26380", "s3:26379"}, Password: "pw", DB: 1}, ""},
		{"redis-sentinel://sentuser:sentpw@s1:26379?master_name=m&username=app&password=pw",
			asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"s1:26379"}, SentinelUsername: "sentuser", SentinelPassword: "sentpw", Username: "app", Password: "pw"}, ""},
		{"redis-sentinel://s1:26379", nil, "needs ?master="},
		{"redis-sentinel://s1:26379?master=m&pasword=typo", nil, `unknown parameter "pasword"`},
		{"redis-sentinel://s1:26379/x?master=m", nil, "database must be a number"},
		{"redis://127.0.0.1:6379/x", nil, "invalid database number"},
		{"http://127.0.0.1:6379", nil, "scheme must be redis"},
	}
	for _, tt := range tests {
		got, err := parseRedisURL(tt.url)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseRedisURL(%q): got error %v, want one containing %q", tt.url, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRedisURL(%q): got error %v, want none", tt.url, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseRedisURL(%q) (-want +got):\n%s", tt.url, diff)
		}
	}
}

// Neither the Redis nor the sentinels' passwords reach the start-up log.
func TestRedactURLHidesPasswords(t *testing.T) {
	for _, u := range []string{
		"redis://:s3cret@redis.internal:6379/0",
		"redis-sentinel://:s3cret@s1:26379,s2:26379/0?master=m&password=s3cret",
		"postgres://crm:s3cret@db/crm?sslmode=require",
	} {
		if got := redactURL(u); strings.Contains(got, "s3cret") {
			t.Errorf("redactURL(%q): got %q, want the password hidden", u, got)
		}
	}
}
