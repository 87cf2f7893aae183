/* libFuzzer target: smtp-send's CSV reader, template renderer and header
 * fixer (sendmail's too).  The first two bytes give the template's length;
 * the template comes next, then the CSV list.  Every row must render or
 * fail with a reason, never crash, leak or loop. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "merge.h"
#include "msg_head.h"

#define ROWS_MAX 64

static void render_rows(FILE *tpl, FILE *rows, FILE *out)
{
	struct csv_reader r;
	char err[300];
	csv_open(&r, rows);
	if (csv_read(&r, err, sizeof err) != CSV_ROW) {
		csv_close(&r);
		return;
	}
	size_t n = r.nfields;
	char **names = calloc(n, sizeof *names);
	for (size_t i = 0; i < n; i++)
		names[i] = strdup(csv_field(&r, i));
	struct merge_columns cols = { (const char *const *)names, n };
	char unknown[MERGE_NAME_MAX + 1];
	static const char *values[CSV_FIELDS_MAX];
	if (merge_check(tpl, &cols, unknown, sizeof unknown) == 0)
		for (int row = 0; row < ROWS_MAX && csv_read(&r, err, sizeof err) == CSV_ROW; row++) {
			if (r.nfields != n)
				continue;
			for (size_t i = 0; i < n; i++)
				values[i] = csv_field(&r, i);
			struct head_fix fix = { .sender = "a@example.org", .hostname = "h" };
			if (merge_render(tpl, &cols, values, values[0], &fix, out, err, sizeof err) > 0 &&
			    !err[0])
				abort();   /* a failed row always says why */
		}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	csv_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t tlen = ((size_t)data[0] << 8 | data[1]) % (size - 1);
	const uint8_t *list = data + 2 + tlen;
	size_t llen = size - 2 - tlen;
	FILE *out = fopen("/dev/null", "w");
	FILE *tpl = fmemopen((void *)(data + 2), tlen ? tlen : 1, "r");
	FILE *rows = fmemopen((void *)list, llen ? llen : 1, "r");
	if (!out || !tpl || !rows)
		abort();
	render_rows(tpl, rows, out);
	/* the same bytes as a message for sendmail / smtp-send */
	rewind(rows);
	struct head_in in = { .fp = rows, .dot_ends = data[0] & 1 };
	struct head_fix fix = { .sender = "a@example.org", .full_name = "Ann \"B\" Ü", .hostname = "h" };
	head_copy(&in, out, &fix, "fuzz");
	fclose(tpl);
	fclose(rows);
	fclose(out);
	return 0;
}
