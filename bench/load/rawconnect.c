/*
 * rawconnect: a cheap WebSocket handshake generator (the `connect-c` scenario).
 *
 *   cc -O2 -Wall -Wextra -o rawconnect rawconnect.c
 *   ./rawconnect --url ws://127.0.0.1:PORT/ --conns K [--concurrency 100]
 *                [--hold 5] [--timeout 60] [--server-pid PID] [--meta JSON]
 *                [--ready-file F]            (or --host H --port P [--path /])
 *
 * The same measurement as `loadgen.js --scenario connect --raw-handshake`,
 * in one single-threaded epoll loop: K plain TCP connections, at most
 * --concurrency handshakes in flight, each sending ONE fixed upgrade request
 * (byte-identical to loadgen.js's dialRaw) and succeeding iff the response
 * head starts with "HTTP/1.1 101" and its Sec-WebSocket-Accept is the value
 * the fixed key implies.  Opened connections are held (whatever arrives is
 * read and dropped) until all K are done, then --hold seconds, then closed.
 * Prints ONE JSON line on stdout, shaped like loadgen.js's connect result;
 * progress on stderr.  Exit status: 0 all opened, 1 some failed, 2 none
 * opened or bad usage.  Linux only (epoll, /proc), libc only.
 *
 * Why: the Node generator costs about as much CPU per handshake as the
 * server under test, so on a 2-core machine it, not the server, set the rate.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* loadgen.js: RAW_KEY and RAW_ACCEPT = base64(sha1(RAW_KEY + GUID)). */
#define RAW_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RAW_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define HEAD_MAX 16384 /* a head longer than this without its end fails */

/* ------------------------------------------------------------- helpers -- */
static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* libm-free floor/ceil for the magnitudes we print (|x| < 2^62). */
static double xfloor(double x)
{
    double t = (double)(long long)x;
    return t > x ? t - 1 : t;
}
static double xceil(double x) { return -xfloor(-x); }
static double js_round(double x) { return xfloor(x + 0.5); } /* Math.round */
static double r1(double x) { return js_round(x * 10) / 10; }

static void logmsg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("[rawconnect] ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *errname(int e)
{
    static char buf[32];
    switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ECONNABORTED: return "ECONNABORTED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case EPIPE: return "EPIPE";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default:
        snprintf(buf, sizeof buf, "errno %d", e);
        return buf;
    }
}

/* JSON output into a growable string. */
typedef struct { char *p; size_t n, cap; } sbuf;
static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) { perror("realloc"); exit(2); }
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
static void sb_str(sbuf *b, const char *s) /* a JSON string; bytes as latin1 */
{
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') { sb_put(b, "\\", 1); sb_put(b, (const char *)c, 1); }
        else if (*c < 0x20 || *c >= 0x7f) sb_printf(b, "\\u%04x", *c);
        else sb_put(b, (const char *)c, 1);
    }
    sb_put(b, "\"", 1);
}
static void sb_key(sbuf *b, const char *k) /* ,"k": */
{
    if (b->n && b->p[b->n - 1] != '{') sb_put(b, ",", 1);
    sb_str(b, k);
    sb_put(b, ":", 1);
}
static void sb_num(sbuf *b, double v) /* like JSON.stringify for our values */
{
    if (!isfinite(v)) { sb_put(b, "null", 4); return; }
    char tmp[64];
    if (fabs(v) < 1e15 && v == xfloor(v)) snprintf(tmp, sizeof tmp, "%.0f", v);
    else {
        snprintf(tmp, sizeof tmp, "%.6f", v);
        char *e = tmp + strlen(tmp) - 1;
        while (*e == '0') *e-- = 0;
        if (*e == '.') *e = 0;
    }
    sb_put(b, tmp, strlen(tmp));
}
static void kv_num(sbuf *b, const char *k, double v) { sb_key(b, k); sb_num(b, v); }
static void kv_opt(sbuf *b, const char *k, int have, double v)
{
    sb_key(b, k);
    if (have) sb_num(b, v); else sb_put(b, "null", 4);
}

