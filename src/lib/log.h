/* log.h: one line per event, with level, pid and request id; never a body */
#ifndef IP_LOG_H
#define IP_LOG_H

enum log_level {
	LV_DEBUG,
	LV_INFO,
	LV_WARN,
	LV_ERROR
};

#include <stddef.h>
#include <time.h>

#define LOG_PATH_MAX	4096

/*
 * Set the program name, the lowest level written and the destination
 * (a file opened for append, or standard error when path is NULL or "").
 * A path whose file name holds %Y, %m and %d (once each; also %p for the
 * program's name, %% for a '%') is a daily file: each line checks the
 * UTC date and the first line of a new day opens that day's file
 * (O_APPEND, so any number of processes can share it; a failed open
 * keeps the old file and is tried again a minute later). Returns -1
 * (errno EINVAL for a bad pattern) when the file cannot be opened
 * (standard error is kept).
 */
int	log_init(const char *prog, enum log_level, const char *path);

/*
 * Is path a usable [log] file: no '%', or a daily pattern as log_init
 * takes it (conversions only in the file name)? 1 or 0.
 */
int	log_pattern_ok(const char *path);

/*
 * The file of pattern for program prog on the UTC day t falls in, into
 * out (len bytes); 0, or -1 when it does not fit.
 */
int	log_path_for(const char *pattern, const char *prog, time_t t,
	    char *out, size_t len);

/*
 * Is name (a file name, no directory) a daily file of pattern's file
 * name part, for any program? 1 with the start of its UTC day in *day,
 * else 0.
 */
int	log_name_day(const char *pattern, const char *name, time_t *day);

/* Tests only: the clock lines are stamped and files dated by (NULL: real). */
void	log_set_clock(void (*clock)(struct timespec *));

/* Parse "debug", "info", "warn" or "error"; returns -1 otherwise. */
int	log_level_parse(const char *, enum log_level *);

/* The request id stamped on following lines; NULL or "" means none. */
void	log_set_request(const char *id);

/*
 * Write one line: time, level, program[pid], req=<id>, then the message.
 * Control characters in the message become '?', so one event is always one
 * line, and a message is cut at 1 KiB. Formats are constants: pass ids and
 * numbers as arguments, never request or response bodies.
 */
void	log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_debug(...)	log_msg(LV_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LV_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LV_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LV_ERROR, __VA_ARGS__)

#endif
