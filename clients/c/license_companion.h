/* license_companion.h - talk to the License Companion from C or C++ (one header, C99).
 *
 * In exactly one source file:
 *     #define LICENSE_COMPANION_IMPLEMENTATION
 *     #include "license_companion.h"
 * everywhere else just include it. No dependencies beyond the C library and the OS
 * (POSIX: a Unix domain socket; Win32: a named pipe, see lc__pipe_name).
 *
 * The model (docs/host-protocol.md): lc_track_* writes one JSON line and returns without
 * waiting; answers are read as they come; lc_flush waits until every event sent so far is
 * acknowledged as stored. Each event carries an event_id of this client's own, so when the
 * connection breaks the events sent but not yet acknowledged go to the companion's inbox with
 * the same ids, and the companion stores each id at most once: failover never duplicates.
 * When no companion answers, events go straight to the inbox
 * (<state dir>/inbox/<pid>-<random>.jsonl), which the companion takes when it runs.
 *
 * Every function returns 0 on success or a negative LC_E* code; lc_error() says why.
 * One lc_client is for one thread at a time.
 */
#ifndef LICENSE_COMPANION_H
#define LICENSE_COMPANION_H

#if defined(LICENSE_COMPANION_IMPLEMENTATION) && !defined(_WIN32)
/* flock, clock_gettime and friends under -std=c99: include this header first in the file
 * that defines LICENSE_COMPANION_IMPLEMENTATION (or build with -D_DEFAULT_SOURCE). */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#ifndef _DARWIN_C_SOURCE
#define _DARWIN_C_SOURCE
#endif
#endif
#if defined(LICENSE_COMPANION_IMPLEMENTATION) && defined(_WIN32) && !defined(_WIN32_WINNT)
#define _WIN32_WINNT 0x0600 /* GetTickCount64 */
#endif

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lc_client lc_client;

enum {
    LC_OK = 0,
    LC_EARG = -1,         /* a bad argument (NULL, NaN, a buffer too small) */
    LC_ENOMEM = -2,       /* out of memory */
    LC_ENOT_RUNNING = -3, /* no companion answers (events still go to the inbox) */
    LC_EIO = -4,          /* the connection broke, or the inbox could not be written */
    LC_ETIMEOUT = -5,     /* not every answer arrived in time (nothing is lost: see lc_close) */
    LC_EREFUSED = -6      /* the companion refused a request; lc_error has its code and field */
};

/* Opens a client for the product id ([product] id of the vendor configuration); NULL only
 * when out of memory. Connecting is attempted at once and again later when it fails. */
lc_client *lc_open(const char *product);
int lc_track_number(lc_client *c, const char *name, double value);
int lc_track_text(lc_client *c, const char *name, const char *text);
/* Waits up to timeout_ms until every event sent so far is acknowledged (or in the inbox). */
int lc_flush(lc_client *c, int timeout_ms);
/* Writes "valid", "invalid", "unknown" or "no-key" (unknown when no companion answers). */
int lc_license_state(lc_client *c, char *buf, size_t len);
/* Sends one raw request line (without its newline) and copies its answer line into answer. */
int lc_request(lc_client *c, const char *line, char *answer, size_t len, int timeout_ms);
/* The message of the last failure ("" when none). Valid until the next call. */
const char *lc_error(lc_client *c);
/* Flushes (2 s at most), moves what is still unacknowledged to the inbox, frees the client. */
void lc_close(lc_client *c);

#ifdef __cplusplus
}
#endif
#endif /* LICENSE_COMPANION_H */

#ifdef LICENSE_COMPANION_IMPLEMENTATION
#ifndef LICENSE_COMPANION_IMPLEMENTED
#define LICENSE_COMPANION_IMPLEMENTED

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#include <windows.h>
#include <sddl.h>
#include <direct.h>
#include <process.h>
typedef HANDLE lc__fd;
#define LC__NOFD INVALID_HANDLE_VALUE
#define LC__SEP "\\"
#else
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
typedef int lc__fd;
#define LC__NOFD (-1)
#define LC__SEP "/"
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif
#endif

