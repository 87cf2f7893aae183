/* libFuzzer target: the configuration parser.  The first byte picks the
 * file; the rest is its content.  Loading must succeed or fail with one
 * "FILE:LINE: problem" line, never crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

static const char *const files[] = { "mailpipe.conf", "domains", "users", "aliases", "relay-clients" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[] = "/tmp/mailpipe-fuzz-conf.XXXXXX";
	if (dir[sizeof dir - 2] == 'X' && !mkdtemp(dir))
		abort();
	if (size < 1)
		return 0;
	const char *name = files[data[0] % 5];
	for (size_t i = 0; i < 5; i++) {
		char path[256];
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	if (!fp || fwrite(data + 1, 1, size - 1, fp) != size - 1 || fclose(fp) != 0)
		abort();
	struct conf conf;
	if (conf_load(&conf, dir) < 0) {
		if (!strstr(conf.error, name) || strchr(conf.error, '\n'))
			abort();
	} else {
		/* every lookup works on what was loaded */
		for (size_t i = 0; i < conf.nusers; i++)
			if (conf_find_user(&conf, conf.users[i].address) != &conf.users[i])
				abort();
		for (size_t i = 0; i < conf.naliases; i++)
			if (conf_find_alias(&conf, conf.aliases[i].address) != &conf.aliases[i])
				abort();
	}
	conf_free(&conf);
	return 0;
}
