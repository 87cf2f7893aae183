/* addr-list: each line of stdin is an address list; prints what
 * addr_list_next makes of it, one "ok ADDR" or "bad" a line, then "end".
 * For tests/sendmail.bats: cc -Isrc tests/tools/addr-list.c src/addr_list.c */
#include <stdio.h>
#include <string.h>

#include "addr_list.h"

int main(void)
{
	static char line[1 << 20];
	while (fgets(line, sizeof line, stdin)) {
		size_t len = strcspn(line, "\n");
		struct addr_list al;
		char out[256];
		enum addr_next r;
		addr_list_init(&al, line, len);
		while ((r = addr_list_next(&al, out, sizeof out)) != ADDR_END)
			if (r == ADDR_FOUND)
				printf("ok %s\n", out);
			else
				printf("bad\n");
		printf("end\n");
	}
	return 0;
}