#define LC__PATH 1024
#define LC__MAX_PENDING 200   /* unanswered requests before track waits for answers */
#define LC__RETRY_MS 1000     /* between connection attempts while the companion is away */

typedef struct {
    char *line;  /* the event's line for the inbox; NULL for a query */
    int query;   /* 1: its answer is kept in c->answer */
} lc__pending;

struct lc_client {
    char slug[256];
    char sock_path[LC__PATH];
    char inbox_dir[LC__PATH];
    char inbox_file[LC__PATH];
    char id_prefix[40];
    unsigned long long counter;
    lc__fd fd;
    double next_try;               /* monotonic ms: the next connection attempt */
    char *out; size_t out_len, out_cap;   /* bytes not yet written */
    char *in; size_t in_len, in_cap;      /* bytes read, not yet a whole line */
    lc__pending *pend; size_t pend_head, pend_len, pend_cap;  /* unanswered, in order */
    char *answer;                  /* the answer of the last query */
    int refused;                   /* refusals since the last flush */
    char err[512];
};

/* -- small helpers ---------------------------------------------------------------------- */

/* snprintf, cut to fit (paths longer than LC__PATH are not supported). */
static void lc__fmt(char *out, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
}

static int lc__fail(lc_client *c, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return code;
}

static double lc__now_ms(void) {
#ifdef _WIN32
    return (double)GetTickCount64();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
#endif
}

static int lc__grow(char **buf, size_t *cap, size_t need) {
    size_t n = *cap ? *cap : 4096;
    char *p;
    if (need <= *cap) return 0;
    while (n < need) n *= 2;
    p = (char *)realloc(*buf, n);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* The product id as it appears in paths: lower case letters, digits and dashes. */
static void lc__slug(const char *product, char *out, size_t len) {
    size_t n = 0;
    int dash = 0;
    for (; *product && n + 2 < len; product++) {
        unsigned char ch = (unsigned char)*product;
        if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (dash && n) out[n++] = '-';
            dash = 0;
            out[n++] = (char)ch;
        } else {
            dash = 1;
        }
    }
    out[n] = 0;
    if (!n) lc__fmt(out, len, "default");
}

static const char *lc__env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int lc__absolute(const char *p) {
#ifdef _WIN32
    return p && ((p[0] && p[1] == ':') || p[0] == '\\' || p[0] == '/');
#else
    return p && p[0] == '/';
#endif
}

/* Where the companion listens and where its inbox is, computed as app/client.py does. */
static void lc__paths(lc_client *c) {
    const char *home = lc__env("HOME"), *v;
    char base[LC__PATH];
    if ((v = lc__env("LICENSE_COMPANION_HOST_SOCKET"))) {
        lc__fmt(c->sock_path, sizeof c->sock_path, "%s", v);
    } else {
#ifdef _WIN32
        lc__fmt(c->sock_path, sizeof c->sock_path, "%s", "");
#else
        v = lc__env("XDG_RUNTIME_DIR");
        if (v && lc__absolute(v))
            lc__fmt(base, sizeof base, "%s", v);
        else
            lc__fmt(base, sizeof base, "/tmp/license-companion-%lu", (unsigned long)getuid());
        lc__fmt(c->sock_path, sizeof c->sock_path, "%s/license-companion-%s/host.sock", base,
                 c->slug);
#endif
    }
    if ((v = lc__env("LICENSE_COMPANION_HOME"))) {
        if (v[0] == '~' && (v[1] == '/' || !v[1]) && home)
            lc__fmt(base, sizeof base, "%s%s", home, v + 1);
        else
            lc__fmt(base, sizeof base, "%s", v);
#ifndef _WIN32
        {
            char *real = realpath(base, NULL); /* as Path.resolve() */
            if (real) lc__fmt(base, sizeof base, "%s", real);
            free(real);
        }
#endif
    } else {
#if defined(_WIN32)
        v = lc__env("LOCALAPPDATA");
        if (v && lc__absolute(v)) lc__fmt(base, sizeof base, "%s\\license-companion", v);
        else lc__fmt(base, sizeof base, "%s\\AppData\\Local\\license-companion",
                      lc__env("USERPROFILE") ? lc__env("USERPROFILE") : ".");
#elif defined(__APPLE__)
        lc__fmt(base, sizeof base, "%s/Library/Application Support/license-companion",
                 home ? home : ".");
#else
        v = lc__env("XDG_DATA_HOME");
        if (v && lc__absolute(v)) lc__fmt(base, sizeof base, "%s/license-companion", v);
        else lc__fmt(base, sizeof base, "%s/.local/share/license-companion", home ? home : ".");
#endif
    }
    lc__fmt(c->inbox_dir, sizeof c->inbox_dir, "%s" LC__SEP "inbox", base);
}

