/* dns-query - ask the resolver of /etc/resolv.conf with res_query(3), the
 * way smtp-relay does, and print what came back.  A test helper for
 * tests/tools/netns-dns; build: cc -o dns-query dns-query.c -lresolv
 *
 * Usage: dns-query TYPE NAME      TYPE: mx a aaaa txt cname ptr
 *
 * The first line is the outcome, one word:
 *   NOERROR   answers follow, one per line ("MX 10 mx1.a.test", "A 1.2.3.4",
 *             "AAAA ::1", "TXT v=spf1 -all", "CNAME x.test"); MX records
 *             sorted by preference; a null MX (RFC 7505) prints "MX 0 .".
 *   NODATA    the name exists, no record of TYPE (rcode NOERROR, no answer;
 *             res_query returned -1 with h_errno NO_DATA)
 *   NXDOMAIN  the name does not exist (h_errno HOST_NOT_FOUND)
 *   SERVFAIL / REFUSED / FORMERR / NOTIMP  that rcode (h_errno TRY_AGAIN or
 *             NO_RECOVERY)
 *   NOANSWER  no reply at all (timeout or no server; h_errno TRY_AGAIN)
 * Exit 0 for NOERROR and NODATA, 1 for NXDOMAIN, 2 otherwise, 64 on bad usage.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mx {
	int pref;
	char host[NS_MAXDNAME];
};

static int cmp_mx(const void *a, const void *b)
{
	const struct mx *x = a, *y = b;
	return x->pref - y->pref;
}

static const char *rcode_name(int rcode)
{
	switch (rcode) {
	case ns_r_noerror: return "NOERROR";
	case ns_r_formerr: return "FORMERR";
	case ns_r_servfail: return "SERVFAIL";
	case ns_r_nxdomain: return "NXDOMAIN";
	case ns_r_notimpl: return "NOTIMP";
	case ns_r_refused: return "REFUSED";
	default: return "RCODE?";
	}
}

int main(int argc, char **argv)
{
	static const struct { const char *name; int type; } types[] = {
		{"mx", ns_t_mx}, {"a", ns_t_a}, {"aaaa", ns_t_aaaa},
		{"txt", ns_t_txt}, {"cname", ns_t_cname}, {"ptr", ns_t_ptr},
	};
	unsigned char ans[65536];
	int type = -1;

	if (argc != 3) {
		fprintf(stderr, "usage: dns-query mx|a|aaaa|txt|cname|ptr NAME\n");
		return 64;
	}
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(argv[1], types[i].name) == 0)
			type = types[i].type;
	if (type < 0) {
		fprintf(stderr, "dns-query: unknown type %s\n", argv[1]);
		return 64;
	}
	if (res_init() != 0) {
		fprintf(stderr, "dns-query: res_init failed\n");
		return 2;
	}
	memset(ans, 0, sizeof ans);
	int len = res_query(argv[2], ns_c_in, type, ans, sizeof ans);
	if (len < 0) {
		/* glibc leaves the reply in ans when there was one */
		HEADER *h = (HEADER *)ans;
		if (!h->qr) {
			puts("NOANSWER");
			return 2;
		}
		if (h->rcode == ns_r_noerror && h_errno == NO_DATA) {
			puts("NODATA");
			return 0;
		}
		puts(rcode_name(h->rcode));
		return h->rcode == ns_r_nxdomain ? 1 : 2;
	}

	ns_msg msg;
	if (ns_initparse(ans, len, &msg) < 0) {
		puts("FORMERR");
		return 2;
	}
	int n = ns_msg_count(msg, ns_s_an);
	struct mx *mxs = calloc(n ? n : 1, sizeof *mxs);
	int nmx = 0;
	puts(rcode_name(ns_msg_getflag(msg, ns_f_rcode)));
	for (int i = 0; i < n; i++) {
		ns_rr rr;
		char buf[NS_MAXDNAME];
		const unsigned char *rd;

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			continue;
		rd = ns_rr_rdata(rr);
		switch (ns_rr_type(rr)) {
		case ns_t_mx:
			if (ns_rr_rdlen(rr) < 3)
				break;
			mxs[nmx].pref = ns_get16(rd);
			if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg),
					       rd + 2, mxs[nmx].host, sizeof mxs[nmx].host) < 0)
				break;
			if (mxs[nmx].host[0] == '\0')
				strcpy(mxs[nmx].host, ".");
			nmx++;
			break;
		case ns_t_a:
			if (ns_rr_rdlen(rr) == 4)
				printf("A %s\n", inet_ntop(AF_INET, rd, buf, sizeof buf));
			break;
		case ns_t_aaaa:
			if (ns_rr_rdlen(rr) == 16)
				printf("AAAA %s\n", inet_ntop(AF_INET6, rd, buf, sizeof buf));
			break;
		case ns_t_cname:
		case ns_t_ptr:
			if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg),
					       rd, buf, sizeof buf) >= 0)
				printf("%s %s\n", ns_rr_type(rr) == ns_t_cname ? "CNAME" : "PTR", buf);
			break;
		case ns_t_txt: {
			/* character-strings joined, as SPF and DKIM readers do */
			const unsigned char *p = rd, *end = rd + ns_rr_rdlen(rr);
			fputs("TXT ", stdout);
			while (p < end) {
				int l = *p++;
				if (l > end - p)
					l = end - p;
				fwrite(p, 1, l, stdout);
				p += l;
			}
			putchar('\n');
			break;
		}
		default:
			printf("TYPE%d\n", ns_rr_type(rr));
		}
	}
	qsort(mxs, nmx, sizeof *mxs, cmp_mx);
	for (int i = 0; i < nmx; i++)
		printf("MX %d %s\n", mxs[i].pref, mxs[i].host);
	free(mxs);
	return 0;
}
