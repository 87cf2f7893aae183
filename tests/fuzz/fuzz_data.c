/* libFuzzer target: the DATA reader (dot-unstuffing, CRLF.CRLF, bare CR/LF).
 *
 * The first byte picks how the input is cut into reads.  Beyond "no crash",
 * it checks the reader against a plain reference: when it found the end of
 * data and no bare CR or LF, what it consumed ends in CRLF.CRLF (or is just
 * ".\r\n"), and its output is exactly the reference's unstuffed LF lines.
 * So nothing is lost, added or split, whatever the reads were. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtp_data.h"

static size_t read_back(int fd, unsigned char **out)
{
	off_t size = lseek(fd, 0, SEEK_END);
	*out = malloc((size_t)size + 1);
	if (!*out || pread(fd, *out, (size_t)size, 0) != size)
		abort();
	return (size_t)size;
}

/* The reference: RFC 5321 4.5.2 said plainly.  The data before the final
 * ".\r\n" is CRLF lines; each loses one leading dot; lines end in LF. */
static size_t reference(const unsigned char *in, size_t used, unsigned char *out)
{
	size_t body = used - 3, k = 0, i = 0;
	while (i < body) {
		const unsigned char *crlf = memmem(in + i, body - i, "\r\n", 2);
		size_t end = crlf ? (size_t)(crlf - in) : body;
		size_t start = in[i] == '.' ? i + 1 : i;
		memcpy(out + k, in + start, end - start);
		k += end - start;
		out[k++] = '\n';
		i = end + 2;
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	static struct spool sp;
	memset(&sp, 0, offsetof(struct spool, buf));
	sp.fd = memfd_create("fuzz", 0);
	struct data_reader r;
	data_reader_init(&r, 1 << 20);
	size_t used = 0;
	while (used < size && !r.done) {
		size_t chunk = size - used < step ? size - used : step;
		size_t took = data_reader_feed(&r, data + used, chunk, &sp);
		if (took > chunk || (took < chunk && !r.done))
			abort();
		used += took;
	}
	spool_rewind(&sp);
	if (r.done && !r.bare_eol && !r.too_big) {
		int ends_right = (used == 3 && memcmp(data, ".\r\n", 3) == 0) ||
				 (used >= 5 && memcmp(data + used - 5, "\r\n.\r\n", 5) == 0);
		if (!ends_right)
			abort();
		unsigned char *out, *want = malloc(used + 8);
		size_t n = read_back(sp.fd, &out);
		size_t m = reference(data, used, want);
		if (m != n || memcmp(want, out, n) != 0)
			abort();
		free(out);
		free(want);
	}
	spool_close(&sp);
	return 0;
}
