/*
 * wharf-shim: the monitor that stays with one container for its whole life.
 *
 * wharfd starts one per container and may die or restart while it runs: the shim holds the
 * container's stdio, writes its json-file log, serves attach clients and records the exit
 * status, so nothing depends on the daemon being there. It is small on purpose (the issue's
 * budget is < 1 MiB of PSS per container): one thread, one poll loop, fixed buffers.
 *
 * Contract with the daemon (src/wharf/engine/shim.py):
 *
 *   wharf-shim --id ID --bundle DIR --runtime PATH --runtime-root DIR --state-dir DIR --sync-fd N
 *              [--tty] [--stdin] [--stdin-once] [--log-path FILE] [--log-max-size BYTES]
 *              [--log-max-files N]
 *
 *   STATE_DIR/attach.sock  unix stream socket. Every client gets the container's output framed
 *                          as Docker's stdcopy: [stream 1|2, 0, 0, 0, uint32 BE length] + bytes
 *                          (tty: always 1). Bytes a client sends go to the container's stdin; a
 *                          client's EOF closes that stdin when --stdin-once was given. A client
 *                          that cannot keep up is dropped: it never blocks the container.
 *   STATE_DIR/ctl          FIFO of lines: "resize ROWS COLS", "close-stdin".
 *   STATE_DIR/exit         written atomically once the container's init has exited:
 *                          {"exitCode":N,"signal":S,"exitedAt":"RFC3339Nano"} (128+S when killed).
 *   sync fd                "ok <container pid>\n" once `runtime create` succeeded, else
 *                          "error <the runtime's last line>\n" and exit 1.
 *
 * The daemon runs `runtime start` itself. The shim is the container's subreaper: init is
 * re-parented to it when the runtime's intermediate process exits.
 *
 * Adopting (--init-pid N --stdout-fd A --stderr-fd B [--stdin-fd C] [--master-fd M]): the
 * container was already created by the process that executes this shim (wharf's warm spawner,
 * src/wharf/runtime/spawner.py, which forks, creates the container in-process and then executes
 * the shim in place, so init is already our child). The shim runs no runtime then: it takes the
 * read ends of the container's output (or the pty master), the write end of its stdin, and
 * goes straight to "ok N". SIGCHLD arrives blocked and pending across the exec, if init has
 * already exited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32
#define LINE_MAX_BYTES (16 * 1024)
#define READ_CHUNK (32 * 1024)

struct opts {
    const char *id, *bundle, *runtime, *runtime_root, *state_dir, *log_path;
    int sync_fd, tty, use_stdin, stdin_once, max_files;
    int init_pid, adopt_out, adopt_err, adopt_in, adopt_master;
    long long max_size;
};

struct stream {
    int fd;             /* read end of the container's output, -1 when closed */
    int kind;           /* 1 stdout, 2 stderr */
    const char *name;
    char line[LINE_MAX_BYTES];
    size_t len;
};

static struct opts o;
static int clients[MAX_CLIENTS];
static int client_reading[MAX_CLIENTS];
static int nclients;
static int stdin_fd = -1; /* where client input goes: pipe write end or pty master */
static int master_fd = -1;
static int log_fd = -1;
static long long log_size;

/* WHARF_TRACE=FILE (inherited from wharfd): one line per event, as src/wharf/base/trace.py */
static void trace_mark(const char *event) {
    static int fd = -2;
    if (fd == -2) {
        const char *path = getenv("WHARF_TRACE");
        fd = path && *path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
    }
    if (fd < 0)
        return;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    dprintf(fd, "%lld %d shim %s\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec, (int)getpid(), event);
}

static void die(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o.sync_fd >= 0) {
        dprintf(o.sync_fd, "error %s\n", msg);
        close(o.sync_fd);
    }
    _exit(1);
}

/* The shim works in its state dir (chdir at start) and names its files relative to it: a unix
 * socket path must fit in 108 bytes, and a state dir under a long exec root would not. */
static void path_in_state(char *buf, size_t n, const char *name) {
    if ((size_t)snprintf(buf, n, "%s", name) >= n)
        die("name too long");
}

static void rfc3339nano(char *buf, size_t n) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%09ldZ", ts.tv_nsec);
}

/* ---- json-file log ---- */

