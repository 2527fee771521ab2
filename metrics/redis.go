package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// RedisHook measures every Redis call a client makes: add it with
// AddHook. A command is labelled by its name (get, evalsha, zrange), which
// the code chooses, never by its keys or arguments; a pipeline or a
// MULTI/EXEC is one call labelled "pipeline".
type RedisHook struct {
	duration *prometheus.HistogramVec
}

// NewRedisHook registers kabinet_redis_command_duration_seconds in reg.
func NewRedisHook(reg prometheus.Registerer) *RedisHook {
	h := &RedisHook{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace,
		Name:      "redis_command_duration_seconds",
		Help:      "Redis calls by command (a pipeline is one call, \"pipeline\") and result (ok, error, timeout), retries included; a missing key (redis.Nil) is ok.",
		Buckets:   CallBuckets,
	}, []string{"command", "result"})}
	reg.MustRegister(h.duration)
	return h
}

// DialHook implements redis.Hook; dials are not measured apart, a dial's
// time is part of the call that needed it.
func (h *RedisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (h *RedisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if handshake[cmd.Name()] {
			return next(ctx, cmd)
		}
		start := time.Now()
		err := next(ctx, cmd)
		h.duration.WithLabelValues(cmd.Name(), RedisResult(err)).Observe(time.Since(start).Seconds())
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h *RedisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if isHandshake(cmds) {
			return next(ctx, cmds)
		}
		start := time.Now()
		err := next(ctx, cmds)
		h.duration.WithLabelValues("pipeline", RedisResult(err)).Observe(time.Since(start).Seconds())
		return err
	}
}

// handshake are the commands go-redis sends on a new connection by itself
// (HELLO, AUTH, CLIENT SETINFO, SELECT, READONLY), not calls of Kabinet's:
// they are not measured apart, their time is part of the call that needed
// the connection. A Redis before 7.2 refuses CLIENT SETINFO, which
// go-redis ignores; measured, every new connection would count an error.
var handshake = map[string]bool{"hello": true, "auth": true, "client": true, "select": true, "readonly": true}

func isHandshake(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if !handshake[c.Name()] {
			return false
		}
	}
	return len(cmds) > 0
}

// RedisResult is a Redis call's result label: ok (a missing key is an
// answer too), timeout (no answer in time, or no free connection in time),
// error (refused, a script's error, a wrong slot...).
func RedisResult(err error) string {
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		return "ok"
	case IsTimeout(err) || errors.Is(err, redis.ErrPoolTimeout):
		return "timeout"
	default:
		return "error"
	}
}

// redisPool is what RegisterRedisPool reads: *redis.Client,
// *redis.ClusterClient and redis.UniversalClient have it.
type redisPool interface {
	PoolStats() *redis.PoolStats
}

// RegisterRedisPool exposes rdb's connection pool (on a cluster, the sum of
// every node's pool) at each scrape.
func RegisterRedisPool(reg prometheus.Registerer, rdb redisPool) {
	reg.MustRegister(&redisPoolCollector{rdb: rdb})
}

var (
	redisPoolTotal    = poolDesc("redis_pool_connections", "Connections in the Redis client's pool, idle ones included.")
	redisPoolIdle     = poolDesc("redis_pool_idle_connections", "Idle connections in the Redis client's pool.")
	redisPoolHits     = poolDesc("redis_pool_hits_total", "Times a free connection was found in the Redis pool.")
	redisPoolMisses   = poolDesc("redis_pool_misses_total", "Times no free connection was in the Redis pool, so one was dialled or waited for.")
	redisPoolTimeouts = poolDesc("redis_pool_timeouts_total", "Times a call gave up waiting for a Redis connection (pool_timeout).")
	redisPoolWaits    = poolDesc("redis_pool_waits_total", "Times a call waited for a Redis connection.")
	redisPoolWaitSecs = poolDesc("redis_pool_wait_seconds_total", "Time calls spent waiting for a Redis connection.")
)

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, nil)
}

type redisPoolCollector struct{ rdb redisPool }

func (c *redisPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{redisPoolTotal, redisPoolIdle, redisPoolHits, redisPoolMisses, redisPoolTimeouts, redisPoolWaits, redisPoolWaitSecs} {
		ch <- d
	}
}

func (c *redisPoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.rdb.PoolStats()
	if s == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(redisPoolTotal, prometheus.GaugeValue, float64(s.TotalConns))
	ch <- prometheus.MustNewConstMetric(redisPoolIdle, prometheus.GaugeValue, float64(s.IdleConns))
	ch <- prometheus.MustNewConstMetric(redisPoolHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(redisPoolMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(redisPoolTimeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(redisPoolWaits, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(redisPoolWaitSecs, prometheus.CounterValue, time.Duration(s.WaitDurationNs).Seconds())
}