static void lc__random(unsigned char *buf, size_t len) {
    size_t i;
    unsigned long long x = (unsigned long long)time(NULL) ^ ((unsigned long long)clock() << 20);
#ifdef _WIN32
    x ^= (unsigned long long)_getpid() << 32;
    x ^= (unsigned long long)GetTickCount64();
#else
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        size_t got = fread(buf, 1, len, f);
        fclose(f);
        if (got == len) return;
    }
    x ^= (unsigned long long)getpid() << 32;
#endif
    x ^= (unsigned long long)(size_t)buf;
    for (i = 0; i < len; i++) {  /* splitmix64: only where no OS randomness could be read */
        unsigned long long z = (x += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        buf[i] = (unsigned char)(z ^ (z >> 31));
    }
}

static void lc__hex(const unsigned char *raw, size_t len, char *out) {
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < len; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * len] = 0;
}

/* -- the inbox -------------------------------------------------------------------------- */

static int lc__mkdirs(char *path) {
    char *p;
    for (p = path + 1; *p; p++) {
        if (*p == '/' || *p == '\\') {
            char keep = *p;
            *p = 0;
#ifdef _WIN32
            _mkdir(path);
#else
            mkdir(path, 0700);
#endif
            *p = keep;
        }
    }
#ifdef _WIN32
    return _mkdir(path) == 0 || errno == EEXIST ? 0 : -1;
#else
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
#endif
}

/* Appends whole lines durably (docs/host-protocol.md, "Fallback: the inbox"): lock, check the
 * name still is the file opened (else the companion claimed it: open again), write, sync. */
static int lc__inbox_append(lc_client *c, const char *data, size_t len) {
    char dir[LC__PATH];
    int attempt;
    lc__fmt(dir, sizeof dir, "%s", c->inbox_dir);
    if (lc__mkdirs(dir) != 0)
        return lc__fail(c, LC_EIO, "cannot create the inbox %s: %s", c->inbox_dir,
                        strerror(errno));
    for (attempt = 0; attempt < 20; attempt++) {
#ifdef _WIN32
        DWORD done = 0;
        /* Not shared for delete: the companion cannot rename it away while it is open. */
        HANDLE h = CreateFileA(c->inbox_file, FILE_APPEND_DATA, FILE_SHARE_READ |
                               FILE_SHARE_WRITE, NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE)
            return lc__fail(c, LC_EIO, "cannot open %s (error %lu)", c->inbox_file,
                            (unsigned long)GetLastError());
        if (!WriteFile(h, data, (DWORD)len, &done, NULL) || done != len ||
            !FlushFileBuffers(h)) {
            CloseHandle(h);
            return lc__fail(c, LC_EIO, "cannot write %s", c->inbox_file);
        }
        CloseHandle(h);
        return LC_OK;
#else
        struct stat opened, named;
        size_t off = 0;
        int fd = open(c->inbox_file, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd < 0)
            return lc__fail(c, LC_EIO, "cannot open %s: %s", c->inbox_file, strerror(errno));
        if (flock(fd, LOCK_EX) != 0 || fstat(fd, &opened) != 0 ||
            stat(c->inbox_file, &named) != 0 || opened.st_ino != named.st_ino) {
            close(fd);
            continue;  /* claimed by the companion meanwhile: a new file */
        }
        while (off < len) {
            ssize_t n = write(fd, data + off, len - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                close(fd);
                return lc__fail(c, LC_EIO, "cannot write %s: %s", c->inbox_file,
                                strerror(errno));
            }
            off += (size_t)n;
        }
        if (fsync(fd) != 0) {
            close(fd);
            return lc__fail(c, LC_EIO, "cannot sync %s: %s", c->inbox_file, strerror(errno));
        }
        close(fd);  /* releases the lock */
        return LC_OK;
#endif
    }
    return lc__fail(c, LC_EIO, "cannot append to %s: claimed again and again", c->inbox_file);
}

