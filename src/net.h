/* net.h - connects with a time limit, for the SMTP and NNTP clients. */
#ifndef MAILPIPE_NET_H
#define MAILPIPE_NET_H

#include <sys/socket.h>

/* A non-blocking connect within timeout seconds; the socket is blocking
 * after it, with SO_SNDTIMEO set so a peer that stops reading cannot hold
 * us.  The fd, or -1/errno (ETIMEDOUT, ECONNREFUSED ...). */
int net_connect_within(const struct sockaddr *sa, socklen_t len, unsigned timeout);

#endif
