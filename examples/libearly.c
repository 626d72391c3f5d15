/* libearly.so: a library whose constructor makes socket calls before main()
 * (examples/odd_callers.c links with it; tests/lab/90-odd-callers.sh).
 *
 * The constructor connects to $ODD_PEER:$ODD_PORT (an echo server), sends a
 * line and reads the echo back; the verdict is left in early_status and
 * early_detail for main() to report. It may run before the preloaded shim's
 * own constructor: the shim resolves and starts lazily (design brief §2). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int early_status = -1; /* 0: the echo matched */
char early_detail[160] = "constructor did not run";

static int exchange(int fd, const char *line, char *why, size_t whylen)
{
	size_t len = strlen(line), got = 0;
	char buf[256];

	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) {
		snprintf(why, whylen, "send: %s", strerror(errno));
		return -1;
	}
	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		if (n <= 0) {
			snprintf(why, whylen, "recv: %s", n == 0 ? "EOF" : strerror(errno));
			return -1;
		}
		got += (size_t)n;
	}
	if (memcmp(buf, line, len) != 0) {
		snprintf(why, whylen, "echo differs");
		return -1;
	}
	return 0;
}

__attribute__((constructor)) static void early_connect(void)
{
	const char *addr = getenv("ODD_PEER"), *port = getenv("ODD_PORT");
	struct sockaddr_in sin;
	int fd;

	if (!addr || !port) {
		snprintf(early_detail, sizeof(early_detail), "ODD_PEER/ODD_PORT not set");
		return;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(port));
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		snprintf(early_detail, sizeof(early_detail), "bad ODD_PEER '%s'", addr);
		return;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		snprintf(early_detail, sizeof(early_detail), "socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		snprintf(early_detail, sizeof(early_detail), "connect: %s", strerror(errno));
		close(fd);
		return;
	}
	if (exchange(fd, "hello from a constructor\n", early_detail, sizeof(early_detail)) == 0) {
		early_status = 0;
		snprintf(early_detail, sizeof(early_detail), "echoed");
	}
	close(fd);
}
