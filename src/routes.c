/* routes.c - the routes and secrets files. */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define ROUTES_MAX 100000

static int copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static int parse_port(struct conf_line *where, struct route *rt, const char *text)
{
	char *end;
	unsigned long p = strtoul(text, &end, 10);
	if (!*text || *end || p == 0 || p > 65535)
		return conf_line_error(where, "bad port \"%s\"", text);
	rt->port = (unsigned)p;
	return 0;
}

/* "host", "host:port", "[literal]", "[literal]:port" into the route. */
static int parse_host_port(struct conf_line *where, struct route *rt, char *text)
{
	char *port = NULL;
	if (text[0] == '[') {
		char *end = strchr(text, ']');
		if (!end || (end[1] && end[1] != ':'))
			return conf_line_error(where, "bad address literal \"%s\"", text);
		*end = '\0';
		port = end[1] ? end + 2 : NULL;
		text++;
	} else if ((port = strrchr(text, ':')) != NULL) {
		*port++ = '\0';
	}
	if (!*text || copy(rt->host, sizeof rt->host, text) < 0)
		return conf_line_error(where, "bad host \"%s\"", text);
	return port ? parse_port(where, rt, port) : 0;
}

static int parse_destination(struct conf_line *where, struct route *rt, char *dest)
{
	if (strncasecmp(dest, "lmtp:", 5) == 0) {
		rt->lmtp = 1;
		dest += 5;
		if (dest[0] == '/') {
			rt->unix_socket = 1;
			return copy(rt->host, sizeof rt->host, dest) < 0
				       ? conf_line_error(where, "socket path too long") : 0;
		}
	}
	return parse_host_port(where, rt, dest);
}

static const char *const tls_names[] = {
	[ROUTE_TLS_NONE] = "none", [ROUTE_TLS_OPPORTUNISTIC] = "opportunistic",
	[ROUTE_TLS_REQUIRED] = "required", [ROUTE_TLS_VERIFY] = "verify",
};

static int parse_option(struct conf_line *where, struct route *rt, char *opt)
{
	char *value = strchr(opt, '=');
	if (!value)
		return conf_line_error(where, "\"%s\" is not key=value", opt);
	*value++ = '\0';
	if (strcmp(opt, "port") == 0)
		return parse_port(where, rt, value);
	if (strcmp(opt, "tls") == 0) {
		for (size_t i = 0; i < sizeof tls_names / sizeof *tls_names; i++)
			if (strcmp(value, tls_names[i]) == 0) {
				rt->tls = (enum route_tls)i;
				return 0;
			}
		return conf_line_error(where, "tls=%s: none, opportunistic, required or verify", value);
	}
	if (strcmp(opt, "auth") == 0 && *value)
		return copy(rt->auth_user, sizeof rt->auth_user, value) < 0
			       ? conf_line_error(where, "auth user too long") : 0;
	if (strcmp(opt, "ca") == 0 && *value)
		return copy(rt->ca_file, sizeof rt->ca_file, value) < 0
			       ? conf_line_error(where, "ca file name too long") : 0;
	return conf_line_error(where, "unknown route option \"%s\"", opt);
}

static int route_line(struct conf_line *where, char *line)
{
	struct routes *r = where->arg;
	if (r->nroutes >= ROUTES_MAX)
		return conf_line_error(where, "more than %d routes", ROUTES_MAX);
	struct route rt = { .tls = ROUTE_TLS_OPPORTUNISTIC, .line = where->lineno };
	char *save = NULL;
	char *domain = strtok_r(line, " \t", &save);
	char *dest = strtok_r(NULL, " \t", &save);
	if (!dest)
		return conf_line_error(where, "expected \"DOMAIN HOST[:PORT] [key=value...]\"");
	if (copy(rt.domain, sizeof rt.domain, domain) < 0)
		return conf_line_error(where, "domain too long");
	conf_lowercase(rt.domain);
	if (parse_destination(where, &rt, dest) < 0)
		return -1;
	for (char *opt; (opt = strtok_r(NULL, " \t", &save)) != NULL;)
		if (parse_option(where, &rt, opt) < 0)
			return -1;
	if (rt.unix_socket && rt.tls >= ROUTE_TLS_REQUIRED)
		return conf_line_error(where, "tls=%s on a unix socket", tls_names[rt.tls]);
	for (size_t i = 0; i < r->nroutes; i++)
		if (strcmp(r->routes[i].domain, rt.domain) == 0)
			return conf_line_error(where, "second route for %s (first on line %u)",
					       rt.domain, r->routes[i].line);
	struct route *grown = realloc(r->routes, (r->nroutes + 1) * sizeof *grown);
	if (!grown)
		return conf_line_error(where, "out of memory");
	r->routes = grown;
	r->routes[r->nroutes++] = rt;
	return 0;
}

