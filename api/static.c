// SPDX-License-Identifier: MIT
/*
 * static.c - the web root (files of cfg.web_dir, "/" is index.html), the
 * OpenAPI description and the health check.
 *
 * Paths are confined to the web directory: a segment of "..", a NUL or a
 * backslash is refused before the filesystem sees it, and only regular
 * files are served.
 */
#include "api.h"
#include "db.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The OpenAPI description as JSON, generated from schema/openapi.yaml at
 * build time (api/openapi_json.c). */
extern const char api_openapi_json[];

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
};

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int safe_path(const char *p)
{
    if (p[0] != '/' || strchr(p, '\\'))
        return 0;
    for (const char *s = p; (s = strstr(s, "..")); s += 2)
        if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            return 0;
    return 1;
}

void api_static_get(api_req *rq, api_resp *rs)
{
    const char *rel = strcmp(rq->path, "/") == 0 ? "/index.html" : rq->path;
    char path[PATH_MAX * 2];
    if (!safe_path(rel)) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "no such file: %s", rq->path);
        return;
    }
    snprintf(path, sizeof(path), "%s%s", rq->srv->cfg.web_dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
        if (fd >= 0)
            close(fd);
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "no such file: %s", rq->path);
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got != st.st_size) {
        free(buf);
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "cannot read %s", rq->path);
        return;
    }
    rs->status = 200;
    rs->raw = buf;
    rs->raw_len = (size_t)got;
    rs->raw_free = 1;
    rs->content_type = content_type(path);
}

void api_openapi_get(api_req *rq, api_resp *rs)
{
    rs->status = 200;
    rs->raw = (char *)api_openapi_json;
    rs->raw_len = strlen(api_openapi_json);
    rs->raw_free = 0;
    rs->content_type = "application/json";
}

void api_healthz(api_req *rq, api_resp *rs)
{
    nd_server *s = rq->srv;
    int counts[5] = {0};
    int ok = nd_db_count_by_state(s->db, counts) == 0;
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:{s:i,s:i},s:{s:i,s:i},s:i}", "status", ok ? "ok" : "degraded",
                  "version", ND_VERSION, "git", nd_git_describe, "jobs", "queued", counts[0],
                  "running", counts[1], "workers", "busy", nd_sched_busy(s), "total",
                  s->cfg.workers, "streams", nd_events_count(s));
    api_json(rs, ok ? 200 : 503, body);
}
