/* libFuzzer target: the BDAT reader.  The first byte picks the chunk size
 * (a CRLF split across chunks must still be one line end).  When no bare CR
 * or LF was seen, turning the output's LF back into CRLF gives the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 13 + 1;
	data++;
	size--;
	static struct spool sp;
	memset(&sp, 0, offsetof(struct spool, buf));
	sp.fd = memfd_create("fuzz", 0);
	struct bdat_reader r;
	bdat_reader_init(&r, 1 << 20);
	for (size_t used = 0; used < size; used += step)
		bdat_reader_feed(&r, data + used, size - used < step ? size - used : step, &sp);
	bdat_reader_end(&r, &sp);
	spool_rewind(&sp);
	if (r.octets != size && !r.too_big)
		abort();
	if (!r.bare_eol && !r.too_big) {
		off_t n = lseek(sp.fd, 0, SEEK_END);
		unsigned char *out = malloc((size_t)n + 1), *again = malloc(2 * (size_t)n + 1);
		if (!out || !again || pread(sp.fd, out, (size_t)n, 0) != n)
			abort();
		size_t k = 0;
		for (off_t i = 0; i < n; i++) {
			if (out[i] == '\n')
				again[k++] = '\r';
			again[k++] = out[i];
		}
		if (k != size || memcmp(again, data, size) != 0)
			abort();
		free(out);
		free(again);
	}
	spool_close(&sp);
	return 0;
}