static void log_open(void) {
    log_fd = open(o.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0)
        die("open %s: %s", o.log_path, strerror(errno));
    struct stat st;
    log_size = fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

static void log_rotate(void) {
    char from[4096], to[4096];
    close(log_fd);
    if (o.max_files <= 1) {
        if (truncate(o.log_path, 0) != 0) { /* nothing more to do: the next open appends */
        }
    } else {
        for (int i = o.max_files - 1; i >= 1; i--) {
            if (i == 1)
                snprintf(from, sizeof from, "%s", o.log_path);
            else
                snprintf(from, sizeof from, "%s.%d", o.log_path, i - 1);
            snprintf(to, sizeof to, "%s.%d", o.log_path, i);
            rename(from, to);
        }
    }
    log_open();
}

/* Go's encoding/json escaping: quotes, backslash, control chars, <, >, &, U+2028/9, bad UTF-8. */
static size_t json_escape(char *out, const unsigned char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                out[k++] = '\\';
                out[k++] = (char)c;
            } else if (c == '\n') {
                out[k++] = '\\', out[k++] = 'n';
            } else if (c == '\r') {
                out[k++] = '\\', out[k++] = 'r';
            } else if (c == '\t') {
                out[k++] = '\\', out[k++] = 't';
            } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                memcpy(out + k, "\\u00", 4);
                k += 4;
                out[k++] = hex[c >> 4];
                out[k++] = hex[c & 15];
            } else {
                out[k++] = (char)c;
            }
            i++;
            continue;
        }
        size_t len = 0;
        uint32_t cp = 0;
        if ((c & 0xE0) == 0xC0 && c >= 0xC2)
            len = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            len = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0 && c <= 0xF4)
            len = 4, cp = c & 0x07;
        int ok = len > 0 && i + len <= n;
        for (size_t j = 1; ok && j < len; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                ok = 0;
            else
                cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                   (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))))
            ok = 0;
        if (!ok) {
            memcpy(out + k, "\\ufffd", 6);
            k += 6;
            i++;
        } else if (cp == 0x2028 || cp == 0x2029) {
            k += (size_t)sprintf(out + k, "\\u%04x", cp);
            i += len;
        } else {
            memcpy(out + k, s + i, len);
            k += len;
            i += len;
        }
    }
    return k;
}

static void log_entry(const char *stream, const char *data, size_t n) {
    if (log_fd < 0)
        return;
    static char buf[LINE_MAX_BYTES * 6 + 256];
    char ts[64];
    rfc3339nano(ts, sizeof ts);
    size_t k = (size_t)sprintf(buf, "{\"log\":\"");
    k += json_escape(buf + k, (const unsigned char *)data, n);
    k += (size_t)sprintf(buf + k, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, ts);
    if (o.max_size > 0 && log_size > 0 && log_size + (long long)k > o.max_size)
        log_rotate();
    ssize_t w = write(log_fd, buf, k);
    if (w > 0)
        log_size += w;
}

/* ---- attach clients ---- */

static void drop_client(int i) {
    close(clients[i]);
    clients[i] = clients[nclients - 1];
    client_reading[i] = client_reading[nclients - 1];
    nclients--;
}

static void broadcast(int kind, const char *data, size_t n) {
    unsigned char head[8] = {(unsigned char)(o.tty ? 1 : kind), 0, 0, 0, (unsigned char)(n >> 24),
                             (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
    struct iovec iov[2] = {{head, 8}, {(void *)data, n}};
    for (int i = 0; i < nclients;) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t w = sendmsg(clients[i], &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w != (ssize_t)(n + 8)) {
            drop_client(i); /* too slow or gone: never block the container */
            continue;
        }
        i++;
    }
}

/* ---- output ---- */

static void stream_flush(struct stream *s) {
    if (s->len) {
        log_entry(s->name, s->line, s->len);
        s->len = 0;
    }
}

static void stream_feed(struct stream *s, const char *data, size_t n) {
    broadcast(s->kind, data, n);
    for (size_t i = 0; i < n; i++) {
        s->line[s->len++] = data[i];
        if (data[i] == '\n' || s->len == sizeof s->line)
            stream_flush(s);
    }
}

static int stream_read(struct stream *s) {
    char buf[READ_CHUNK];
    ssize_t r = read(s->fd, buf, sizeof buf);
    if (r > 0) {
        stream_feed(s, buf, (size_t)r);
        return 1;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 1;
    stream_flush(s); /* EOF (or EIO on a pty whose slave side closed) */
    close(s->fd);
    s->fd = -1;
    return 0;
}

/* ---- ctl ---- */

static void close_stdin(void) {
    if (stdin_fd >= 0 && stdin_fd != master_fd) {
        close(stdin_fd);
        stdin_fd = -1;
    } else if (stdin_fd >= 0 && master_fd >= 0) {
        char eot = 4; /* ^D: end of input on a terminal */
        if (write(master_fd, &eot, 1) < 0) {
        }
    }
}

static void ctl_read(int fd) {
    static char buf[256];
    static size_t len;
    ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
    if (r <= 0)
        return;
    len += (size_t)r;
    char *nl;
    while ((nl = memchr(buf, '\n', len)) != NULL) {
        *nl = 0;
        unsigned rows, cols;
        if (sscanf(buf, "resize %u %u", &rows, &cols) == 2 && master_fd >= 0) {
            struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
            ioctl(master_fd, TIOCSWINSZ, &ws);
        } else if (strcmp(buf, "close-stdin") == 0) {
            close_stdin();
        }
        size_t used = (size_t)(nl - buf) + 1;
        memmove(buf, nl + 1, len - used);
        len -= used;
    }
    if (len == sizeof buf - 1)
        len = 0;
}

/* ---- console socket ---- */

static int recv_fd(int sock) {
    char byte[256];
    char ctrl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {byte, sizeof byte};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof ctrl};
    if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) < 0)
        return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd;
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
            return fd;
        }
    return -1;
}