/* -- the connection --------------------------------------------------------------------- */

#ifdef _WIN32
/* The user SID (S-1-5-21-...) of a process token, as text. */
static int lc__token_sid(HANDLE token, char *out, size_t len) {
    union { TOKEN_USER user; unsigned char bytes[256]; } info;
    DWORD n = 0;
    LPSTR text = NULL;
    if (!GetTokenInformation(token, TokenUser, &info, sizeof info, &n)) return -1;
    if (!ConvertSidToStringSidA(info.user.User.Sid, &text)) return -1;
    lc__fmt(out, len, "%s", text);
    LocalFree(text);
    return 0;
}

static int lc__process_sid(HANDLE process, char *out, size_t len) {
    HANDLE token;
    int rc;
    if (!OpenProcessToken(process, TOKEN_QUERY, &token)) return -1;
    rc = lc__token_sid(token, out, len);
    CloseHandle(token);
    return rc;
}

/* The one place the pipe's name is made (docs/host-protocol.md, "Where the companion
 * listens"): \\.\pipe\license-companion-<product slug>-<user SID>. */
static void lc__pipe_name(const lc_client *c, char *out, size_t len) {
    char sid[192] = "unknown";
    lc__process_sid(GetCurrentProcess(), sid, sizeof sid);
    lc__fmt(out, len, "\\\\.\\pipe\\license-companion-%s-%s", c->slug, sid);
}

/* Whether the process serving the pipe runs as this user: nothing is sent otherwise. */
static int lc__server_is_us(HANDLE pipe, char *why, size_t len) {
    ULONG pid = 0;
    HANDLE process;
    char mine[192], theirs[192];
    if (!GetNamedPipeServerProcessId(pipe, &pid)) {
        lc__fmt(why, len, "cannot tell who serves the pipe (error %lu)", GetLastError());
        return 0;
    }
    process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (!process || lc__process_sid(process, theirs, sizeof theirs) != 0) {
        if (process) CloseHandle(process);
        lc__fmt(why, len, "cannot read the user of the pipe's server (pid %lu)", pid);
        return 0;
    }
    CloseHandle(process);
    if (lc__process_sid(GetCurrentProcess(), mine, sizeof mine) != 0 || strcmp(mine, theirs)) {
        lc__fmt(why, len, "the pipe is served by a process of another user (%s)", theirs);
        return 0;
    }
    return 1;
}
#endif

static void lc__disconnect(lc_client *c) {
    if (c->fd == LC__NOFD) return;
#ifdef _WIN32
    CloseHandle(c->fd);
#else
    close(c->fd);
#endif
    c->fd = LC__NOFD;
    c->in_len = 0;
    c->out_len = 0;
    c->next_try = lc__now_ms() + LC__RETRY_MS;
}

