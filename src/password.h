/* password.h - reading a password without showing it: one line from a
 * file or stream, or typed on the terminal with echo off. */
#ifndef MAILPIPE_PASSWORD_H
#define MAILPIPE_PASSWORD_H

#include <stddef.h>
#include <stdio.h>

/* One line without its line end (LF or CRLF) from fp into buf.  0, or -1
 * at EOF or when the line does not fit. */
int password_read_line(FILE *fp, char *buf, size_t size);

/* Prompts on tty (opened "r+") with echo off and reads one line. */
int password_read_hidden(FILE *tty, const char *prompt, char *buf, size_t size);

#endif