static int listen_unix(const char *path, int backlog) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (s < 0 || strlen(path) >= sizeof a.sun_path)
        die("socket %s: %s", path, s < 0 ? strerror(errno) : "path too long");
    strcpy(a.sun_path, path);
    unlink(path);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, backlog) != 0)
        die("listen %s: %s", path, strerror(errno));
    return s;
}

/* ---- main ---- */

static void parse(int argc, char **argv) {
    o.sync_fd = -1;
    o.max_files = 1;
    o.adopt_out = o.adopt_err = o.adopt_in = o.adopt_master = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL(flag, field)                                                                             \
    if (strcmp(a, flag) == 0 && v) {                                                                 \
        field = v;                                                                                   \
        i++;                                                                                         \
        continue;                                                                                    \
    }
        VAL("--id", o.id)
        VAL("--bundle", o.bundle)
        VAL("--runtime", o.runtime)
        VAL("--runtime-root", o.runtime_root)
        VAL("--state-dir", o.state_dir)
        VAL("--log-path", o.log_path)
#undef VAL
#define NUM(flag, field, conv)                                                                       \
    if (strcmp(a, flag) == 0 && v) {                                                                 \
        field = conv(v);                                                                             \
        i++;                                                                                         \
        continue;                                                                                    \
    }
        NUM("--sync-fd", o.sync_fd, atoi)
        NUM("--log-max-size", o.max_size, atoll)
        NUM("--log-max-files", o.max_files, atoi)
        NUM("--init-pid", o.init_pid, atoi)
        NUM("--stdout-fd", o.adopt_out, atoi)
        NUM("--stderr-fd", o.adopt_err, atoi)
        NUM("--stdin-fd", o.adopt_in, atoi)
        NUM("--master-fd", o.adopt_master, atoi)
#undef NUM
        if (strcmp(a, "--tty") == 0) {
            o.tty = 1;
        } else if (strcmp(a, "--stdin") == 0) {
            o.use_stdin = 1;
        } else if (strcmp(a, "--stdin-once") == 0) {
            o.stdin_once = 1;
        } else {
            die("unknown argument %s", a);
        }
    }
    if (!o.id || !o.bundle || !o.runtime || !o.runtime_root || !o.state_dir)
        die("usage: wharf-shim --id ID --bundle DIR --runtime PATH --runtime-root DIR --state-dir DIR "
            "--sync-fd N [--tty] [--stdin] [--stdin-once] [--log-path F] [--log-max-size N] "
            "[--log-max-files N]");
}

static void write_exit(int status) {
    char path[4096], tmp[4096], ts[64], buf[256];
    int code = 255, sig = 0;
    if (WIFEXITED(status))
        code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        sig = WTERMSIG(status), code = 128 + sig;
    rfc3339nano(ts, sizeof ts);
    int n = snprintf(buf, sizeof buf, "{\"exitCode\":%d,\"signal\":%d,\"exitedAt\":\"%s\"}\n", code, sig, ts);
    path_in_state(path, sizeof path, "exit");
    path_in_state(tmp, sizeof tmp, "exit.tmp");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (write(fd, buf, (size_t)n) == n)
        fsync(fd);
    close(fd);
    rename(tmp, path);
}

/* `runtime create` as our child: the container's stdio made here; init is re-parented to us
 * (the subreaper) when the runtime's intermediate process exits. Returns init's pid. */
