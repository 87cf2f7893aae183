/* log.h - one logfmt line per event on stderr:
 *   prog=smtp-recv sid=3f2a client=192.0.2.1 event=accepted id=42 ...
 * Values with spaces, quotes or control characters are quoted and escaped,
 * so a hostile HELO cannot forge a second line or a field. */
#ifndef MAILPIPE_LOG_H
#define MAILPIPE_LOG_H

/* The program name that starts every line. */
void log_open(const char *prog);
/* Under xinetd stderr is the connection itself, and a log line would reach
 * the client.  When fd 2 is the same file as conn_fd, the log goes to
 * syslog (facility mail) instead, fd 2 to /dev/null, and the programs we
 * start learn it from MAILPIPE_LOG=syslog. */
void log_away_from_client(int conn_fd);
/* A field repeated on every following line (sid, client); at most 4. */
void log_context(const char *key, const char *value);
/* Ends the key/value list: a typed null pointer, as variadic calls need. */
#define LOG_END ((const char *)NULL)

/* event, then key/value string pairs, ended by LOG_END.  A NULL value is
 * skipped. Written with one write(2), so concurrent lines never mix. */
void log_event(const char *event, ...);

#endif