static int lc__connect(lc_client *c) {
    if (c->fd != LC__NOFD) return LC_OK;
    if (lc__now_ms() < c->next_try)
        return lc__fail(c, LC_ENOT_RUNNING, "no companion answers (tried less than 1 s ago)");
    c->next_try = lc__now_ms() + LC__RETRY_MS;
#ifdef _WIN32
    {
        char name[LC__PATH];
        HANDLE h;
        DWORD mode = PIPE_READMODE_BYTE;
        if (c->sock_path[0]) lc__fmt(name, sizeof name, "%s", c->sock_path);
        else lc__pipe_name(c, name, sizeof name);
        char why[256];
        /* Identification only: the server may learn who we are, never act as us. */
        h = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                        SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
        if (h == INVALID_HANDLE_VALUE)
            return lc__fail(c, LC_ENOT_RUNNING, "no companion answers at %s", name);
        if (!lc__server_is_us(h, why, sizeof why)) {
            CloseHandle(h);
            return lc__fail(c, LC_ENOT_RUNNING, "untrusted_endpoint: %s", why);
        }
        SetNamedPipeHandleState(h, &mode, NULL, NULL);
        c->fd = h;
    }
#else
    {
        struct sockaddr_un addr;
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) return lc__fail(c, LC_ENOT_RUNNING, "socket: %s", strerror(errno));
        memset(&addr, 0, sizeof addr);
        addr.sun_family = AF_UNIX;
        if (strlen(c->sock_path) >= sizeof addr.sun_path) {
            close(fd);
            return lc__fail(c, LC_ENOT_RUNNING, "the socket path is too long: %s", c->sock_path);
        }
        memcpy(addr.sun_path, c->sock_path, strlen(c->sock_path) + 1);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
#ifdef SO_NOSIGPIPE
        {
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
        }
#endif
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            int e = errno;
            close(fd);
            return lc__fail(c, LC_ENOT_RUNNING, "no companion answers at %s: %s", c->sock_path,
                            strerror(e));
        }
        c->fd = fd;
    }
#endif
    c->in_len = 0;
    c->out_len = 0;
    return LC_OK;
}

static lc__pending *lc__pend_at(lc_client *c, size_t i) {
    return &c->pend[(c->pend_head + i) % c->pend_cap];
}

static int lc__pend_push(lc_client *c, char *line, int query) {
    if (c->pend_len == c->pend_cap) {
        size_t n = c->pend_cap ? c->pend_cap * 2 : 256, i;
        lc__pending *p = (lc__pending *)malloc(n * sizeof *p);
        if (!p) return -1;
        for (i = 0; i < c->pend_len; i++) p[i] = *lc__pend_at(c, i);
        free(c->pend);
        c->pend = p;
        c->pend_cap = n;
        c->pend_head = 0;
    }
    lc__pend_at(c, c->pend_len)->line = line;
    lc__pend_at(c, c->pend_len)->query = query;
    c->pend_len++;
    return 0;
}

/* The connection broke: every event sent but not acknowledged goes to the inbox with its id
 * (the companion stores an id at most once, so one that did arrive is not stored twice). */
static int lc__failover(lc_client *c, const char *why) {
    size_t i, total = 0;
    char *all, *p;
    int rc = LC_OK;
    char reason[256];
    lc__fmt(reason, sizeof reason, "%s", why);
    lc__disconnect(c);
    for (i = 0; i < c->pend_len; i++)
        if (lc__pend_at(c, i)->line) total += strlen(lc__pend_at(c, i)->line);
    if (total) {
        all = (char *)malloc(total);
        if (!all) return lc__fail(c, LC_ENOMEM, "out of memory moving events to the inbox");
        for (p = all, i = 0; i < c->pend_len; i++) {
            const char *line = lc__pend_at(c, i)->line;
            if (line) {
                memcpy(p, line, strlen(line));
                p += strlen(line);
            }
        }
        rc = lc__inbox_append(c, all, total);
        free(all);
        if (rc != LC_OK) return rc;  /* kept in memory: the next flush or close tries again */
    }
    for (i = 0; i < c->pend_len; i++) free(lc__pend_at(c, i)->line);
    c->pend_len = 0;
    c->pend_head = 0;
    lc__fail(c, LC_EIO, "the connection broke (%s); unanswered events went to the inbox",
             reason);
    return rc;
}

/* The text of "key":"..." in a compact answer (first match), unescaped enough for messages. */
static void lc__field(const char *line, const char *key, char *out, size_t len) {
    char pat[64];
    const char *p;
    size_t n = 0;
    lc__fmt(pat, sizeof pat, "\"%s\":\"", key);
    out[0] = 0;
    p = strstr(line, pat);
    if (!p) return;
    for (p += strlen(pat); *p && *p != '"' && n + 1 < len; p++) {
        if (*p == '\\' && p[1]) p++;
        out[n++] = *p;
    }
    out[n] = 0;
}

