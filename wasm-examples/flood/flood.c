//go:build ignore

// (The line above keeps the go tool from treating this C file as cgo source
// of the Go guest in the same folder; clang reads it as a comment.)

/*
 * flood.c - the flood benchmark guest in C (see main.go for the Go one, and
 * for the protocol). Small integers are sent as their one-byte msgpack
 * form; the sink counts items without decoding more than their header, so
 * the figures measure the transport, not the guest.
 */
#include "wasmnet.h"

#include <stdio.h>
#include <string.h>

static int fail(wasmnet_chan ch, const char *what, int rc)
{
	char msg[200];
	snprintf(msg, sizeof msg, "flood: %s: %s", what, wasmnet_strerror(rc));
	wasmnet_close_error(ch, msg);
	return 1;
}

int main(void)
{
	wasmnet_chan ch = wasmnet_main();
	wasmnet_buf b = {0};
	wasmnet_writer w = {0};
	for (;;) {
		int rc = wasmnet_receive(ch, &b, WASMNET_FOREVER);
		if (rc == WASMNET_ECLOSED || rc == WASMNET_EREMOTE)
			return 0;
		if (rc)
			return fail(ch, "receive", rc);
		wasmnet_reader r;
		wasmnet_reader_init(&r, b.data, b.len);
		int64_t n;
		const char *s;
		size_t slen;
		if (wasmnet_read_int(&r, &n) == WASMNET_OK) {
			for (int64_t i = 0; i < n; i++) {
				uint8_t item = (uint8_t)(i & 127); /* a positive fixint */
				if ((rc = wasmnet_send(ch, &item, 1)))
					return fail(ch, "send", rc);
			}
			continue;
		}
		if (wasmnet_read_str(&r, &s, &slen) != WASMNET_OK || slen != 4 || memcmp(s, "sink", 4) != 0) {
			wasmnet_close_error(ch, "flood: want an integer or \"sink\"");
			return 1;
		}
		int64_t items = 0, bytes = 0;
		for (;;) {
			rc = wasmnet_receive(ch, &b, WASMNET_FOREVER);
			if (rc == WASMNET_ECLOSED)
				break;
			if (rc)
				return fail(ch, "receive", rc);
			wasmnet_reader_init(&r, b.data, b.len);
			wasmnet_item it;
			if (wasmnet_read(&r, &it) != WASMNET_OK)
				return fail(ch, "decode", WASMNET_EDECODE);
			if (it.type == WASMNET_NIL)
				break;
			items++;
			if (it.type == WASMNET_STR || it.type == WASMNET_BIN)
				bytes += it.len;
		}
		wasmnet_writer_reset(&w);
		wasmnet_write_array(&w, 2);
		wasmnet_write_int(&w, items);
		wasmnet_write_int(&w, bytes);
		if ((rc = wasmnet_send_writer(ch, &w)))
			return fail(ch, "send", rc);
	}
}
