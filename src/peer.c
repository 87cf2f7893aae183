/* peer.c - who is on the other end of stdin. */
#include "peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void peer_address(char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, (socklen_t)size);
			return;
		}
		if (ss.ss_family == AF_INET6) {
			struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
			if (IN6_IS_ADDR_V4MAPPED(a))
				inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)size);
			else
				inet_ntop(AF_INET6, a, buf, (socklen_t)size);
			return;
		}
	}
	static const char *const names[] = { "TCPREMOTEIP", "REMOTE_ADDR" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *env = getenv(names[i]);
		unsigned char bytes[16];
		if (env && (inet_pton(AF_INET, env, bytes) == 1 || inet_pton(AF_INET6, env, bytes) == 1)) {
			snprintf(buf, size, "%s", env);
			return;
		}
	}
	snprintf(buf, size, "unknown");
}

void peer_session_id(char *buf, size_t size)
{
	unsigned char r[6];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
		unsigned long v = (unsigned long)getpid() ^ (unsigned long)time(NULL);
		memcpy(r, &v, sizeof r < sizeof v ? sizeof r : sizeof v);
	}
	snprintf(buf, size, "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
}

int peer_is_loopback(const char *ip)
{
	return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0;
}