static void lc__answered(lc_client *c, char *line) {
    lc__pending *head;
    if (strncmp(line, "{\"push\"", 7) == 0) return;  /* unasked, after watch: skipped */
    if (!c->pend_len) return;
    head = lc__pend_at(c, 0);
    if (head->query) {
        free(c->answer);
        c->answer = (char *)malloc(strlen(line) + 1);
        if (c->answer) memcpy(c->answer, line, strlen(line) + 1);
    } else if (strncmp(line, "{\"ok\":false", 11) == 0) {
        char code[64], message[300], field[100];
        lc__field(line, "code", code, sizeof code);
        lc__field(line, "message", message, sizeof message);
        lc__field(line, "field", field, sizeof field);
        c->refused++;
        lc__fail(c, LC_EREFUSED, "%s%s%s: %s", code, field[0] ? " " : "", field, message);
    }
    free(head->line);
    c->pend_head = (c->pend_head + 1) % c->pend_cap;
    c->pend_len--;
}

/* Writes what it can and reads what has come, waiting at most wait_ms (0: not at all). */
static int lc__pump(lc_client *c, int wait_ms) {
    char chunk[65536];
    long got = 0;
    if (c->fd == LC__NOFD) return LC_ENOT_RUNNING;
#ifdef _WIN32
    {
        DWORD n = 0, avail = 0;
        double end = lc__now_ms() + wait_ms;
        if (c->out_len) {
            if (!WriteFile(c->fd, c->out, (DWORD)c->out_len, &n, NULL))
                return lc__failover(c, "write failed");
            memmove(c->out, c->out + n, c->out_len - n);
            c->out_len -= n;
        }
        for (;;) {
            if (!PeekNamedPipe(c->fd, NULL, 0, NULL, &avail, NULL))
                return lc__failover(c, "the companion closed the pipe");
            if (avail || lc__now_ms() >= end) break;
            Sleep(1);
        }
        if (avail) {
            if (!ReadFile(c->fd, chunk, avail < sizeof chunk ? avail : sizeof chunk, &n, NULL))
                return lc__failover(c, "read failed");
            got = (long)n;
        }
    }
#else
    {
        struct pollfd pfd;
        pfd.fd = c->fd;
        pfd.events = POLLIN | (c->out_len ? POLLOUT : 0);
        pfd.revents = 0;
        if (poll(&pfd, 1, wait_ms) < 0) return errno == EINTR ? LC_OK : LC_EIO;
        if (c->out_len && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return lc__failover(c, strerror(errno));
            if (n > 0) {
                memmove(c->out, c->out + n, c->out_len - (size_t)n);
                c->out_len -= (size_t)n;
            }
        }
        if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
            ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);
            if (n == 0) return lc__failover(c, "the companion closed the connection");
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return lc__failover(c, strerror(errno));
            got = n > 0 ? (long)n : 0;
        }
    }
#endif
    if (got > 0) {
        char *start, *nl;
        if (lc__grow(&c->in, &c->in_cap, c->in_len + (size_t)got + 1))
            return lc__fail(c, LC_ENOMEM, "out of memory reading answers");
        memcpy(c->in + c->in_len, chunk, (size_t)got);
        c->in_len += (size_t)got;
        c->in[c->in_len] = 0;
        start = c->in;
        while ((nl = (char *)memchr(start, '\n', c->in_len - (size_t)(start - c->in)))) {
            *nl = 0;
            lc__answered(c, start);
            start = nl + 1;
        }
        c->in_len -= (size_t)(start - c->in);
        memmove(c->in, start, c->in_len);
    }
    return LC_OK;
}