static pid_t create_container(struct stream *outp, struct stream *errp, sigset_t *maskp, int sig_fd,
                              const char *pid_path, const char *console_path) {
    unlink(pid_path);
    int child_in = -1, child_out = -1, child_err = -1, console_fd = -1;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (o.tty) {
        console_fd = listen_unix(console_path, 1);
        child_in = child_out = child_err = devnull;
    } else {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            die("pipe: %s", strerror(errno));
        outp->fd = p[0], child_out = p[1];
        if (pipe2(p, O_CLOEXEC) != 0)
            die("pipe: %s", strerror(errno));
        errp->fd = p[0], child_err = p[1];
        if (o.use_stdin) {
            if (pipe2(p, O_CLOEXEC) != 0)
                die("pipe: %s", strerror(errno));
            child_in = p[0], stdin_fd = p[1];
        } else {
            child_in = devnull;
        }
    }

    trace_mark("runtime create");
    pid_t rt = fork();
    if (rt < 0)
        die("fork: %s", strerror(errno));
    if (rt == 0) {
        sigprocmask(SIG_UNBLOCK, maskp, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        dup2(child_in, 0);
        dup2(child_out, 1);
        dup2(child_err, 2);
        const char *args[16];
        int k = 0;
        args[k++] = o.runtime;
        args[k++] = "--root";
        args[k++] = o.runtime_root;
        args[k++] = "create";
        args[k++] = "--bundle";
        args[k++] = o.bundle;
        args[k++] = "--pid-file";
        args[k++] = pid_path;
        if (o.tty) {
            args[k++] = "--console-socket";
            args[k++] = console_path;
        }
        args[k++] = o.id;
        args[k] = NULL;
        execv(o.runtime, (char *const *)args);
        dprintf(2, "exec %s: %s\n", o.runtime, strerror(errno));
        _exit(127);
    }
    if (!o.tty) {
        close(child_out);
        close(child_err);
        if (child_in != devnull)
            close(child_in);
    }

    /* wait for `runtime create`, taking the console on the way when there is one */
    int rt_status = 0, rt_done = 0;
    while (!rt_done) {
        struct pollfd p[2] = {{sig_fd, POLLIN, 0}, {console_fd, POLLIN, 0}};
        if (poll(p, console_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        if (console_fd >= 0 && (p[1].revents & POLLIN)) {
            int c = accept4(console_fd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                master_fd = recv_fd(c);
                close(c);
            }
            close(console_fd);
            console_fd = -1;
            unlink(console_path);
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sig_fd, &si, sizeof si) > 0) {
            }
            if (waitpid(rt, &rt_status, WNOHANG) == rt)
                rt_done = 1;
        }
    }
    trace_mark("runtime create exited");
    if (!WIFEXITED(rt_status) || WEXITSTATUS(rt_status) != 0) {
        /* the container never ran: what its stderr holds is the runtime's error */
        char buf[4096] = {0};
        ssize_t n = errp->fd >= 0 ? read(errp->fd, buf, sizeof buf - 1) : 0;
        if (n <= 0 && outp->fd >= 0)
            n = read(outp->fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            buf[--n] = 0;
        char *last = strrchr(buf, '\n');
        die("%s", last ? last + 1 : (buf[0] ? buf : "runtime create failed"));
    }
    if (console_fd >= 0)
        close(console_fd), unlink(console_path);
    char pidbuf[32] = {0};
    int pf = open(pid_path, O_RDONLY | O_CLOEXEC);
    if (pf < 0 || read(pf, pidbuf, sizeof pidbuf - 1) <= 0)
        die("no pid file from the runtime");
    close(pf);
    return (pid_t)atoi(pidbuf);
}

int main(int argc, char **argv) {
    trace_mark("started");
    parse(argc, argv);
    if (chdir(o.state_dir) != 0) {
        die("chdir %s: %s", o.state_dir, strerror(errno));
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (o.log_path)
        log_open();

    char attach_path[4096], ctl_path[4096], console_path[4096], pid_path[4096];
    path_in_state(attach_path, sizeof attach_path, "attach.sock");
    path_in_state(ctl_path, sizeof ctl_path, "ctl");
    path_in_state(console_path, sizeof console_path, "console.sock");
    path_in_state(pid_path, sizeof pid_path, "pid");
    int attach_fd = listen_unix(attach_path, 16);
    fcntl(attach_fd, F_SETFL, O_NONBLOCK);
    unlink(ctl_path);
    if (mkfifo(ctl_path, 0600) != 0)
        die("mkfifo %s: %s", ctl_path, strerror(errno));
    int ctl_fd = open(ctl_path, O_RDWR | O_NONBLOCK | O_CLOEXEC); /* RDWR: never sees EOF */

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    struct stream out = {.fd = -1, .kind = 1, .name = "stdout"};
    struct stream err = {.fd = -1, .kind = 2, .name = "stderr"};
    pid_t init;
    if (o.init_pid > 0) {
        trace_mark("adopted");
        const int inherited[] = {o.adopt_out, o.adopt_err, o.adopt_in, o.adopt_master, o.sync_fd};
        for (size_t k = 0; k < sizeof inherited / sizeof inherited[0]; k++)
            if (inherited[k] >= 0)
                fcntl(inherited[k], F_SETFD, FD_CLOEXEC); /* the container's log readers never get them */
        init = o.init_pid;
        if (o.tty)
            master_fd = o.adopt_master;
        else
            out.fd = o.adopt_out, err.fd = o.adopt_err, stdin_fd = o.adopt_in;
    } else {
        init = create_container(&out, &err, &mask, sig_fd, pid_path, console_path);
    }
    if (o.tty) { /* the pty master, sent by the runtime's init: the output and the input */
        if (master_fd < 0)
            die("the runtime sent no console");
        out.fd = stdin_fd = master_fd;
        fcntl(master_fd, F_SETFL, O_NONBLOCK);
    }
    dprintf(o.sync_fd, "ok %d\n", init);
    close(o.sync_fd);
    o.sync_fd = -1;
    if (out.fd >= 0)
        fcntl(out.fd, F_SETFL, O_NONBLOCK);
    if (err.fd >= 0)
        fcntl(err.fd, F_SETFL, O_NONBLOCK);

    int exited = 0, status = 0;
    struct timespec exit_at = {0};
    for (;;) {
        struct pollfd p[5 + MAX_CLIENTS];
        int n = 0;
        p[n++] = (struct pollfd){sig_fd, POLLIN, 0};
        p[n++] = (struct pollfd){attach_fd, POLLIN, 0};
        p[n++] = (struct pollfd){ctl_fd, POLLIN, 0};
        p[n++] = (struct pollfd){out.fd, POLLIN, 0};
        p[n++] = (struct pollfd){err.fd, POLLIN, 0};
        for (int i = 0; i < nclients; i++)
            p[n++] = (struct pollfd){client_reading[i] ? clients[i] : -1, POLLIN, 0};
        int timeout = -1;
        if (exited) {
            if (out.fd < 0 && err.fd < 0)
                break;
            /* init is gone; its orphans may still hold the pipes: give them a moment */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long waited = (now.tv_sec - exit_at.tv_sec) * 1000 + (now.tv_nsec - exit_at.tv_nsec) / 1000000;
            if (waited >= 300)
                break;
            timeout = (int)(300 - waited);
        }
        int r = poll(p, (nfds_t)n, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sig_fd, &si, sizeof si) > 0) {
            }
            pid_t w;
            int st;
            while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                if (w == init && !exited) {
                    exited = 1, status = st;
                    clock_gettime(CLOCK_MONOTONIC, &exit_at);
                    trace_mark("init exited");
                }
        }
        if (p[1].revents & POLLIN) {
            int c;
            while ((c = accept4(attach_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                if (nclients == MAX_CLIENTS) {
                    close(c);
                    continue;
                }
                clients[nclients] = c;
                client_reading[nclients++] = 1;
            }
        }
        if (p[2].revents & POLLIN)
            ctl_read(ctl_fd);
        if (out.fd >= 0 && (p[3].revents & (POLLIN | POLLHUP | POLLERR)))
            stream_read(&out);
        if (err.fd >= 0 && (p[4].revents & (POLLIN | POLLHUP | POLLERR)))
            stream_read(&err);
        for (int i = 0, k = 5; i < nclients; i++, k++) {
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[READ_CHUNK];
            ssize_t got = read(clients[i], buf, sizeof buf);
            if (got > 0) {
                if (stdin_fd >= 0 && write(stdin_fd, buf, (size_t)got) < 0) {
                    /* the container closed its stdin: drop the input */
                }
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                client_reading[i] = 0;
                if (o.stdin_once)
                    close_stdin();
            }
        }
    }
    trace_mark("output drained");
    stream_flush(&out);
    stream_flush(&err);
    if (log_fd >= 0)
        fsync(log_fd);
    write_exit(status);
    trace_mark("exit written");
    for (int i = 0; i < nclients; i++)
        close(clients[i]);
    unlink(attach_path);
    return 0;
}
