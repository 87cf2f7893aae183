/* libFuzzer target: reading back the header of a received message - the
 * field scanner (head_scan), the Authentication-Results fields that claim
 * our name (mail_auth_forged), their removal from the spool (spool_cut) and
 * the From: domain (dkim_from_domain, libopendkim's address parser).
 *
 * Beyond "no crash": every field found lies inside the input, starts a
 * line and names Authentication-Results; after the cut the spool is the
 * input without exactly those bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dkim_sign.h"
#include "head_scan.h"
#include "mail_auth.h"
#include "spool.h"

static int from_field(void *arg, const struct head_field *field)
{
	if (field->text_len >= HEAD_FIELD_MAX || strlen(field->text) > field->text_len)
		abort();
	if (head_field_is(field, "From")) {
		char value[HEAD_FIELD_MAX], domain[256];
		head_field_value(field, value, sizeof value);
		if (dkim_from_domain(value, domain, sizeof domain) == 0 && strlen(domain) >= 256)
			abort();
		*(int *)arg += 1;
	}
	return 0;
}

static void check_cut(const uint8_t *data, size_t size, const struct spool_range *found, int n)
{
	struct spool s;
	if (spool_open(&s, "/tmp") < 0)
		return;
	spool_put(&s, data, size);
	if (spool_rewind(&s) < 0)
		abort();
	struct spool_range cut[AUTH_FORGED_MAX];
	size_t removed = 0;
	for (int i = 0; i < n; i++) {
		cut[i] = (struct spool_range){ found[i].offset + s.start, found[i].length };
		removed += found[i].length;
	}
	if (spool_cut(&s, cut, (size_t)n) < 0)
		abort();
	off_t end = lseek(s.fd, 0, SEEK_END);
	off_t left = end > s.start ? end - s.start : 0;   /* empty: the hole is not the file */
	if (left != (off_t)(size - removed))
		abort();
	spool_close(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", 0);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	int froms = 0;
	if (head_scan(fd, 0, from_field, &froms) < 0)
		abort();
	struct spool_range found[AUTH_FORGED_MAX];
	int n = mail_auth_forged(fd, 0, "mx.example.test", found, AUTH_FORGED_MAX);
	if (n < 0)
		abort();
	if (n > AUTH_FORGED_MAX)
		n = AUTH_FORGED_MAX;
	for (int i = 0; i < n; i++) {
		size_t at = (size_t)found[i].offset;
		if (at + found[i].length > size || (at > 0 && data[at - 1] != '\n') ||
		    strncasecmp((const char *)data + at, "Authentication-Results", 22) != 0)
			abort();
	}
	check_cut(data, size, found, n);
	close(fd);
	return 0;
}
