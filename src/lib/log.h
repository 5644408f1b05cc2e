/* log.h: one line per event, with level, pid and request id; never a body */
#ifndef IP_LOG_H
#define IP_LOG_H

enum log_level {
	LV_DEBUG,
	LV_INFO,
	LV_WARN,
	LV_ERROR
};

/*
 * Set the program name, the lowest level written and the destination
 * (a file opened for append, or standard error when path is NULL or "").
 * Returns -1 when the file cannot be opened (standard error is kept).
 */
int	log_init(const char *prog, enum log_level, const char *path);

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