/* Log-linear histogram of integer µs, identical to loadgen.js's hNew/hAdd/hStats. */
#define HBUCKETS (256 + 24 * 128)
static double hist[HBUCKETS];
static int h_idx(double dv)
{
    int64_t v = dv < 0 ? 0 : (int64_t)js_round(dv);
    if (v < 256) return (int)v;
    if (v > 0x7fffffff) v = 0x7fffffff;
    int e = 31 - __builtin_clz((uint32_t)v);
    int shift = e - 7;
    return 256 + (e - 8) * 128 + (int)((v >> shift) - 128);
}
static int64_t h_val(int i)
{
    if (i < 256) return i;
    int e = ((i - 256) >> 7) + 8;
    int shift = e - 7;
    int64_t sub = ((i - 256) & 127) + 128;
    return (sub << shift) + ((int64_t)1 << (shift - 1));
}
static void h_stats(sbuf *b)
{
    double n = 0, sum = 0;
    int max = 0;
    for (int i = 0; i < HBUCKETS; i++)
        if (hist[i]) { n += hist[i]; sum += hist[i] * (double)h_val(i); max = i; }
    sb_put(b, "{", 1);
    kv_num(b, "n", n);
    if (n) {
        static const struct { const char *k; double p; } qs[] = {
            {"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};
        kv_num(b, "mean", js_round(sum / n));
        for (size_t q = 0; q < sizeof qs / sizeof qs[0]; q++) {
            double target = xceil(qs[q].p * n), c = 0;
            int64_t v = h_val(max);
            for (int i = 0; i < HBUCKETS; i++) {
                c += hist[i];
                if (c >= target) { v = h_val(i); break; }
            }
            kv_num(b, qs[q].k, (double)v);
        }
        kv_num(b, "max", (double)h_val(max));
    }
    sb_put(b, "}", 1);
}

/* /proc sampling, as loadgen.js (failures -> "null"). */
static int proc_cpu_ticks(int pid, double *out)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    p += 2; /* field 3 (state) */
    unsigned long long ut = 0, st = 0;
    /* fields 3..15: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2) return 0;
    *out = (double)(ut + st);
    return 1;
}
static int proc_rss_kb(int pid, double *out)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "VmRSS: %llu", &kb) == 1) { *out = (double)kb; ok = 1; break; }
    }
    fclose(f);
    return ok;
}
#define MAXCORES 256
typedef struct { int n; int id[MAXCORES]; double idle[MAXCORES], total[MAXCORES]; } cores_t;
static int core_times(cores_t *c)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[1024];
    c->n = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f) && c->n < MAXCORES) {
        int id;
        double v[10] = {0};
        if (strncmp(line, "cpu", 3) || !isdigit((unsigned char)line[3])) continue;
        int k = sscanf(line, "cpu%d %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", &id,
                       &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
        if (k < 5) continue;
        c->id[c->n] = id;
        c->idle[c->n] = v[3] + v[4];
        c->total[c->n] = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
        c->n++;
    }
    fclose(f);
    return 1;
}

/* ---------------------------------------------------------- connections -- */
enum { C_IDLE, C_CONNECTING, C_READING, C_OPEN, C_DONE };
typedef struct {
    int fd, state;
    unsigned sent; /* request bytes written */
    unsigned hlen; /* head bytes read */
    double t0;
    char *head;
} conn_t;

static char request[2048];
static size_t request_len;
static struct sockaddr_storage addr;
static socklen_t addr_len;
static int ep;

#define MAXERR 64
static struct { char key[64]; long n; } errs[MAXERR + 1];
static int nerrs;
static void count_err(const char *k)
{
    for (int i = 0; i < nerrs; i++)
        if (!strcmp(errs[i].key, k)) { errs[i].n++; return; }
    if (nerrs < MAXERR) {
        snprintf(errs[nerrs].key, sizeof errs[nerrs].key, "%.60s", k);
        errs[nerrs++].n = 1;
        return;
    }
    if (nerrs == MAXERR) snprintf(errs[nerrs++].key, sizeof errs[0].key, "other"); /* the rest */
    errs[MAXERR].n++;
}

static long opened, failed, done_n, inflight;
static double first_start = -1, last_open = -1;

static void finish(conn_t *c, int ok, const char *err)
{
    if (c->state == C_OPEN || c->state == C_DONE) return;
    inflight--;
    done_n++;
    free(c->head);
    c->head = NULL;
    if (ok) {
        c->state = C_OPEN;
        opened++;
        last_open = now_us();
        hist[h_idx(last_open - c->t0)]++;
    } else {
        c->state = C_DONE;
        failed++;
        count_err(err);
        if (c->fd >= 0) close(c->fd);
        c->fd = -1;
    }
}

/* The response head [0, end): as loadgen.js's check. */
static void check_head(conn_t *c, unsigned end)
{
    const char *h = c->head;
    int ok = end >= 12 && !memcmp(h, "HTTP/1.1 101", 12);
    if (ok) {
        static const char name[] = "sec-websocket-accept:";
        const size_t nl = sizeof name - 1;
        int match = 0;
        for (unsigned i = 0; i < end && !match; i++) {
            if (i && h[i - 1] != '\n' && h[i - 1] != '\r') continue; /* /^.../m */
            if (end - i < nl || strncasecmp(h + i, name, nl)) continue;
            unsigned j = i + nl;
            while (j < end && (h[j] == ' ' || h[j] == '\t')) j++;
            unsigned k = j;
            while (k < end && !isspace((unsigned char)h[k])) k++;
            if (k == j) continue; /* \S+ needs one character: the regex would look further */
            match = 1;
            ok = k - j == sizeof RAW_ACCEPT - 1 && !memcmp(h + j, RAW_ACCEPT, k - j);
        }
        if (!match) ok = 0;
    }
    if (ok) { finish(c, 1, NULL); return; }
    char why[16];
    memcpy(why, "status ", 7);
    unsigned n = 0;
    for (unsigned i = 9; i < 12 && i < c->hlen; i++) why[7 + n++] = h[i] ? h[i] : ' ';
    why[7 + n] = 0;
    finish(c, 0, why);
}

static char scratch[65536];

static void on_readable(conn_t *c)
{
    for (;;) {
        if (c->state == C_OPEN) { /* held: drop whatever arrives (pings) */
            ssize_t r = recv(c->fd, scratch, sizeof scratch, 0);
            if (r > 0) { if ((size_t)r < sizeof scratch) return; continue; }
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
            close(c->fd); /* closed by the server after the open: as loadgen, not counted */
            c->fd = -1;
            c->state = C_DONE;
            return;
        }
        if (c->state != C_READING) return;
        size_t room = HEAD_MAX + 1 - c->hlen;
        ssize_t r = recv(c->fd, c->head + c->hlen, room, 0);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            finish(c, 0, errname(errno));
            return;
        }
        if (r == 0) { finish(c, 0, "closed-before-open"); return; }
        unsigned from = c->hlen > 3 ? c->hlen - 3 : 0;
        c->hlen += (unsigned)r;
        char *e = memmem(c->head + from, c->hlen - from, "\r\n\r\n", 4);
        if (e) { check_head(c, (unsigned)(e - c->head)); if (c->state == C_OPEN) continue; return; }
        if (c->hlen > HEAD_MAX) { finish(c, 0, "head-too-long"); return; }
        if ((size_t)r < room) return; /* short read: the socket is drained (edge-triggered) */
    }
}

static void send_request(conn_t *c)
{
    while (c->sent < request_len) {
        ssize_t w = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) return; /* EPOLLOUT again (edge-triggered) */
            finish(c, 0, errname(errno));
            return;
        }
        c->sent += (unsigned)w;
    }
}

