package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// parseRedisURL turns REDIS_URL into asynq's connection options, which also
// make the go-redis client of /readyz and the queue metrics:
//
//	redis://[user:password@]host:port[/db][?dial_timeout=5s&...]
//	rediss://[user:password@]host:port[/db]             (TLS)
//	redis-sentinel://[user:password@]host1:26379,host2:26379[/db]?master=NAME[&password=...&username=...]
//
// redis:// and rediss:// are go-redis's URLs (user names for Redis ACLs, every
// go-redis query option). For Sentinel the URL's hosts are the sentinels and
// its user and password theirs, as go-redis's failover URL has it; master (or
// master_name) names the monitored master, and the password and username
// query parameters are the master's own credentials.
func parseRedisURL(s string) (asynq.RedisConnOpt, error) {
	if rest, ok := strings.CutPrefix(s, "redis-sentinel://"); ok {
		return parseSentinelURL(rest)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch u.Scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(s)
		if err != nil {
			return nil, err
		}
		return asynq.RedisClientOpt{
			Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolSize: o.PoolSize, TLSConfig: o.TLSConfig,
		}, nil
	default:
		return nil, fmt.Errorf("scheme must be redis, rediss or redis-sentinel, not %q", u.Scheme)
	}
}

// parseSentinelURL parses what follows redis-sentinel://. The host list is cut
// out first: net/url takes "s1:26379,s2" for a host with a bad port.
func parseSentinelURL(rest string) (asynq.RedisConnOpt, error) {
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	u, err := url.Parse("redis-sentinel://" + userinfo + "sentinels" + tail)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	opt := asynq.RedisFailoverClientOpt{}
	for h := range strings.SplitSeq(hosts, ",") {
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, "26379") // Sentinel's port
		}
		opt.SentinelAddrs = append(opt.SentinelAddrs, h)
	}
	if len(opt.SentinelAddrs) == 0 {
		return nil, errors.New("redis-sentinel:// needs the sentinels' host:port, comma-separated")
	}
	if u.User != nil {
		opt.SentinelUsername = u.User.Username()
		opt.SentinelPassword, _ = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return nil, fmt.Errorf("database must be a number, got %q", p)
		}
		opt.DB = db
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains([]string{"master", "master_name", "password", "username"}, k) {
			return nil, fmt.Errorf("unknown parameter %q (known: master, password, username)", k)
		}
	}
	opt.MasterName = q.Get("master")
	if opt.MasterName == "" {
		opt.MasterName = q.Get("master_name")
	}
	if opt.MasterName == "" {
		return nil, errors.New("redis-sentinel:// needs ?master=<name of the monitored master>")
	}
	opt.Password = q.Get("password")
	opt.Username = q.Get("username")
	return opt, nil
}

// newRedisClient makes the go-redis client for opt: a plain client, or a
// failover client that asks the sentinels for the master.
func newRedisClient(opt asynq.RedisConnOpt) (redis.UniversalClient, error) {
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("REDIS_URL: unsupported redis client")
	}
	return rdb, nil
}
