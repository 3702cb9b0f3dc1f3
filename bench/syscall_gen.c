/*
 * syscall_gen: issue write(fd, buf, 1) to /dev/null at a steady rate, for the
 * kindling probe benchmark (bench/run.py compiles and drives it).
 *
 * Usage: syscall_gen RATE SECONDS
 *
 * It opens /dev/null, then blocks reading one byte from stdin so the bench
 * can subscribe to this pid before anything is measured (EOF instead of a
 * byte means "abort": it exits 3 without writing). Then, for SECONDS, it
 * issues at each 1 ms tick the writes that are due so far (RATE per second),
 * and sleeps until the next tick (clock_nanosleep: the probe only traces
 * what it is asked to, so the sleep costs nothing traced, and the CPU it
 * does not use is left to the service and its subscriber). When it falls
 * behind it keeps writing back to back until the window ends, so
 * "achieved < RATE" means this process (with tracing on) could not go faster.
 * A RATE far above what one core can do (1e9) writes flat out.
 *
 * Afterwards it prints one line "calls=N seconds=S rate=R" on stdout. It
 * prints with writev(), not write(): the probe traces write(), and the
 * result line must not count as a generated event.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS 1000000LL /* 1 ms */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Report an error on stderr, also without write(). */
static void say(int fd, const char *text)
{
	struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
	(void)!writev(fd, &iov, 1);
}

int main(int argc, char **argv)
{
	char line[160];
	if (argc != 3) {
		say(2, "usage: syscall_gen RATE SECONDS\n");
		return 2;
	}
	double rate = strtod(argv[1], NULL);
	double seconds = strtod(argv[2], NULL);
	if (!(rate > 0) || !(seconds > 0)) {
		say(2, "syscall_gen: RATE and SECONDS must be positive numbers\n");
		return 2;
	}
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(line, sizeof(line), "syscall_gen: open /dev/null: %s\n", strerror(errno));
		say(2, line);
		return 1;
	}

	char go;
	ssize_t got;
	do
		got = read(0, &go, 1);
	while (got < 0 && errno == EINTR);
	if (got != 1)
		return 3; /* the bench went away or aborted the step */

	const char buf[1] = {'x'};
	const int64_t window_ns = (int64_t)llround(seconds * 1e9);
	const int64_t start = now_ns();
	/* Past this, a generator that fell behind stops: it had its window. */
	const int64_t late = window_ns + TICK_NS;
	uint64_t calls = 0;
	for (int64_t tick = 1;; tick++) {
		int64_t offset = tick * TICK_NS;
		if (offset > window_ns)
			offset = window_ns;
		int64_t t = now_ns() - start;
		if (t < offset) {
			sleep_until(start + offset);
			t = now_ns() - start;
		}
		if (t >= late)
			break;
		/* Calls due by this tick since the start. */
		uint64_t due = (uint64_t)((double)offset * rate / 1e9);
		while (calls < due) {
			if (write(fd, buf, 1) != 1) {
				snprintf(line, sizeof(line), "syscall_gen: write: %s\n", strerror(errno));
				say(2, line);
				return 1;
			}
			calls++;
			if ((calls & 1023) == 0 && now_ns() - start >= late)
				goto done;
		}
		if (offset == window_ns)
			break;
	}
done:;
	double took = (double)(now_ns() - start) / 1e9;
	snprintf(line, sizeof(line), "calls=%llu seconds=%.6f rate=%.1f\n", (unsigned long long)calls,
		 took, (double)calls / took);
	say(1, line);
	return 0;
}