/* Hands one line to the connection (or, for an event, to the inbox when none answers). */
static int lc__send(lc_client *c, const char *line, size_t len, int query) {
    char *copy = NULL;
    if (lc__connect(c) != LC_OK) {
        if (query) return LC_ENOT_RUNNING;
        return lc__inbox_append(c, line, len);
    }
    while (c->pend_len >= LC__MAX_PENDING && c->fd != LC__NOFD) lc__pump(c, 100);
    if (c->fd == LC__NOFD) return lc__send(c, line, len, query);
    if (!query) {
        copy = (char *)malloc(len + 1);
        if (!copy) return lc__fail(c, LC_ENOMEM, "out of memory");
        memcpy(copy, line, len + 1);
    }
    if (lc__grow(&c->out, &c->out_cap, c->out_len + len) || lc__pend_push(c, copy, query)) {
        free(copy);
        return lc__fail(c, LC_ENOMEM, "out of memory");
    }
    memcpy(c->out + c->out_len, line, len);
    c->out_len += len;
    lc__pump(c, 0);
    return LC_OK;
}

/* -- JSON text -------------------------------------------------------------------------- */

static int lc__put(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (lc__grow(buf, cap, *len + n + 1)) return -1;
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

static int lc__put_string(char **buf, size_t *len, size_t *cap, const char *s) {
    char esc[8];
    if (lc__put(buf, len, cap, "\"", 1)) return -1;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            if (lc__put(buf, len, cap, esc, 2)) return -1;
        } else if (ch < 0x20 || ch == 0x7f) {
            lc__fmt(esc, sizeof esc, "\\u%04x", ch);
            if (lc__put(buf, len, cap, esc, 6)) return -1;
        } else if (lc__put(buf, len, cap, s, 1)) {
            return -1;
        }
    }
    return lc__put(buf, len, cap, "\"", 1);
}

static int lc__track(lc_client *c, const char *name, const char *key, const char *value,
                     int quote) {
    char *line = NULL, id[80];
    size_t len = 0, cap = 0;
    int rc;
    if (!c || !name) return c ? lc__fail(c, LC_EARG, "name must not be NULL") : LC_EARG;
    lc__fmt(id, sizeof id, "\"%s-%llu\"", c->id_prefix, ++c->counter);
    if (lc__put(&line, &len, &cap, "{\"op\":\"track\",\"name\":", 21) ||
        lc__put_string(&line, &len, &cap, name) ||
        lc__put(&line, &len, &cap, ",\"", 2) || lc__put(&line, &len, &cap, key, strlen(key)) ||
        lc__put(&line, &len, &cap, "\":", 2) ||
        (quote ? lc__put_string(&line, &len, &cap, value)
               : lc__put(&line, &len, &cap, value, strlen(value))) ||
        lc__put(&line, &len, &cap, ",\"event_id\":", 12) ||
        lc__put(&line, &len, &cap, id, strlen(id)) || lc__put(&line, &len, &cap, "}\n", 2)) {
        free(line);
        return lc__fail(c, LC_ENOMEM, "out of memory");
    }
    rc = lc__send(c, line, len, 0);
    free(line);
    return rc;
}

/* -- the API ---------------------------------------------------------------------------- */

lc_client *lc_open(const char *product) {
    unsigned char raw[8];
    char hex[20];
    lc_client *c = (lc_client *)calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = LC__NOFD;
    lc__slug(product ? product : "", c->slug, sizeof c->slug);
    lc__paths(c);
    lc__random(raw, sizeof raw);
    lc__hex(raw, sizeof raw, hex);
    lc__fmt(c->id_prefix, sizeof c->id_prefix, "c-%s", hex);
#ifdef _WIN32
    lc__fmt(c->inbox_file, sizeof c->inbox_file, "%s\\%d-%s.jsonl", c->inbox_dir, _getpid(),
             hex);
#else
    lc__fmt(c->inbox_file, sizeof c->inbox_file, "%s/%ld-%s.jsonl", c->inbox_dir,
             (long)getpid(), hex);
#endif
    lc__connect(c);
    c->err[0] = 0;
    return c;
}

