/* net.c - TCP and unix-socket connects with a time limit. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A non-blocking connect within the timeout; the socket stays blocking
 * after, with a send time-out so a peer that stops reading cannot hold
 * us. */
int net_connect_within(const struct sockaddr *sa, socklen_t len, unsigned timeout)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	int rc = connect(fd, sa, len);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int n;
		do
			n = poll(&pfd, 1, (int)(timeout * 1000));
		while (n < 0 && errno == EINTR);
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (n == 0)
			errno = ETIMEDOUT;
		else if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0)
			errno = soerr;
		rc = n > 0 && soerr == 0 ? 0 : -1;
	}
	struct timeval tv = { .tv_sec = timeout };
	if (rc < 0 || fcntl(fd, F_SETFL, 0) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}
