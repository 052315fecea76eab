//go:build ignore

// (The line above keeps the go tool from treating this C file as cgo source
// of the Go guest in the same folder; clang reads it as a comment.)

/*
 * conform.c - the conformance guest of the C SDK. It runs the command
 * protocol of README.md on its main channel; tests drive it to check the
 * SDK's codec and channel calls against a real agent.
 */
#include "wasmnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wasmnet_chan main_ch;
static wasmnet_buf buf;
static wasmnet_writer w;

__attribute__((noreturn)) static void die(const char *what, int rc)
{
	char msg[300];
	snprintf(msg, sizeof msg, "conform: %s: %s", what, wasmnet_strerror(rc));
	fprintf(stderr, "%s\n", msg);
	wasmnet_close_error(main_ch, msg);
	exit(1);
}

static void send_w(wasmnet_chan ch)
{
	int rc = wasmnet_send_writer(ch, &w);
	if (rc)
		die("send", rc);
}

static void send_str(wasmnet_chan ch, const char *s)
{
	wasmnet_writer_reset(&w);
	wasmnet_write_cstr(&w, s);
	send_w(ch);
}

static void send_int(wasmnet_chan ch, int64_t v)
{
	wasmnet_writer_reset(&w);
	wasmnet_write_int(&w, v);
	send_w(ch);
}

/* send_copy decodes one value from r and sends it re-encoded by the codec. */
static void send_copy(wasmnet_chan ch, wasmnet_reader *r)
{
	wasmnet_writer_reset(&w);
	int rc = wasmnet_copy(r, &w);
	if (rc)
		die("decode", rc);
	send_w(ch);
}

int main(void)
{
	main_ch = wasmnet_main();
	for (;;) {
		int rc = wasmnet_receive(main_ch, &buf, WASMNET_FOREVER);
		if (rc == WASMNET_ECLOSED)
			return 0;
		if (rc)
			die("receive", rc);
		wasmnet_reader r;
		wasmnet_reader_init(&r, buf.data, buf.len);
		uint32_t n;
		const char *op = "";
		size_t oplen = 0;
		if (wasmnet_read_array(&r, &n) || n < 1 || wasmnet_read_str(&r, &op, &oplen))
			die("command", WASMNET_ETYPE);
		char name[32] = {0};
		memcpy(name, op, oplen < sizeof name - 1 ? oplen : sizeof name - 1);

		if (!strcmp(name, "echo") && n == 2) {
			send_copy(main_ch, &r);
		} else if (!strcmp(name, "timeout") && n == 2) {
			int64_t ms;
			if ((rc = wasmnet_read_int(&r, &ms)))
				die("timeout argument", rc);
			rc = wasmnet_receive(main_ch, &buf, ms * WASMNET_MS);
			if (rc == WASMNET_ETIMEOUT) {
				send_str(main_ch, "timeout");
			} else if (rc == 0) {
				wasmnet_reader_init(&r, buf.data, buf.len);
				send_copy(main_ch, &r);
			} else
				die("receive with timeout", rc);
		} else if (!strcmp(name, "bigrecv")) {
			if ((rc = wasmnet_receive(main_ch, &buf, WASMNET_FOREVER)))
				die("bigrecv", rc);
			send_int(main_ch, (int64_t)buf.len);
		} else if (!strcmp(name, "newchan")) {
			wasmnet_chan c;
			if ((rc = wasmnet_new(&c)))
				die("channel_new", rc);
			wasmnet_writer_reset(&w);
			wasmnet_write_chan(&w, c);
			send_w(main_ch);
			while ((rc = wasmnet_receive(c, &buf, WASMNET_FOREVER)) == 0)
				if ((rc = wasmnet_send(c, buf.data, buf.len)))
					break;
			if (rc != WASMNET_ECLOSED)
				die("echo on the new channel", rc);
		} else if (!strcmp(name, "usechan") && n == 2) {
			wasmnet_chan c;
			if ((rc = wasmnet_read_chan(&r, &c)))
				die("usechan argument", rc);
			send_str(c, "hi");
			if ((rc = wasmnet_close(c)))
				die("close", rc);
		} else if (!strcmp(name, "closeerr") && n == 2) {
			const char *msg;
			size_t len;
			if ((rc = wasmnet_read_str(&r, &msg, &len)))
				die("closeerr argument", rc);
			if ((rc = wasmnet_close_error_n(main_ch, msg, len)))
				die("close_error", rc);
			return 0;
		} else if (!strcmp(name, "many") && n == 2) {
			int64_t count;
			if ((rc = wasmnet_read_int(&r, &count)) || count < 0 || count > 100000)
				die("many argument", rc ? rc : WASMNET_ERANGE);
			wasmnet_chan *cs = malloc(sizeof *cs * (size_t)(count ? count : 1));
			if (!cs)
				die("many", WASMNET_ENOMEM);
			for (int64_t i = 0; i < count; i++)
				if ((rc = wasmnet_new(&cs[i])))
					die("channel_new", rc);
			wasmnet_writer_reset(&w);
			wasmnet_write_array(&w, (uint32_t)count);
			for (int64_t i = 0; i < count; i++)
				wasmnet_write_chan(&w, cs[i]);
			send_w(main_ch);
			for (int64_t i = 0; i < count; i++) {
				send_int(cs[i], i);
				if ((rc = wasmnet_close(cs[i])))
					die("close", rc);
			}
			free(cs);
		} else if (!strcmp(name, "trap")) {
			__builtin_trap(); /* wasm unreachable */
		} else if (!strcmp(name, "exit")) {
			return 0;
		} else {
			char msg[100];
			snprintf(msg, sizeof msg, "conform: unknown command %s/%u", name, (unsigned)n);
			wasmnet_close_error(main_ch, msg);
			return 0;
		}
	}
}