int lc_track_number(lc_client *c, const char *name, double value) {
    char num[40], *p;
    if (!c) return LC_EARG;
    if (isnan(value) || isinf(value))
        return lc__fail(c, LC_EARG, "value must be a finite number");
    lc__fmt(num, sizeof num, "%.17g", value);
    for (p = num; *p; p++)
        if (*p == ',') *p = '.';  /* a decimal comma from the host's locale */
    return lc__track(c, name, "value", num, 0);
}

int lc_track_text(lc_client *c, const char *name, const char *text) {
    if (!c) return LC_EARG;
    if (!text) return lc__fail(c, LC_EARG, "text must not be NULL");
    return lc__track(c, name, "text", text, 1);
}

int lc_flush(lc_client *c, int timeout_ms) {
    double end;
    int refused;
    if (!c) return LC_EARG;
    end = lc__now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    while (c->pend_len && c->fd != LC__NOFD) {
        double left = end - lc__now_ms();
        if (left <= 0) return lc__fail(c, LC_ETIMEOUT, "%lu answers still outstanding",
                                       (unsigned long)c->pend_len);
        lc__pump(c, left > 100 ? 100 : (int)left + 1);
    }
    if (c->pend_len) {  /* kept after a failed inbox write: try it once more */
        int rc = lc__failover(c, "no connection");
        if (rc != LC_OK) return rc;
    }
    refused = c->refused;
    c->refused = 0;
    if (refused) return LC_EREFUSED;  /* lc_error has the last refusal */
    return LC_OK;
}

int lc_request(lc_client *c, const char *line, char *answer, size_t len, int timeout_ms) {
    char *copy;
    size_t n;
    double end;
    int rc;
    if (!c || !line || !answer || !len) return c ? lc__fail(c, LC_EARG, "bad argument")
                                                 : LC_EARG;
    n = strlen(line);
    copy = (char *)malloc(n + 2);
    if (!copy) return lc__fail(c, LC_ENOMEM, "out of memory");
    memcpy(copy, line, n);
    copy[n] = '\n';
    copy[n + 1] = 0;
    free(c->answer);
    c->answer = NULL;
    rc = lc__send(c, copy, n + 1, 1);
    free(copy);
    if (rc != LC_OK) return rc;
    end = lc__now_ms() + timeout_ms;
    while (!c->answer && c->fd != LC__NOFD && lc__now_ms() < end) lc__pump(c, 50);
    if (!c->answer)
        return c->fd == LC__NOFD ? LC_EIO : lc__fail(c, LC_ETIMEOUT, "no answer in time");
    if (strlen(c->answer) + 1 > len) return lc__fail(c, LC_EARG, "the answer buffer is small");
    memcpy(answer, c->answer, strlen(c->answer) + 1);
    return LC_OK;
}

int lc_license_state(lc_client *c, char *buf, size_t len) {
    char line[65536], state[32];
    int rc;
    if (!c || !buf || len < 8) return c ? lc__fail(c, LC_EARG, "a buffer of 8 bytes at least")
                                        : LC_EARG;
    lc__fmt(buf, len, "unknown");
    rc = lc_request(c, "{\"op\":\"license\"}", line, sizeof line, 5000);
    if (rc != LC_OK) return rc;
    lc__field(line, "state", state, sizeof state);
    if (strncmp(line, "{\"ok\":true", 10) != 0 || !state[0])
        return lc__fail(c, LC_EREFUSED, "license: %.400s", line);
    lc__fmt(buf, len, "%s", state);
    return LC_OK;
}

const char *lc_error(lc_client *c) {
    return c ? c->err : "no client (lc_open returned NULL: out of memory)";
}

void lc_close(lc_client *c) {
    size_t i;
    if (!c) return;
    lc_flush(c, 2000);
    if (c->pend_len) lc__failover(c, "closing");
    lc__disconnect(c);
    for (i = 0; i < c->pend_len; i++) free(lc__pend_at(c, i)->line);
    free(c->pend);
    free(c->out);
    free(c->in);
    free(c->answer);
    free(c);
}

#endif /* LICENSE_COMPANION_IMPLEMENTED */
#endif /* LICENSE_COMPANION_IMPLEMENTATION */
