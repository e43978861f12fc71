/* SPDX-License-Identifier: MIT */
/*
 * A scripted-guest client, the same for xensim and QEMU: send N pairs of
 * "outl 0xcf8 ADDR" + "inl 0xcfc" (a PCI config read of the vendor/device
 * id) on a qtest socket, one line at a time waiting for each reply, as
 * libqtest does. Prints "pairs_per_s last_reply".
 *   qtest-pairs connect PATH N   connect to a listening socket (xensim)
 *   qtest-pairs listen PATH N    listen and accept one connection (QEMU's
 *                                -qtest unix:PATH connects as a client)
 *   qtest-pairs echo PATH N      against a forked process that answers every
 *                                line at once, doing nothing else: the floor
 *                                of one socket round trip per line
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 256

struct conn {
    int fd;
    char buf[4096];
    size_t len;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void send_all(struct conn *c, const char *text, size_t len)
{
    while (len) {
        ssize_t n = write(c->fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("write");
        text += n;
        len -= (size_t)n;
    }
}

/* Next reply line, skipping asynchronous ones (QEMU's "IRQ ..."). */
static void read_reply(struct conn *c, char *out)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t line_len = (size_t)(nl - c->buf);
            size_t copy = line_len < LINE_MAX_LEN - 1 ? line_len : LINE_MAX_LEN - 1;
            memcpy(out, c->buf, copy);
            out[copy] = '\0';
            c->len -= line_len + 1;
            memmove(c->buf, nl + 1, c->len);
            if (strncmp(out, "IRQ", 3) != 0)
                return;
            continue;
        }
        if (c->len == sizeof(c->buf))
            c->len = 0; /* an overlong line: drop it */
        ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "qtest-pairs: connection closed\n");
            exit(1);
        }
        c->len += (size_t)n;
    }
}

static int open_socket(const char *mode, const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "qtest-pairs: path too long\n");
        exit(2);
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (strcmp(mode, "connect") == 0) {
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
            die("connect");
        return fd;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0)
        die("bind/listen");
    printf("listening\n");
    fflush(stdout);
    int conn = accept(fd, NULL, NULL);
    if (conn < 0)
        die("accept");
    close(fd);
    return conn;
}

/* The echo peer: "OK" to outl, the i440FX id to inl, nothing else done. */
static void echo_server(int listen_fd)
{
    struct conn c = { .fd = accept(listen_fd, NULL, NULL) };
    char line[LINE_MAX_LEN];

    if (c.fd < 0)
        die("accept");
    for (;;) {
        read_reply(&c, line);
        if (strncmp(line, "inl", 3) == 0)
            send_all(&c, "OK 0x12378086\n", 14);
        else
            send_all(&c, "OK\n", 3);
    }
}

static int start_echo(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    if (fd < 0 || strlen(path) >= sizeof(addr.sun_path))
        die("socket");
    strcpy(addr.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0)
        die("bind/listen");
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        /* It ends when the client closes; read_reply says so, quietly. */
        if (!freopen("/dev/null", "w", stderr))
            _exit(1);
        echo_server(fd);
    }
    close(fd);
    return open_socket("connect", path);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "connect") && strcmp(argv[1], "listen") &&
                      strcmp(argv[1], "echo"))) {
        fprintf(stderr, "usage: %s connect|listen|echo PATH N\n", argv[0]);
        return 2;
    }
    long pairs = strtol(argv[3], NULL, 10);
    if (pairs <= 0) {
        fprintf(stderr, "qtest-pairs: N must be positive\n");
        return 2;
    }
    bool echo = strcmp(argv[1], "echo") == 0;
    struct conn c = { .fd = echo ? start_echo(argv[2]) : open_socket(argv[1], argv[2]) };
    char reply[LINE_MAX_LEN];
    /* config address: enable bit, bus 0, device 0, function 0, register 0 */
    static const char out_line[] = "outl 0xcf8 0x80000000\n";
    static const char in_line[] = "inl 0xcfc\n";

    uint64_t start = now_ns();
    for (long i = 0; i < pairs; i++) {
        send_all(&c, out_line, sizeof(out_line) - 1);
        read_reply(&c, reply);
        if (strncmp(reply, "OK", 2) != 0) {
            fprintf(stderr, "qtest-pairs: outl answered '%s'\n", reply);
            return 1;
        }
        send_all(&c, in_line, sizeof(in_line) - 1);
        read_reply(&c, reply);
        if (strncmp(reply, "OK", 2) != 0) {
            fprintf(stderr, "qtest-pairs: inl answered '%s'\n", reply);
            return 1;
        }
    }
    uint64_t took = now_ns() - start;
    printf("%.0f %s\n", (double)pairs * 1e9 / (double)(took ? took : 1), reply);
    close(c.fd);
    if (echo)
        wait(NULL);
    return 0;
}
