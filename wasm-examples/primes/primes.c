//go:build ignore

// (The line above keeps the go tool from treating this C file as cgo source
// of the Go guest in the same folder; clang reads it as a comment.)

/*
 * primes.c - the primes example guest in C (see main.go for the Go one). For
 * every item [a, b] (two integers) it receives, it sends the number of primes
 * p with a <= p < b, until the channel closes. Same algorithm as
 * internal/primes: trial division by 2, then by odd numbers up to the root.
 */
#include "wasmnet.h"

#include <stdio.h>

static int is_prime(int64_t x)
{
	if (x < 2)
		return 0;
	if (x % 2 == 0)
		return x == 2;
	for (int64_t d = 3; d <= x / d; d += 2)
		if (x % d == 0)
			return 0;
	return 1;
}

static int64_t count(int64_t a, int64_t b)
{
	int64_t n = 0;
	for (int64_t x = a > 2 ? a : 2; x < b; x++)
		n += is_prime(x);
	return n;
}

static int fail(wasmnet_chan ch, const char *msg)
{
	wasmnet_close_error(ch, msg);
	return 0;
}

int main(void)
{
	wasmnet_chan ch = wasmnet_main();
	wasmnet_buf b = {0};
	wasmnet_writer w = {0};
	char msg[300];
	for (;;) {
		int rc = wasmnet_receive(ch, &b, WASMNET_FOREVER);
		if (rc == WASMNET_ECLOSED)
			return 0;
		if (rc == WASMNET_EREMOTE)
			return fail(ch, (const char *)b.data);
		if (rc) {
			snprintf(msg, sizeof msg, "primes: receive: %s", wasmnet_strerror(rc));
			return fail(ch, msg);
		}
		wasmnet_reader r;
		wasmnet_reader_init(&r, b.data, b.len);
		uint32_t n = 0;
		int64_t ab[2] = {0, 0};
		wasmnet_item it;
		if (wasmnet_peek(&r, &it) == 0 && it.type == WASMNET_NIL)
			n = 0; /* nil decodes as an empty list, as in Go */
		else if ((rc = wasmnet_read_array(&r, &n)))
			return fail(ch, "primes: want an array [a, b] of integers");
		for (uint32_t i = 0; i < n; i++) {
			int64_t v;
			if (wasmnet_read_int(&r, &v))
				return fail(ch, "primes: want an array [a, b] of integers");
			if (i < 2)
				ab[i] = v;
		}
		if (n != 2) {
			snprintf(msg, sizeof msg, "primes: got %u integers, want [a, b]", (unsigned)n);
			return fail(ch, msg);
		}
		wasmnet_writer_reset(&w);
		wasmnet_write_int(&w, count(ab[0], ab[1]));
		if ((rc = wasmnet_send_writer(ch, &w))) {
			snprintf(msg, sizeof msg, "primes: send: %s", wasmnet_strerror(rc));
			fprintf(stderr, "%s\n", msg);
			wasmnet_close_error(ch, msg);
			return 1;
		}
	}
}