static void on_event(conn_t *c, uint32_t ev)
{
    if (c->state == C_CONNECTING) {
        if (ev & (EPOLLERR | EPOLLHUP)) {
            int err = 0;
            socklen_t l = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
            if (err) { finish(c, 0, errname(err)); return; }
        }
        if (!(ev & EPOLLOUT)) return;
        c->state = C_READING;
    }
    if (c->state == C_READING && c->sent < request_len && (ev & EPOLLOUT)) send_request(c);
    if ((c->state == C_READING || c->state == C_OPEN) && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        on_readable(c);
}

static void start(conn_t *c)
{
    c->t0 = now_us();
    if (first_start < 0) first_start = c->t0;
    inflight++;
    c->state = C_CONNECTING;
    c->sent = c->hlen = 0;
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { finish(c, 0, errname(errno)); return; }
    c->head = malloc(HEAD_MAX + 1);
    if (!c->head) { finish(c, 0, "ENOMEM"); return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as loadgen's setNoDelay */
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0) { finish(c, 0, errname(errno)); return; }
    if (connect(c->fd, (struct sockaddr *)&addr, addr_len) < 0 && errno != EINPROGRESS) {
        finish(c, 0, errname(errno));
        return;
    }
    /* connected or in progress: EPOLLOUT (or EPOLLERR) follows */
}

/* ----------------------------------------------------------------- main -- */
static void usage(void)
{
    fputs("usage: rawconnect (--url ws://127.0.0.1:PORT/PATH | --host H --port P [--path /])\n"
          "         [--conns 100] [--concurrency 100] [--hold 5] [--timeout 60]\n"
          "         [--server-pid PID] [--meta JSON] [--ready-file F] [--allow-non-loopback]\n"
          "  (--scenario connect, --raw-handshake and --workers 1 are accepted for loadgen.js compatibility)\n",
          stderr);
}

static char url[1024], host[320], hostport[340], path[512] = "/";
static const char *meta;

static sbuf out;
static void emit_base(const char *scenario)
{
    /* Object.assign(meta, base, obj): the meta's keys first (loadgen parses it; we
     * splice the object in, so it must be a JSON object). */
    sb_put(&out, "{", 1);
    if (meta) {
        const char *s = meta, *e = meta + strlen(meta);
        while (s < e && isspace((unsigned char)*s)) s++;
        while (e > s && isspace((unsigned char)e[-1])) e--;
        if (e - s >= 2 && *s == '{' && e[-1] == '}') {
            const char *in = s + 1, *ie = e - 1;
            while (in < ie && isspace((unsigned char)*in)) in++;
            if (in < ie) sb_put(&out, in, (size_t)(ie - in));
        } else {
            sb_key(&out, "meta_error");
            sb_str(&out, meta);
        }
    }
    char ts[64];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);
    sb_key(&out, "tool"); sb_str(&out, "rawconnect");
    sb_key(&out, "scenario"); sb_str(&out, scenario);
    sb_key(&out, "url"); sb_str(&out, url);
    kv_num(&out, "workers", 1);
    sb_key(&out, "raw_handshake"); sb_put(&out, "true", 4);
#ifdef __VERSION__
    sb_key(&out, "cc"); sb_str(&out, __VERSION__);
#endif
    sb_key(&out, "ts"); sb_str(&out, ts);
}
static void emit_end(void)
{
    sb_put(&out, "}\n", 2);
    fputs(out.p, stdout);
    fflush(stdout);
}
static int fail_usage(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    logmsg("%s", msg);
    usage();
    emit_base("connect");
    sb_key(&out, "error"); sb_str(&out, msg);
    emit_end();
    return 2;
}

