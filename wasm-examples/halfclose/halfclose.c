//go:build ignore

// (The line above keeps the go tool from treating this C file as cgo source
// of the Go guest in the same folder; clang reads it as a comment.)

/*
 * halfclose.c - the halfclose example guest in C (see main.go for the
 * protocol): sends n items, closes its sending side with
 * wasmnet_close_send, then forwards what the client still sends to a
 * channel it opened.
 */
#include "wasmnet.h"

#include <stdio.h>
#include <stdlib.h>

static void fail(const char *what, int rc)
{
	/* The agent closes every channel with the exit status and this text. */
	fprintf(stderr, "halfclose: %s: %s\n", what, wasmnet_strerror(rc));
	exit(1);
}

static int send_value(wasmnet_chan ch, wasmnet_writer *w)
{
	int rc = wasmnet_send_writer(ch, w);
	wasmnet_writer_reset(w);
	return rc;
}

int main(void)
{
	wasmnet_chan ch = wasmnet_main(), back;
	wasmnet_buf b = {0};
	wasmnet_writer w = {0};
	wasmnet_reader r;
	int64_t n;
	int rc;

	if ((rc = wasmnet_receive(ch, &b, WASMNET_FOREVER)) != WASMNET_OK)
		fail("receive n", rc);
	wasmnet_reader_init(&r, b.data, b.len);
	if ((rc = wasmnet_read_int(&r, &n)) != WASMNET_OK)
		fail("n is not an integer", rc);
	if ((rc = wasmnet_new(&back)) != WASMNET_OK)
		fail("open a channel", rc);
	wasmnet_write_chan(&w, back);
	if ((rc = send_value(ch, &w)) != WASMNET_OK)
		fail("send the channel", rc);
	for (int64_t i = 0; i < n; i++) {
		wasmnet_write_int(&w, i);
		if ((rc = send_value(ch, &w)) != WASMNET_OK)
			fail("send", rc);
	}
	if ((rc = wasmnet_close_send(ch)) != WASMNET_OK)
		fail("close_send", rc);
	wasmnet_write_cstr(&w, "after close_send");
	if ((rc = send_value(ch, &w)) != WASMNET_ECLOSED)
		fail("send after close_send, want closed, got", rc);
	for (;;) {
		rc = wasmnet_receive(ch, &b, WASMNET_FOREVER);
		if (rc == WASMNET_ECLOSED)
			break;
		if (rc != WASMNET_OK)
			fail("receive", rc);
		if ((rc = wasmnet_send(back, b.data, b.len)) != WASMNET_OK)
			fail("forward", rc);
	}
	wasmnet_close(back);
	wasmnet_buf_free(&b);
	wasmnet_writer_free(&w);
	return 0;
}
