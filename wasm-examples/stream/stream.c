//go:build ignore

// (The line above keeps the go tool from treating this C file as cgo source
// of the Go guest in the same folder; clang reads it as a comment.)

/*
 * stream.c - the stream example guest in C (see main.go for the Go one):
 * reads the main channel as a byte stream in reads of at most 5 bytes
 * (wasmnet_stream_read) and writes each read back uppercased
 * (wasmnet_stream_write); at the end of its input sends the byte count.
 */
#include "wasmnet.h"

#include <ctype.h>
#include <stdio.h>

static int fail(wasmnet_chan ch, const char *what, int rc, const char *text)
{
	char msg[300];
	snprintf(msg, sizeof msg, "stream: %s: %s%s%s", what, wasmnet_strerror(rc), text ? ": " : "", text ? text : "");
	wasmnet_close_error(ch, msg);
	return 1;
}

int main(void)
{
	wasmnet_chan ch = wasmnet_main();
	wasmnet_stream s;
	wasmnet_stream_init(&s, ch);
	uint8_t buf[5];
	uint64_t total = 0;
	for (;;) {
		size_t n = 0;
		int rc = wasmnet_stream_read(&s, buf, sizeof buf, &n);
		if (rc == WASMNET_ECLOSED)
			break;
		if (rc)
			return fail(ch, "read", rc, rc == WASMNET_EREMOTE ? (const char *)s.buf.data : NULL);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)toupper(buf[i]);
		total += n;
		if ((rc = wasmnet_stream_write(ch, buf, n)))
			return fail(ch, "write", rc, NULL);
	}
	wasmnet_stream_free(&s);
	wasmnet_writer w = {0};
	wasmnet_write_uint(&w, total);
	int rc = wasmnet_send_writer(ch, &w);
	wasmnet_writer_free(&w);
	return rc ? fail(ch, "send", rc, NULL) : 0;
}
