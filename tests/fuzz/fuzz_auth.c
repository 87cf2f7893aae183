/* libFuzzer target: AUTH decoding.  What decodes must encode back to text
 * of the same length that decodes to the same bytes (padding bits may
 * differ: non-canonical base64 is accepted, as most servers do), and
 * PLAIN's split must give NUL-free, bounded user and password. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > AUTH_LINE_MAX)
		return 0;
	char *text = malloc(size + 1);
	unsigned char *raw = malloc(size + 4);
	unsigned char *again = malloc(size + 8);
	if (!text || !raw || !again)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	size_t len;
	if (strlen(text) == size && auth_b64_decode(text, raw, size + 4, &len) == 0) {
		int n = EVP_EncodeBlock(again, raw, (int)len);
		unsigned char *twice = malloc(size + 4);
		size_t len2;
		if (!twice || (size_t)n != size ||
		    auth_b64_decode((char *)again, twice, size + 4, &len2) != 0 ||
		    len2 != len || memcmp(twice, raw, len) != 0)
			abort();
		free(twice);
	}
	char user[256], password[1024];
	if (auth_split_plain(data, size, user, sizeof user, password, sizeof password) == 0 &&
	    (strlen(user) >= sizeof user || strlen(password) >= sizeof password || !user[0]))
		abort();
	free(text);
	free(raw);
	free(again);
	return 0;
}
