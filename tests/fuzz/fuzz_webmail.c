/* libFuzzer target: what the webmail does with a message nobody checked
 * (GMime's parse, our part walk, the text gathered for the page, HTML made
 * text, the header-only parse of the list) and with a query string or an
 * urlencoded form.  Never a crash, a leak, or a page that is not UTF-8. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgi.h"
#include "mime_view.h"

static void count_part(const struct mime_part_info *p, void *arg)
{
	(*(int *)arg)++;
	if (p->index < 1)
		abort();
}

static void view(const char *path)
{
	struct mime_msg m;
	if (mime_open(path, &m) == 0) {
		int parts = 0;
		mime_parts(&m, count_part, &parts);
		size_t len;
		int cut;
		char *text = mime_body_text(&m, &len, &cut);
		if (text && !g_utf8_validate(text, (gssize)len, NULL))
			abort();
		g_free(text);
		char *subject = mime_subject(&m), *from = mime_addresses(&m, GMIME_ADDRESS_TYPE_FROM);
		g_free(subject);
		g_free(from);
		mime_close(&m);
	}
	if (mime_open_header(path, &m) == 0)
		mime_close(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[] = "/tmp/mailpipe-fuzz-webmail.XXXXXX";
	static int fd = -1;
	if (fd < 0) {
		mime_init();
		if ((fd = mkstemp(path)) < 0)
			abort();
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	view(path);
	char *html = mime_html_to_text((const char *)data, size);
	g_free(html);
	struct cgi_params params = { 0 };
	cgi_parse_urlencoded((const char *)data, size, &params);
	cgi_params_free(&params);
	return 0;
}
