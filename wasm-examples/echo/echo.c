//go:build ignore

// (The line above keeps the go tool from treating this C file as cgo source
// of the Go guest in the same folder; clang reads it as a comment.)

/*
 * echo.c - the echo example guest in C (see main.go for the Go one): sends
 * back every item it receives on its main channel until the channel closes,
 * then returns. Items are passed through as their msgpack bytes.
 */
#include "wasmnet.h"

#include <stdio.h>

int main(void)
{
	wasmnet_chan ch = wasmnet_main();
	wasmnet_buf b = {0};
	for (;;) {
		int rc = wasmnet_receive(ch, &b, WASMNET_FOREVER);
		if (rc == WASMNET_ECLOSED)
			return 0;
		if (rc == 0)
			rc = wasmnet_send(ch, b.data, b.len);
		if (rc) {
			char msg[300];
			snprintf(msg, sizeof msg, "echo: %s%s%s", wasmnet_strerror(rc),
			         rc == WASMNET_EREMOTE ? ": " : "", rc == WASMNET_EREMOTE ? (char *)b.data : "");
			fprintf(stderr, "%s\n", msg);
			wasmnet_close_error(ch, msg);
			return 1;
		}
	}
}
