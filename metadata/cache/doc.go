// Package cache takes the database off the hot path of metadata lookups: decorators around any
// metadata.Store that answer from an in-process LRU (Memory) and from memcached shared by all
// nodes (Memcached), falling back to the wrapped store, with concurrent misses for one key
// coalesced into one lower lookup.
//
// A typical chain is NewMemory(NewMemcached(sqlStore)): in-process → memcached → store.
//
// # Staleness bound
//
// eZ Publish never tells anyone that a row changed, so freshness is bounded by time alone. Every
// cached entry carries FetchedAt, the moment it was read from the underlying store (the
// database); the value keeps that time when it is copied from memcached into memory, so the
// bound never adds up across tiers. An entry is served while now - FetchedAt < PositiveTTL for
// a row (NegativeTTL for "no such row"). Therefore:
//
//	a row changed or deleted in the DB stops being served at most PositiveTTL (NegativeTTL for a
//	new row) after the change, plus clock skew between nodes for the memcached tier.
//
// Entries from memcached whose FetchedAt lies more than the TTL in the future (a node with a
// badly wrong clock) are ignored, so skew can never extend the bound by more than the TTL.
//
// The only exception is stale-if-error: when the store reports metadata.ErrUnavailable (or does
// not answer within the lookup timeout), Memory serves the last known entry while
// now - FetchedAt < StaleIfError, counts it (result="stale") and logs a rate-limited warning.
// Without such an entry the error is returned and the handler answers 503.
//
// # Keys
//
// The memcached tier uses its own namespace, Prefix + table + ":" + md5(name) (default prefix
// "ezdfsd:"), and does not share the keys of eZ's ezmemcachedcluster extension ("ezcluster-" +
// md5(name), PHP-serialised rows), which would need PHP serialisation and PECL flags.
//
// # Metrics
//
//	ezdfsd_metadata_lookups_total{tier="memory|memcached", result="hit|negative_hit|miss|stale|error"}
//	ezdfsd_metadata_coalesced_total       callers that waited for another caller's lower lookup
//	ezdfsd_metadata_cache_entries         entries in the in-process LRU (fresh or kept for stale-if-error)
//	ezdfsd_memcached_errors_total{op}     op = get, set, decode, ping, discovery
//	ezdfsd_memcached_duration_seconds{op} op = get, set
//	ezdfsd_memcached_servers              memcached nodes in use
//
// Each lookup is counted once per tier: hit / negative_hit (answered by the tier), miss (asked
// the tier below, which answered), stale (served stale after an error), error (returned an
// error). A memcached server failure is not a lookup error: it is counted in
// ezdfsd_memcached_errors_total and the lookup falls through to the store (result="miss").
package cache
