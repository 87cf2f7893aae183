/* peer.h - the client of a program started per connection (systemd
 * Accept=yes, xinetd, tcpserver): its address and a session id for logs. */
#ifndef MAILPIPE_PEER_H
#define MAILPIPE_PEER_H

#include <stddef.h>

/* getpeername(0), else $TCPREMOTEIP, else $REMOTE_ADDR, else "unknown";
 * an IPv4-mapped IPv6 address is written as IPv4. */
void peer_address(char *buf, size_t size);
/* 12 hex digits, random. */
void peer_session_id(char *buf, size_t size);
/* 127.0.0.0/8 or ::1. */
int peer_is_loopback(const char *ip);

#endif
