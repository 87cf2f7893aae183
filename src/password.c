/* password.c - reading a password without showing it. */
#include "password.h"

#include <string.h>
#include <termios.h>

int password_read_line(FILE *fp, char *buf, size_t size)
{
	if (!fgets(buf, (int)size, fp))
		return -1;
	size_t len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (len == size - 1 && !feof(fp))
		return -1;   /* longer than we take */
	if (len && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return 0;
}

int password_read_hidden(FILE *tty, const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	if (tcgetattr(fileno(tty), &old) < 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	/* echo off before the prompt: an answer typed the moment it shows
	 * must not be echoed */
	if (tcsetattr(fileno(tty), TCSANOW, &quiet) < 0)
		return -1;
	fputs(prompt, tty);
	fflush(tty);
	int rc = password_read_line(tty, buf, size);
	tcsetattr(fileno(tty), TCSANOW, &old);
	return rc;
}
