/*
 * freebsd-double client: a TEST DOUBLE command, not FreeBSD.
 *
 * Every command name of the double on a test host is a two-line sh wrapper that
 * execs this program (tests/double/install.py):
 *
 *     client SOCKET PYTHON PROGRAM COMMAND [ARGS...]
 *
 * It hands COMMAND, ARGS and its environment, with its own stdin, stdout and
 * stderr (SCM_RIGHTS), to the test host's double server (tests/double/server.py),
 * which already has the double imported, and exits as the command did. The server
 * takes who is calling, their directory, umask and limits from the kernel (the
 * socket's peer credentials, /proc), never from this program.
 *
 * When there is no server (a test without a test host, a jail's own root), or the
 * server answers "L" (a command that must run in the caller's own session: lockf,
 * jexec, service, chroot ...), it execs PYTHON PROGRAM COMMAND ARGS: the double
 * run directly, exactly as before the server existed.
 *
 * Reply: one byte and a 32-bit big-endian number: 'X' exit code, 'S' signal,
 * 'L' run it here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

static void run_here(char **fallback)
{
    execv(fallback[0], fallback);
    fprintf(stderr, "freebsd-double client: %s: %s\n", fallback[0], strerror(errno));
    exit(70);
}

static int all_out(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int all_in(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: client SOCKET PYTHON PROGRAM COMMAND [ARGS...]\n");
        return 64;
    }
    char **fallback = argv + 2;
    for (int i = 0; i < 3; i++)
        if (fcntl(i, F_GETFD) == -1)
            run_here(fallback); /* a closed stdio cannot be passed: the server would differ */

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(argv[1]) >= sizeof addr.sun_path)
        run_here(fallback);
    strcpy(addr.sun_path, argv[1]);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0)
        run_here(fallback);

    /* payload: the word count, the words (COMMAND ARGS), then the environment; each NUL-ended */
    size_t len = 0;
    char count[16];
    int words = argc - 4;
    snprintf(count, sizeof count, "%d", words);
    len += strlen(count) + 1;
    for (int i = 4; i < argc; i++)
        len += strlen(argv[i]) + 1;
    for (char **e = environ; *e; e++)
        len += strlen(*e) + 1;
    char *payload = malloc(len + 4);
    if (payload == NULL)
        run_here(fallback);
    uint32_t be = htonl((uint32_t)len);
    memcpy(payload, &be, 4);
    char *p = payload + 4;
    p = stpcpy(p, count) + 1;
    for (int i = 4; i < argc; i++)
        p = stpcpy(p, argv[i]) + 1;
    for (char **e = environ; *e; e++)
        p = stpcpy(p, *e) + 1;

    /* the first byte carries the three descriptors, the rest follows plainly */
    struct iovec iov = {.iov_base = payload, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(3 * sizeof(int));
    int fds[3] = {0, 1, 2};
    memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
    ssize_t sent;
    do
        sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent != 1 || all_out(sock, payload + 1, len + 3) != 0) {
        close(sock); /* the server went away before reading: nothing ran */
        run_here(fallback);
    }
    free(payload);

    char reply[5];
    if (all_in(sock, reply, sizeof reply) != 0) {
        fprintf(stderr, "freebsd-double client: the server did not answer\n");
        return 70;
    }
    uint32_t number;
    memcpy(&number, reply + 1, 4);
    int value = (int)ntohl(number);
    switch (reply[0]) {
    case 'X':
        return value & 0xff;
    case 'S':
        signal(value, SIG_DFL);
        raise(value);
        return 128 + value;
    case 'L':
        close(sock);
        run_here(fallback);
    }
    fprintf(stderr, "freebsd-double client: unknown reply %d\n", reply[0]);
    return 70;
}
