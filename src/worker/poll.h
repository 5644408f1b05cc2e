/* poll.h: the one long-poll for jobs, its backoff and the round trip */
#ifndef IP_POLL_H
#define IP_POLL_H

#include <curl/curl.h>

/* Open the first poll from the loop; later polls follow on their own. */
void poll_start(void);

/* Stop polling: cancel the open poll and the timer of the next one. */
void poll_stop(void);

/*
 * A job slot was freed: replace an open poll that offered no free slot
 * with one that offers it. Nothing while stopping.
 */
void poll_slot_freed(void);

/*
 * Take the time from sending a result POST to the first byte of its
 * answer (timings of easy, borrowed) as the round trip the next poll
 * reports.
 */
void poll_note_post_rtt(CURL *easy);

/* Stop polling and free the poll's timer (the loop is over). */
void poll_free_all(void);

#endif