static void sleep_us(double us)
{
    if (us <= 0) return;
    struct timespec ts = {(time_t)(us / 1e6), (long)((us - 1e6 * (double)(time_t)(us / 1e6)) * 1e3)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

int main(int argc, char **argv)
{
    double conns = 100, concurrency = 100, hold = 5, timeout = 60;
    int server_pid = 0, allow_remote = 0, port = 0;
    const char *ready_file = NULL, *scenario = "connect";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int flag = !v || !strncmp(v, "--", 2);
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        if (strncmp(a, "--", 2)) return fail_usage("unexpected argument %s", a);
        if (!strcmp(a, "--raw-handshake")) { if (!flag) return fail_usage("--raw-handshake takes no value"); continue; }
        if (!strcmp(a, "--allow-non-loopback")) { allow_remote = 1; continue; }
        if (flag) return fail_usage("%s needs a value", a);
        i++;
        char *end;
        double num = strtod(v, &end);
        int isnum = *v && !*end && isfinite(num) && num >= 0;
        if (!strcmp(a, "--url")) snprintf(url, sizeof url, "%s", v);
        else if (!strcmp(a, "--host")) snprintf(host, sizeof host, "%s", v);
        else if (!strcmp(a, "--path")) snprintf(path, sizeof path, "%s", v);
        else if (!strcmp(a, "--meta")) meta = v;
        else if (!strcmp(a, "--ready-file")) ready_file = v;
        else if (!strcmp(a, "--scenario")) { scenario = v; if (strcmp(v, "connect")) return fail_usage("only --scenario connect"); }
        else if (!isnum) return fail_usage("bad %s %s", a, v);
        else if (!strcmp(a, "--port")) port = (int)num;
        else if (!strcmp(a, "--conns")) conns = xfloor(num);
        else if (!strcmp(a, "--concurrency")) concurrency = xfloor(num);
        else if (!strcmp(a, "--hold")) hold = num;
        else if (!strcmp(a, "--timeout")) timeout = num;
        else if (!strcmp(a, "--server-pid")) server_pid = (int)num;
        else if (!strcmp(a, "--workers")) { if (num > 1) logmsg("--workers %s ignored: one thread", v); }
        else return fail_usage("unknown option %s", a);
    }
    if (concurrency < 1) concurrency = 1;

    /* Target: as new URL(url) in loadgen: hostname, port, host (port omitted if 80), pathname. */
    if (url[0]) {
        const char *p = url;
        if (!strncmp(p, "ws://", 5)) p += 5;
        else return fail_usage("--url must be ws://HOST:PORT/PATH (got %s)", url);
        const char *ae = p + strcspn(p, "/?#");
        char auth[300];
        snprintf(auth, sizeof auth, "%.*s", (int)(ae - p), p);
        const char *colon = auth[0] == '[' ? strchr(auth, ']') : auth;
        colon = colon ? strchr(colon, ':') : NULL;
        if (colon) {
            snprintf(host, sizeof host, "%.*s", (int)(colon - auth), auth);
            port = colon[1] ? atoi(colon + 1) : 80;
        } else {
            snprintf(host, sizeof host, "%s", auth);
            port = 80;
        }
        if (*ae == '/') snprintf(path, sizeof path, "%.*s", (int)strcspn(ae, "?#"), ae);
        else snprintf(path, sizeof path, "/");
    } else {
        if (!host[0] || port <= 0) return fail_usage("--url ws://127.0.0.1:PORT/ (or --host and --port) is required");
        int v6 = strchr(host, ':') && host[0] != '[';
        snprintf(url, sizeof url, "ws://%s%s%s:%d%s", v6 ? "[" : "", host, v6 ? "]" : "", port, path);
        if (v6) { char t[sizeof host + 2]; snprintf(t, sizeof t, "[%s]", host); snprintf(host, sizeof host, "%.300s", t); }
    }
    if (port <= 0 || port > 65535) return fail_usage("bad port in %s", url);
    if (strcmp(host, "127.0.0.1") && strcmp(host, "localhost") && strcmp(host, "[::1]") && strcmp(host, "::1")
        && strncmp(host, "127.", 4) && !allow_remote)
        return fail_usage("refusing non-loopback target (pass --allow-non-loopback to override)");
    if (port == 80) snprintf(hostport, sizeof hostport, "%s", host);
    else snprintf(hostport, sizeof hostport, "%s:%d", host, port);
    /* Byte for byte loadgen.js's dialRaw request. */
    request_len = (size_t)snprintf(request, sizeof request,
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: " RAW_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
        path, hostport);

    char hname[sizeof host], pstr[16];
    snprintf(hname, sizeof hname, "%s", host);
    if (hname[0] == '[') { memmove(hname, hname + 1, strlen(hname)); hname[strcspn(hname, "]")] = 0; }
    snprintf(pstr, sizeof pstr, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int gr = getaddrinfo(hname, pstr, &hints, &ai);
    if (gr) return fail_usage("cannot resolve %s: %s", hname, gai_strerror(gr));
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);

    /* Enough descriptors for every connection. */
    long K = (long)conns;
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        rlim_t want = (rlim_t)K + 64;
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < want) {
            if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
                struct rlimit r2 = {want, want};
                if (!setrlimit(RLIMIT_NOFILE, &r2)) rl = r2;
                else logmsg("WARNING: RLIMIT_NOFILE hard limit %llu < %llu: some connections will fail (EMFILE)",
                            (unsigned long long)rl.rlim_max, (unsigned long long)want);
            }
            if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
                rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
            }
        }
    }

    conn_t *cs = calloc((size_t)(K ? K : 1), sizeof *cs);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || ep < 0) { perror("setup"); return 2; }
    for (long i = 0; i < K; i++) cs[i].fd = -1;

    sleep_us(200e3); /* as loadgen: let the server settle before the RSS sample */
    long clk = sysconf(_SC_CLK_TCK);
    if (clk <= 0) clk = 100;
    double rss_before = 0, rss_open = 0, rss_held = 0, s0 = 0, s1 = 0, srss0 = 0, srss1 = 0;
    int have_before = server_pid && proc_rss_kb(server_pid, &rss_before);

    /* The window (loadgen's Window): from just before the first connect to the last one done. */
    struct rusage ru0, ru1;
    cores_t c0, c1;
    int have_c0 = core_times(&c0);
    int have_s0 = server_pid && proc_cpu_ticks(server_pid, &s0);
    int have_srss0 = server_pid && proc_rss_kb(server_pid, &srss0);
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = now_us(), deadline = t0 + timeout * 1e6;

    struct epoll_event evs[512];
    long next = 0;
    while (done_n < K) {
        while (inflight < concurrency && next < K) start(&cs[next++]);
        if (done_n >= K) break;
        double left = deadline - now_us();
        if (left <= 0) break;
        int n = epoll_wait(ep, evs, 512, left > 1e6 ? 1000 : (int)(left / 1e3) + 1);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); break; }
        for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    }
    /* --timeout: every handshake not done (or not started) fails as "timeout". */
    for (long i = 0; i < K; i++)
        if (cs[i].state == C_CONNECTING || cs[i].state == C_READING) finish(&cs[i], 0, "timeout");
    for (; next < K; next++) { inflight++; cs[next].state = C_CONNECTING; finish(&cs[next], 0, "timeout"); }

    getrusage(RUSAGE_SELF, &ru1);
    double t1 = now_us();
    int have_c1 = core_times(&c1);
    int have_s1 = server_pid && proc_cpu_ticks(server_pid, &s1);
    int have_srss1 = server_pid && proc_rss_kb(server_pid, &srss1);
    double secs = (t1 - t0) / 1e6;

    double open_s = last_open > first_start && first_start >= 0 ? (last_open - first_start) / 1e6 : -1;
    char os_txt[32] = "null";
    if (open_s >= 0) snprintf(os_txt, sizeof os_txt, "%.4f", open_s);
    logmsg("ALL_OPEN opened=%ld failed=%ld in %ss; holding %gs", opened, failed, os_txt, hold);
    if (ready_file) {
        FILE *f = fopen(ready_file, "w");
        if (f) { fprintf(f, "%ld\n", opened); fclose(f); }
    }
    int have_open = server_pid && proc_rss_kb(server_pid, &rss_open);
    double hold_end = now_us() + hold * 1e6;
    for (double left; (left = hold_end - now_us()) > 0;) { /* hold: drain pings */
        int n = epoll_wait(ep, evs, 512, left > 1e6 ? 1000 : (int)(left / 1e3) + 1);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    }
    int have_held = server_pid && proc_rss_kb(server_pid, &rss_held);
    for (long i = 0; i < K; i++)
        if (cs[i].fd >= 0) close(cs[i].fd);

    double cpu_us = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1e6 + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec)
                  + (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e6 + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);

    emit_base(scenario);
    kv_num(&out, "conns", (double)K);
    kv_num(&out, "opened", (double)opened);
    kv_num(&out, "failed", (double)failed);
    kv_num(&out, "concurrency", concurrency);
    kv_opt(&out, "open_s", open_s >= 0, js_round(open_s * 1e4) / 1e4);
    kv_opt(&out, "conns_per_s", open_s > 0, js_round(opened / open_s));
    sb_key(&out, "handshake_lat_us"); h_stats(&out);
    kv_num(&out, "hold_s", hold);
    kv_opt(&out, "server_rss_kb_before", have_before, rss_before);
    kv_opt(&out, "server_rss_kb_all_open", have_open, rss_open);
    kv_opt(&out, "server_rss_kb_after_hold", have_held, rss_held);
    kv_opt(&out, "server_rss_bytes_per_conn", have_before && have_held && opened,
           js_round((rss_held - rss_before) * 1024 / (opened ? opened : 1)));
    kv_opt(&out, "client_cpu_pct", secs > 0, r1(cpu_us / 1e4 / secs));
    sb_key(&out, "server");
    if (!server_pid) sb_put(&out, "null", 4);
    else {
        sb_put(&out, "{", 1);
        kv_num(&out, "pid", server_pid);
        kv_opt(&out, "cpu_pct", have_s0 && have_s1 && secs > 0, js_round(1000 * (s1 - s0) / clk / secs) / 10);
        kv_opt(&out, "rss_kb_start", have_srss0, srss0);
        kv_opt(&out, "rss_kb_end", have_srss1, srss1);
        sb_put(&out, "}", 1);
    }
    sb_key(&out, "cores_busy_pct");
    if (!have_c0 || !have_c1) sb_put(&out, "null", 4);
    else {
        sb_put(&out, "{", 1);
        for (int i = 0; i < c1.n; i++)
            for (int j = 0; j < c0.n; j++) {
                if (c0.id[j] != c1.id[i]) continue;
                char k[16];
                snprintf(k, sizeof k, "cpu%d", c1.id[i]);
                double dt = c1.total[i] - c0.total[j];
                kv_opt(&out, k, dt > 0, js_round(1000 * (1 - (c1.idle[i] - c0.idle[j]) / dt)) / 10);
            }
        sb_put(&out, "}", 1);
    }
    sb_key(&out, "errors");
    sb_put(&out, "{", 1);
    for (int i = 0; i < nerrs; i++) kv_num(&out, errs[i].key, (double)errs[i].n);
    sb_put(&out, "}", 1);
    if (K && !opened) {
        /* loadgen's error field: the summary lists it; the rest of the line says why. */
        char why[600];
        int n = snprintf(why, sizeof why, "no connection could be opened to %s:", url);
        for (int i = 0; i < nerrs && n < (int)sizeof why - 80; i++)
            n += snprintf(why + n, sizeof why - n, " %s x%ld", errs[i].key, errs[i].n);
        sb_key(&out, "error"); sb_str(&out, why);
        logmsg("%s", why);
    }
    emit_end();
    return !K ? 0 : !opened ? 2 : failed ? 1 : 0;
}