static int secret_line(struct conf_line *where, char *line)
{
	struct routes *r = where->arg;
	if (r->nsecrets >= ROUTES_MAX)
		return conf_line_error(where, "more than %d secrets", ROUTES_MAX);
	char *save = NULL;
	char *host = strtok_r(line, " \t", &save);
	char *user = strtok_r(NULL, " \t", &save);
	char *password = save ? save + strspn(save, " \t") : NULL;
	if (!user || !password || !*password)
		return conf_line_error(where, "expected \"HOST user password\"");
	struct secret *grown = realloc(r->secrets, (r->nsecrets + 1) * sizeof *grown);
	if (!grown)
		return conf_line_error(where, "out of memory");
	r->secrets = grown;
	struct secret *s = &r->secrets[r->nsecrets];
	s->host = strdup(host);
	s->user = strdup(user);
	s->password = strdup(password);
	if (!s->host || !s->user || !s->password) {
		free(s->host);
		free(s->user);
		free(s->password);
		return conf_line_error(where, "out of memory");
	}
	r->nsecrets++;
	return 0;
}

/* secrets holds passwords in clear: nobody but its owner may read it. */
static int check_secrets_mode(struct conf *conf)
{
	char path[2048];
	struct stat st;
	snprintf(path, sizeof path, "%s/secrets", conf->dir);
	struct conf_line where = { conf, path, 0, NULL };
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : conf_line_error(&where, "cannot stat: %s", strerror(errno));
	if ((st.st_mode & 077) == 0)
		return 0;
	return conf_line_error(&where, "mode %03o, must be 0600 (it holds passwords)",
			       (unsigned)(st.st_mode & 0777));
}

/* Every auth= needs its password now, not at the first delivery. */
static int check_auth(struct conf *conf, const struct routes *r)
{
	char path[2048];
	snprintf(path, sizeof path, "%s/routes", conf->dir);
	int rc = 0;
	for (size_t i = 0; i < r->nroutes && (rc == 0 || conf->report); i++) {
		const struct route *rt = &r->routes[i];
		struct conf_line where = { conf, path, rt->line, NULL };
		if (rt->auth_user[0] && !routes_password(r, rt))
			rc = conf_line_error(&where, "auth=%.200s but no \"%.200s %.200s ...\" line in secrets",
					     rt->auth_user, rt->host, rt->auth_user);
	}
	return rc;
}

int routes_load(struct conf *conf, struct routes *r)
{
	memset(r, 0, sizeof *r);
	/* the first problem stops the loading, unless every one is reported
	 * (conf_load_report: mailpipe-check) */
	int bad = conf_read_file(conf, "routes", route_line, r, NULL) < 0;
	if (!bad || conf->report)
		bad |= check_secrets_mode(conf) < 0;
	if (!bad || conf->report)
		bad |= conf_read_file(conf, "secrets", secret_line, r, NULL) < 0;
	if (!bad || conf->report)
		bad |= check_auth(conf, r) < 0;
	if (bad && !conf->report)
		routes_free(r);
	return bad ? -1 : 0;
}

void routes_free(struct routes *r)
{
	for (size_t i = 0; i < r->nsecrets; i++) {
		explicit_bzero(r->secrets[i].password, strlen(r->secrets[i].password));
		free(r->secrets[i].host);
		free(r->secrets[i].user);
		free(r->secrets[i].password);
	}
	free(r->secrets);
	free(r->routes);
	memset(r, 0, sizeof *r);
}

const struct route *routes_find(const struct routes *r, const char *domain)
{
	const struct route *star = NULL;
	for (size_t i = 0; i < r->nroutes; i++) {
		if (strcasecmp(r->routes[i].domain, domain) == 0)   /* B.TEST is b.test */
			return &r->routes[i];
		if (strcmp(r->routes[i].domain, "*") == 0)
			star = &r->routes[i];
	}
	return star;
}

const char *routes_password(const struct routes *r, const struct route *route)
{
	for (size_t i = 0; i < r->nsecrets; i++)
		if (strcasecmp(r->secrets[i].host, route->host) == 0 &&
		    strcmp(r->secrets[i].user, route->auth_user) == 0)
			return r->secrets[i].password;
	return NULL;
}
