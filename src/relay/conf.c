/* conf.c: the relay's one state and its settings from [relay] and [internal] */
#include "config.h"

#include <stdio.h>

#include "cfg.h"
#include "log.h"
#include "relay.h"

struct relay	*relay;

int
relay_config(struct cfg *c, struct relay_cfg *rc)
{
	cfg_ms(c, "relay", "keepalive", 15, 1, 3600, &rc->keepalive_ms);
	cfg_int(c, "relay", "failover", 2, 0, 16, &rc->failover);
	cfg_ms(c, "relay", "first_byte_timeout", 60, 1, 3600,
	    &rc->first_byte_ms);
	cfg_ms(c, "relay", "answer_timeout", 300, 1, 86400, &rc->answer_ms);
	cfg_ms(c, "relay", "request_timeout", 600, 1, 86400, &rc->request_ms);
	cfg_size(c, "relay", "max_body", 8 << 20, 1024, 256 << 20,
	    &rc->max_body);
	cfg_size(c, "relay", "out_buffer", 1 << 20, 4096, 64 << 20,
	    &rc->out_high);
	cfg_ms(c, "relay", "stall_timeout", 30, 1, 3600, &rc->stall_ms);
	cfg_int(c, "relay", "breaker_failures", 3, 1, 16,
	    &rc->breaker_failures);
	cfg_ms(c, "relay", "breaker_window", 60, 1, 86400,
	    &rc->breaker_window_ms);
	cfg_ms(c, "relay", "breaker_park", 15, 1, 86400, &rc->breaker_park_ms);
	cfg_ms(c, "relay", "poll_hold", 25, 1, 300, &rc->poll_hold_ms);
	cfg_ms(c, "relay", "worker_idle_timeout", 60, 1, 3600,
	    &rc->worker_idle_ms);
	cfg_ms(c, "relay", "report_interval", 10, 1, 3600, &rc->report_ms);
	cfg_bool(c, "relay", "allow_private_endpoints", 0, &rc->allow_private);
	cfg_int(c, "relay", "lease_budget", 5000000, 1, 1000000000000LL,
	    &rc->lease_want);
	cfg_int(c, "relay", "lease_idle_ms", 1000, 10, 60000,
	    &rc->lease_idle_ms);
	cfg_int(c, "relay", "lease_requests", 64, 1, 1000000,
	    &rc->lease_requests);
	cfg_ms(c, "relay", "candidates_ttl", 10, 1, 3600, &rc->candidates_ms);
	cfg_int(c, "relay", "settle_interval_ms", 50, 0, 10000, &rc->settle_ms);
	cfg_int(c, "relay", "settle_batch", 16, 1, 1000, &rc->settle_batch);
	cfg_int(c, "relay", "change_poll_ms", 250, 10, 60000,
	    &rc->change_poll_ms);
	cfg_int(c, "relay", "queue_max", 1000, 0, 1000000, &rc->queue_max);
	cfg_ms(c, "relay", "queue_timeout", 30, 1, 3600, &rc->queue_timeout_ms);
	rc->app_url = cfg_str(c, "relay", "app_url", "http://127.0.0.1:8081");
	rc->secret = cfg_str(c, "internal", "secret", "");
	if (cfg_error(c) != NULL) {
		fprintf(stderr, "infrpool-relay: %s\n", cfg_error(c));
		return -1;
	}
	if (*rc->secret == '\0')
		log_warn("[internal] secret is empty: the app will refuse "
		    "admission");
	return 0;
}
