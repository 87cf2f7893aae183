/* libFuzzer target: the MAIL/RCPT argument parser.  Each input line is
 * parsed as a path with its parameters; a parsed path must be a bounded,
 * NUL-terminated address whose '@' is where the parser says. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_addr.h"

static void parse_line(const char *line)
{
	struct smtp_path p;
	const char *params;
	if (smtp_parse_path(line, 1, &p, &params) != PATH_OK)
		return;
	size_t len = strnlen(p.address, sizeof p.address);
	if (len == sizeof p.address || (!p.is_null && (p.at >= len || p.address[p.at] != '@')))
		abort();
	if (p.has_utf8 && !utf8_valid((const unsigned char *)p.address, len))
		abort();
	char key[32], value[128];
	for (int i = 0; i < 1000 && smtp_next_param(&params, key, sizeof key, value, sizeof value) > 0; i++)
		if (strlen(key) >= sizeof key || strlen(value) >= sizeof value)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		parse_line(line);
	free(buf);
	return 0;
}
